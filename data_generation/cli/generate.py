"""Generate E5-style synthetic embedding data with an OpenAI-compatible LLM.

    python scripts/generate.py --config recipes/cpu-quickstart/generate.yaml [--num_examples 12 ...]

Resumes automatically: completed requests are read back from {output_dir}/requests.jsonl and never re-sent.
With num_shards > 1 each shard writes {output_dir}/shard-XXXXX-of-YYYYY/; join them with scripts/merge_shards.py.
Installed as `synthembed-generate`. Exit status: 0 done, 2 bad config (or a schema the server refuses), 3 requests
left unfinished (rerun to finish), 4 disk full (free space and rerun).
"""

from __future__ import annotations

import logging

from data_generation.config import GenerationConfig
from synthembed_common.config import ConfigError, fail, parse_config
from synthembed_common.logs import setup_logging

logger = logging.getLogger("synthembed.generate")


def main(args=None) -> int:
    try:
        return _main(args)
    except OSError as e:  # a full disk under the store or the outputs: one line, nothing half-written (see output.py)
        from data_generation.output import no_space_message

        message = no_space_message(e)
        if message is None:
            raise
        fail(message, code=4)


def _main(args) -> int:
    ###############
    # Parse config (one line + exit 2 on any bad value, before anything is written)
    ###############
    (config,) = parse_config([GenerationConfig], args, description=__doc__)
    setup_logging(config.log_level)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # the openai client's HTTP library logs every request

    if config.dry_run:
        import json

        from data_generation.pipeline import estimate

        try:
            plan = estimate(config)
        except ConfigError as e:  # corpus / translate: their input, read to plan the requests
            fail(str(e))
        summary = {
            "requests": plan["requests"],
            "by_model": plan["ceiling"]["by_model"],
            "total": plan["ceiling"]["total"],
        }
        print(json.dumps(summary, indent=1))
        return 0

    from data_generation.engine import run_dir, shared_brainstorm_dir
    from data_generation.hub import push_to_hub
    from data_generation.output import write_outputs
    from data_generation.pipeline import generate

    directory = run_dir(config)
    shared_tasks = shared_brainstorm_dir(config) / "tasks.json"
    if config.stage == "generate" and not shared_tasks.is_file():
        fail(f"`stage` generate reads {shared_tasks}; run the same config with --stage brainstorm first")
    models = config.models_per_task_type or config.model_mix or config.model
    logger.info("generating %d examples with %s at %s -> %s", config.num_examples, models, config.base_url, directory)

    ###############
    # Brainstorm + generate (resumes from the store)
    ###############
    from data_generation.schemas import SchemaRejected

    try:
        result = generate(config)
    # ConfigError: corpus / translate input is read (and refused) before anything is written. SchemaRejected: the
    # refused requests are not in the store, so a rerun re-sends them.
    except (ConfigError, SchemaRejected) as e:
        fail(str(e))
    if config.stage == "brainstorm":  # tasks.json and the brainstorm's statistics (merge_shards adds its usage)
        from data_generation.output import write_stats

        write_stats(directory, result["stats"])
        return 3 if result["stats"]["unfinished_requests"] else 0

    ###############
    # Save dataset, parquet, statistics, chart and card
    ###############
    stats = write_outputs(directory, result["rows"], result["stats"], config.to_dict())
    usage = stats["usage"]["total"]
    logger.info(
        "usage: %d requests, %d prompt + %d completion tokens, $%.4f",
        usage["requests"],
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["cost_usd"],
    )
    timed_out = list(stats["usage"]["timed_out_possibly_billed"].values())
    if timed_out:  # sent, then no reply in time: the server may have served and billed them
        logger.warning(
            "%d request(s) timed out after being sent and may have been billed: ~%d prompt tokens, ~$%.4f "
            "(prompt only, not in the usage above)",
            sum(u["requests"] for u in timed_out),
            sum(u["prompt_tokens"] for u in timed_out),
            sum(u["cost_usd"] for u in timed_out),
        )

    ###############
    # Push to the Hub
    ###############
    if config.push_to_hub:
        if config.num_shards > 1:
            logger.info("sharded run: push after scripts/merge_shards.py, not per shard")
        else:
            push_to_hub(directory, config.hub_dataset_id, config.hub_private, config.hub_token_env)
    if stats["unfinished_requests"]:
        logger.warning(
            "%d request(s) unfinished; rerun the same command to complete them", stats["unfinished_requests"]
        )
        return 3
    return 0
