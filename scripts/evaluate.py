"""MTEB evaluation with the E5-mistral protocol; writes mteb's results, summary.json/.md and the model card.

python scripts/evaluate.py --config recipes/cpu-quickstart/evaluate.yaml [--model_name_or_path PATH]
    [--tasks T ...] [--benchmark "MTEB(eng, v1)"] [--local_tasks DIR ...] [--output_dir OUT] [--push_to_hub]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from synthembed_common.config import fail, parse_config
from synthembed_common.logs import setup_logging


@dataclass
class EvaluationArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "Local SentenceTransformer folder."})
    model_name: str | None = field(default=None, metadata={"help": "Display name (results folder, card title)."})
    tasks: list[str] | None = field(default=None, metadata={"help": "mteb task names, e.g. STSBenchmark NFCorpus."})
    benchmark: str | None = field(default=None, metadata={"help": 'An mteb benchmark, e.g. "MTEB(eng, v1)".'})
    local_tasks: list[str] | None = field(
        default=None, metadata={"help": "Local task folders (task.json + data), or folders of them."}
    )
    output_dir: str | None = field(default=None, metadata={"help": "Where results go; default <model>/eval."})
    batch_size: int = field(default=32, metadata={"help": "Encoding batch size."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1, ...; default: best available."})
    precision: str = field(
        default="auto",
        metadata={"help": "auto (fp16 on GPU), fp16, bf16 (autocast, also on CPUs with AVX512-BF16) or fp32."},
    )
    doc_as_query: bool = field(
        default=False, metadata={"help": "Quora: encode documents as queries (off in the official script, §6.2)."}
    )
    update_model_card: bool = field(
        default=True, metadata={"help": "Render README.md with the results (in the model dir for synthembed models)."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the card and results to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo id; default: the model name."})
    log_level: str = field(default="INFO", metadata={"help": "Logging level."})

    def __post_init__(self):
        if self.precision not in ("auto", "fp16", "bf16", "fp32"):
            raise ValueError(f"`precision` must be auto, fp16, bf16 or fp32, got {self.precision!r}")
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {self.batch_size}")


def main(argv=None) -> dict:
    (args,) = parse_config([EvaluationArguments], argv)
    setup_logging(args.log_level)
    if not args.push_to_hub:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # mteb and datasets must never download
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import logging

    logger = logging.getLogger("synthembed.evaluate")

    # ------------------------------------------------------------------ check inputs before loading anything heavy
    if not args.model_name_or_path:
        fail("`model_name_or_path` is required (a local SentenceTransformer folder)")
    model_dir = Path(args.model_name_or_path)
    if not model_dir.is_dir() or not ((model_dir / "modules.json").is_file() or (model_dir / "config.json").is_file()):
        fail(f"model not found: {args.model_name_or_path} is not a local SentenceTransformer folder")
    if not (args.tasks or args.benchmark or args.local_tasks):
        fail("nothing to evaluate: give --tasks, --benchmark or --local_tasks")
    if args.push_to_hub and not (args.hub_model_id or args.model_name):
        fail("`--push_to_hub` needs `--hub_model_id` (or `--model_name`) naming the Hub repo")
    output_dir = Path(args.output_dir) if args.output_dir else model_dir / "eval"
    model_name = args.model_name or model_dir.resolve().name

    from synthembed.evaluation.local_tasks import LocalTaskError
    from synthembed.evaluation.runner import TaskSelectionError, evaluate_model, resolve_tasks
    from synthembed.model_folder import read_settings

    try:
        resolve_tasks(args.tasks, args.benchmark, args.local_tasks)  # fail fast, before the model loads
    except (TaskSelectionError, LocalTaskError) as e:
        fail(str(e))

    # ------------------------------------------------------------------------------------------------ evaluate
    try:
        summary = evaluate_model(
            model_dir,
            tasks=args.tasks,
            benchmark=args.benchmark,
            local_tasks=args.local_tasks,
            output_dir=output_dir,
            batch_size=args.batch_size,
            device=args.device,
            fp16={"auto": None, "fp16": True}.get(args.precision, False),
            bf16=args.precision == "bf16",
            doc_as_query=args.doc_as_query,
            model_name=model_name,
        )
    except (TaskSelectionError, LocalTaskError) as e:
        fail(str(e))
    for name, score in summary["tasks"].items():
        logger.info("%-40s %6.2f", name, score)
    logger.info("%-40s %6.2f  (%.0fs)", "average", summary["average"], summary["evaluation_time_s"])

    # ------------------------------------------------------------------------------------------------ model card
    card_dir = None
    if args.update_model_card or args.push_to_hub:
        from synthembed.model_card import render_model_card

        trained_here = read_settings(model_dir) is not None
        # A synthembed model gets its own README updated; any other model's card is left alone (card in output_dir).
        card_dir = model_dir if trained_here else output_dir
        render_model_card(
            card_dir,
            results=summary,
            model_name=args.hub_model_id or model_name,
            pooling=None if trained_here else _st_pooling(model_dir),
        )
        logger.info("Model card: %s", card_dir / "README.md")

    # ------------------------------------------------------------------------------------------------ push
    if args.push_to_hub:
        from synthembed.hub import push_card_and_results

        try:
            url = push_card_and_results(args.hub_model_id or model_name, card_dir, output_dir)
        except Exception as e:  # network, auth, endpoint: one line, the results stay on disk
            fail(
                f"push to the Hub failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                f"results are in {output_dir}"
            )
        logger.info("Pushed card and results: %s", url)
    return summary


def _st_pooling(model_dir: Path) -> str:
    import json

    for cfg in sorted(model_dir.glob("*Pooling*/config.json")):
        modes = {k: v for k, v in json.loads(cfg.read_text()).items() if k.startswith("pooling_mode")}
        mode = next((k for k, v in modes.items() if v is True), None) or json.loads(cfg.read_text()).get(
            "pooling_mode"
        )
        return str(mode).replace("pooling_mode_", "").replace("_tokens", "")
    return "unknown"


if __name__ == "__main__":
    main()
