"""MTEB evaluation with the E5-mistral protocol; writes mteb's results, summary.json/.md and the model card.

python scripts/evaluate.py --config recipes/cpu-quickstart/evaluate.yaml [--model_name_or_path PATH_OR_HUB_ID]
    [--tasks T ...] [--benchmark "MTEB(eng, v1)"] [--local_tasks DIR ...] [--output_dir OUT] [--offline]
    [--query_template e5] [--push_to_hub]
accelerate launch --num_processes 8 scripts/evaluate.py ...   (tasks dealt to the GPUs; synthembed/evaluation/sharding.py)

A synthembed model (its folder has synthembed_config.json) is evaluated with the protocol its folder records; any
other SentenceTransformer model (a folder or a Hub id such as intfloat/e5-mistral-7b-instruct) plainly, or with the
E5 protocol when `--query_template` is given (pooling and normalization come from the model's own folder).
Installed as `synthembed-evaluate`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from synthembed.model_folder import E5_TEMPLATE, missing_files  # standard library only: --help stays fast
from synthembed_common.config import fail, first_line, parse_config
from synthembed_common.hub import is_hub_id
from synthembed_common.logs import setup_logging


@dataclass
class EvaluationArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A SentenceTransformer folder or a Hub model id (downloaded unless offline)."}
    )
    model_name: str | None = field(default=None, metadata={"help": "Display name (results folder, card title)."})
    tasks: list[str] | None = field(
        default=None,
        metadata={"help": "mteb task names, e.g. STSBenchmark NFCorpus; Passkey or Passkey<N>: passkey retrieval."},
    )
    benchmark: str | None = field(default=None, metadata={"help": 'An mteb benchmark, e.g. "MTEB(eng, v1)".'})
    local_tasks: list[str] | None = field(
        default=None, metadata={"help": "Local task folders (task.json + data), or folders of them."}
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Where results go; default <model>/eval (eval_results/<name> for a Hub id)."}
    )
    offline: bool = field(
        default=False, metadata={"help": "Never download models or datasets (HF_HUB_OFFLINE; pushing still works)."}
    )
    query_template: str | None = field(
        default=None,
        metadata={
            "help": "Apply the E5 protocol with this query template, e.g. 'Instruct: {instruction}\\nQuery: {query}' "
            "(a literal \\n is a newline) or `e5` for that one; default: what the model folder records (none: plain)."
        },
    )
    default_instruction: str | None = field(
        default=None, metadata={"help": "With --query_template: the instruction for local tasks the table lacks."}
    )
    max_seq_length: int | None = field(
        default=None, metadata={"help": "Token limit; default 512 under the E5 protocol, else the model's own."}
    )
    batch_size: int = field(default=32, metadata={"help": "Encoding batch size."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1, ...; default: best available."})
    precision: str = field(
        default="auto",
        metadata={"help": "auto (fp16 on GPU), fp16, bf16 (autocast, also on CPUs with AVX512-BF16) or fp32."},
    )
    doc_as_query: bool = field(
        default=False,
        metadata={"help": "Quora: encode documents as queries (off in the official E5 script, as here)."},
    )
    show_progress_bar: bool = field(default=True, metadata={"help": "Progress bars while encoding."})
    update_model_card: bool = field(
        default=True, metadata={"help": "Render README.md with the results (in the model dir for synthembed models)."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the card and results to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo id; default: the model name."})
    log_level: str = field(default="INFO", metadata={"help": "Logging level."})
    # Smaller embeddings (synthembed.evaluation.quantized): every (dim, precision) pair scored after the evaluation.
    truncate_dims: list[int] | None = field(
        default=None, metadata={"help": "Also score the first N coordinates of each embedding, e.g. 1024 256."}
    )
    embedding_precisions: list[str] | None = field(
        default=None,
        metadata={
            "help": "Also score quantized embeddings: float32 int8 uint8 binary ubinary (sentence-transformers)."
        },
    )

    def __post_init__(self):
        if self.precision not in ("auto", "fp16", "bf16", "fp32"):
            raise ValueError(f"`precision` must be auto, fp16, bf16 or fp32, got {self.precision!r}")
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {self.batch_size}")
        if self.max_seq_length is not None and self.max_seq_length < 1:
            raise ValueError(f"`max_seq_length` must be >= 1, got {self.max_seq_length}")
        if self.query_template:
            self.query_template = E5_TEMPLATE if self.query_template == "e5" else self.query_template
            self.query_template = self.query_template.replace("\\n", "\n")
            if not self.query_template.endswith("{query}") or "{instruction}" not in self.query_template:
                raise ValueError(
                    f"`query_template` must contain {{instruction}} and end with {{query}}, got {self.query_template!r}"
                )


def model_location(name: str) -> Path | None:
    """The local folder `name` names, None for a Hub id; exits with one line for a local path that is not a model."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
            fail(f"`model_name_or_path`: {name} is a folder but not a SentenceTransformer/transformers model")
        for file, kind in (("modules.json", list), ("config.json", dict)):
            if (path / file).is_file() and not isinstance(_json_or_none(path / file), kind):
                fail(f"`model_name_or_path`: {path / file} is not a valid {file} (expected a JSON {kind.__name__})")
        if not (path / "modules.json").is_file() and "model_type" not in _json_or_none(path / "config.json"):
            fail(f"`model_name_or_path`: {path / 'config.json'} has no `model_type`: not a transformers model")
        missing = missing_files(path)  # a save cut short: judged once the files it has are known to be readable
        if missing:
            fail(
                f"`model_name_or_path`: {name} is an incomplete model folder (a save cut short?): "
                f"{' and '.join(missing)} missing; save or train it again"
            )
        return path
    if path.exists() or not is_hub_id(name, owner_required=False):
        fail(f"`model_name_or_path`: model not found: {name} is not a local SentenceTransformer folder")
    return None


def main(argv=None) -> dict:
    (args,) = parse_config([EvaluationArguments], argv)
    # Before anything imports huggingface_hub, which reads these once (setup_logging imports transformers).
    if args.offline:
        if not args.push_to_hub:
            os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    setup_logging(args.log_level)
    import logging

    logger = logging.getLogger("synthembed.evaluate")

    # ------------------------------------------------------------------ check inputs before loading anything heavy
    if not args.model_name_or_path:
        fail("`model_name_or_path` is required (a SentenceTransformer folder or a Hub model id)")
    model_dir = model_location(args.model_name_or_path)  # None: a Hub id
    if not (args.tasks or args.benchmark or args.local_tasks):
        fail("nothing to evaluate: give --tasks, --benchmark or --local_tasks")
    if args.push_to_hub and not (args.hub_model_id or args.model_name):
        fail("`--push_to_hub` needs `--hub_model_id` (or `--model_name`) naming the Hub repo")
    model_name = args.model_name or (model_dir.resolve().name if model_dir else args.model_name_or_path.split("/")[-1])
    if args.output_dir:
        output_dir = Path(args.output_dir)
    else:
        output_dir = model_dir / "eval" if model_dir else Path("eval_results") / model_name

    from synthembed.evaluation.local_tasks import LocalTaskError
    from synthembed.evaluation.runner import TaskSelectionError, check_cached, evaluate_model, resolve_tasks
    from synthembed.model_folder import read_settings

    try:
        check_cached(resolve_tasks(args.tasks, args.benchmark, args.local_tasks))  # fail fast, before the model loads
    except (TaskSelectionError, LocalTaskError) as e:
        fail(str(e))
    quantized = bool(args.truncate_dims or args.embedding_precisions)
    if quantized:
        from synthembed.evaluation.quantized import check_options

        try:
            check_options(args.truncate_dims, args.embedding_precisions)
        except ValueError as e:
            fail(str(e))

    # ------------------------------------------------------------------------------------------------ processes
    from synthembed.evaluation.sharding import leave, process_state

    state = process_state()  # None in one process; under `accelerate launch`: this rank's share and device
    if state is not None and args.device is None:
        args.device = str(state.device)

    # ------------------------------------------------------------------------------------------------ load
    from synthembed.evaluation.encoder import E5ProtocolEncoder

    try:
        encoder = E5ProtocolEncoder(
            model_dir or args.model_name_or_path,
            device=args.device,
            batch_size=args.batch_size,
            fp16={"auto": None, "fp16": True}.get(args.precision, False),
            bf16=args.precision == "bf16",
            max_seq_length=args.max_seq_length,
            doc_as_query=args.doc_as_query,
            model_name=model_name,
            query_template=args.query_template,
            default_instruction=args.default_instruction,
        )
    except Exception as e:  # not on the Hub, offline without a cached copy, no access, not a model: one line
        where = "" if model_dir else (" (offline: not in the local cache)" if args.offline else " from the Hub")
        fail(f"`model_name_or_path`: cannot load {args.model_name_or_path}{where}: {first_line(e, typed=True)}")
    if args.default_instruction and not encoder.template:
        fail("`default_instruction` needs a query template (`--query_template`, or a synthembed model folder)")
    if quantized:
        try:
            check_options(args.truncate_dims, args.embedding_precisions, encoder.mteb_model_meta.embed_dim)
        except ValueError as e:
            fail(str(e))

    # ------------------------------------------------------------------------------------------------ evaluate
    try:
        summary = evaluate_model(
            args.model_name_or_path,
            tasks=args.tasks,
            benchmark=args.benchmark,
            local_tasks=args.local_tasks,
            output_dir=output_dir,
            batch_size=args.batch_size,
            encoder=encoder,
            show_progress_bar=args.show_progress_bar,
            state=state,
        )
    except (TaskSelectionError, LocalTaskError) as e:
        fail(str(e))
    if state is not None and not state.is_main_process:  # rank 0 logs, writes the card and pushes
        leave(state)
        return summary
    for name, score in summary["tasks"].items():
        logger.info("%-40s %6.2f", name, score)
    logger.info("%-40s %6.2f  (%.0fs)", "average", summary["average"], summary["evaluation_time_s"])
    if quantized:
        from synthembed.evaluation.quantized import add_to_summary, evaluate_quantized

        tasks = resolve_tasks(args.tasks, args.benchmark, args.local_tasks)
        report = evaluate_quantized(
            encoder, tasks, args.truncate_dims, args.embedding_precisions, output_dir, args.batch_size
        )
        add_to_summary(summary, report, output_dir)
        logger.info("Dimensions × precision: %s", output_dir / "quantized.md")

    # ------------------------------------------------------------------------------------------------ model card
    card_dir = None
    if args.update_model_card or args.push_to_hub:
        from synthembed.model_card import render_model_card

        trained_here = model_dir is not None and read_settings(model_dir) is not None
        # A synthembed model gets its own README updated; any other model's card is left alone (card in output_dir).
        card_dir = model_dir if trained_here else output_dir
        render_model_card(
            card_dir,
            results=summary,
            model_name=args.hub_model_id or model_name,
            pooling=None if trained_here else _pooling(encoder.model),
        )
        logger.info("Model card: %s", card_dir / "README.md")

    # ------------------------------------------------------------------------------------------------ push
    if args.push_to_hub:
        from synthembed.hub import push_card_and_results

        try:
            url = push_card_and_results(args.hub_model_id or model_name, card_dir, output_dir)
        except Exception as e:  # network, auth, endpoint: one line, the results stay on disk
            fail(f"push to the Hub failed ({first_line(e, typed=True)}); results are in {output_dir}")
        logger.info("Pushed card and results: %s", url)
    leave(state)
    return summary


def _json_or_none(path: Path):
    try:
        return json.loads(path.read_text())
    except (ValueError, OSError):
        return None


def _pooling(model) -> str:
    from sentence_transformers.models import Pooling

    return next((str(m.pooling_mode) for m in model if isinstance(m, Pooling)), "unknown")


def command() -> int:
    """The console script: exit status 0 (main() returns the summary, which sys.exit would print as an error)."""
    main()
    return 0
