"""Prepare the public sets of the paper's full-data mixture: load, map onto seam 1, sample, mine missing negatives.

    accelerate launch --config_file configs/accelerate/ddp.yaml scripts/prepare_public_data.py \
        --config recipes/e5-mistral-7b-instruct/prepare_data.yaml
    python scripts/prepare_public_data.py --config recipes/e5-mistral-7b-instruct/prepare_data.yaml --dry_run true

Writes <output_dir>/dataset (save_to_disk; train.yaml reads it), the same rows as data/train-00000-of-00001.parquet
(what `push_to_hub` uploads), statistics in prepare_stats.json, and one finished folder per source under
<output_dir>/parts (a rerun skips those: resumable). Mining is data-parallel: queries split
across the processes, the corpus embedded once in shards, the picks gathered (the same table as one process).
Installed as `synthembed-prepare-data`. A bad recipe entry or an unreadable set: one `error:` line, exit 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthembed.mining import MiningWindow
from synthembed_common.config import ConfigError, fail, parse_config
from synthembed_common.files import write_dir_atomic, write_text_atomic
from synthembed_common.logs import setup_logging

logger = logging.getLogger(__name__)


@dataclass
class PrepareArguments(MiningWindow):
    """The step's own fields; the rank window (range_min, range_max, positive_fraction, sampling) is MiningWindow's."""

    sources: list[dict[str, Any]] = field(
        default_factory=list, metadata={"help": "The public sets (see synthembed/public_data.py for the keys)."}
    )
    output_dir: str = field(default="outputs/e5-mistral-7b-instruct/public", metadata={"help": "Where to write."})
    mining_model_name_or_path: str = field(
        default="intfloat/multilingual-e5-base", metadata={"help": "Embedder that mines (paper: mE5-base)."}
    )
    query_prompt: str | None = field(default="query: ", metadata={"help": "Query prefix of the mining model."})
    corpus_prompt: str | None = field(default="passage: ", metadata={"help": "Passage prefix of the mining model."})
    num_hard_negatives: int = field(default=1, metadata={"help": "Negatives mined per row (paper: 1)."})
    batch_size: int = field(default=128, metadata={"help": "Encoding batch size per process."})
    max_seq_length: int | None = field(default=512, metadata={"help": "Truncation for the mining model."})
    dataset_num_proc: int | None = field(default=None, metadata={"help": "Processes for loading and mapping."})
    dry_run: bool = field(default=False, metadata={"help": "Load every source, print rows and ratios, write nothing."})
    push_to_hub: bool = field(default=False, metadata={"help": "Push the dataset to `hub_dataset_id`."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Hub dataset repo, e.g. user/e5-public."})
    hub_private: bool = field(default=True, metadata={"help": "Create the Hub repo private."})
    seed: int = field(default=42, metadata={"help": "Seed of sampling and of random picks in the window."})

    def __post_init__(self):
        if not self.sources:
            raise ConfigError("`sources` is empty: the recipe lists the public sets to prepare")
        super().__post_init__()
        if self.num_hard_negatives < 1:
            raise ConfigError(f"`num_hard_negatives` must be >= 1, got {self.num_hard_negatives}")
        if self.push_to_hub and not self.hub_dataset_id:
            raise ConfigError("`hub_dataset_id` is required with `push_to_hub: true`")
        names = [s.get("name") if isinstance(s, dict) else None for s in self.sources]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ConfigError(f"`sources[{i}].name` {name!r} is used twice")


MINING_SETTINGS = ("mining_model_name_or_path", "query_prompt", "corpus_prompt", "range_min", "range_max")
MINING_SETTINGS += ("num_hard_negatives", "positive_fraction", "sampling", "max_seq_length", "seed")


def part_key(args: PrepareArguments, entry: dict) -> str:
    """What a finished part was made with: a rerun with other settings redoes it instead of reusing it."""
    settings = {"entry": entry, **{name: getattr(args, name) for name in MINING_SETTINGS}}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def main(argv=None) -> dict:
    (args,) = parse_config([PrepareArguments], argv, description=__doc__)
    setup_logging()
    from synthembed.data import DataError
    from synthembed.public_data import check_source

    try:
        for i, entry in enumerate(args.sources):
            check_source(f"sources[{i}]", entry)
        return prepare(args)
    except DataError as e:
        fail(str(e))


def prepare(args: PrepareArguments) -> dict:
    if args.dry_run:
        return prepare_on(args, None)
    from synthembed.distributed import exit_without_teardown, leave_process_group

    accelerator = make_accelerator()
    stats = prepare_on(args, accelerator)
    leave_process_group(accelerator)  # the other ranks return early while the main one writes
    if accelerator.num_processes > 1:  # no teardown with gloo threads alive (synthembed.distributed)
        exit_without_teardown(0)
    return stats


def prepare_on(args: PrepareArguments, accelerator) -> dict:
    from datasets import concatenate_datasets, load_from_disk

    from synthembed.public_data import format_summary

    out, summaries = Path(args.output_dir), {}
    # Every source loads before anything is mined or written: a bad id or config fails the run at once. The main
    # process downloads first; the others then read the cache.
    with accelerator.main_process_first() if accelerator else contextlib.nullcontext():
        todo = load_sources(args, out, summaries)
    model = None
    if not args.dry_run and any(summaries[e["name"]]["without_negative"] for e, *_ in todo):
        model = mining_model(args, accelerator)
    for entry, part, key, full, sampled in [] if args.dry_run else todo:
        line = summaries[entry["name"]]
        if line["without_negative"]:
            sampled, line["mined"] = mine_source(sampled, full, model, args, accelerator)
        if accelerator.is_main_process:
            write_dir_atomic(part, lambda tmp, ds=sampled, line=line, key=key: save_part(tmp, ds, line, key))
        accelerator.wait_for_everyone()
        logger.info("source %s: %d of %d rows", entry["name"], line["sampled"], line["rows"])
    lines = [summaries[e["name"]] for e in args.sources]
    stats = {"sources": lines, "rows": sum(x["sampled"] for x in lines)}
    if accelerator is None or accelerator.is_main_process:
        print(format_summary(lines))
    if accelerator is None or not accelerator.is_main_process:  # a dry run, or a rank that does not write
        return stats
    mixture = concatenate_datasets([load_from_disk(str(out / "parts" / e["name"] / "dataset")) for e in args.sources])
    write_dir_atomic(out / "dataset", lambda tmp: mixture.save_to_disk(str(tmp)))
    write_dir_atomic(out / "data", lambda tmp: mixture.to_parquet(str(tmp / "train-00000-of-00001.parquet")))
    stats["settings"] = {name: getattr(args, name) for name in MINING_SETTINGS}
    write_text_atomic(out / "prepare_stats.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    if args.push_to_hub:
        stats["commit"] = push(out, args.hub_dataset_id, args.hub_private)
    return stats


def push(out: Path, repo_id: str, private: bool) -> str:
    """data/*.parquet to a Hub dataset repo (the Hub reads the train split from the file name)."""
    from synthembed_common.hub import push_folder

    message = "Upload the public sets of the E5 full-data mixture (synthembed prepare_public_data)"
    return push_folder(out, repo_id, ["data/*.parquet", "prepare_stats.json"], message, private)


def load_sources(args: PrepareArguments, out: Path, summaries: dict) -> list[tuple]:
    """Load and sample every source not finished by an earlier run; fills `summaries` (name → line) for all."""
    from synthembed.public_data import load_source, sample_source, summary_line

    todo = []
    for i, entry in enumerate(args.sources):
        part, key = out / "parts" / entry["name"], part_key(args, entry)
        if not args.dry_run and (part / "part_key").exists() and (part / "part_key").read_text() == key:
            summaries[entry["name"]] = json.loads((part / "summary.json").read_text())
            logger.info("source %s: done in an earlier run, kept", entry["name"])
            continue
        full = load_source(entry, args.dataset_num_proc)
        sampled = sample_source(full, entry, args.seed + i)
        summaries[entry["name"]] = summary_line(entry, len(full), sampled)
        todo.append((entry, part, key, full, sampled))
    return todo


def save_part(tmp: Path, ds, line: dict, key: str) -> None:
    ds.save_to_disk(str(tmp / "dataset"))
    (tmp / "summary.json").write_text(json.dumps(line, ensure_ascii=False) + "\n")
    (tmp / "part_key").write_text(key)  # written last: its presence marks a complete part


def make_accelerator():
    import torch
    from accelerate import Accelerator

    return Accelerator(cpu=not torch.cuda.is_available())  # several CPU processes: gloo


def mining_model(args: PrepareArguments, accelerator):
    from sentence_transformers import SentenceTransformer

    from synthembed_common.hub import missing_local_path

    if missing_local_path(args.mining_model_name_or_path):
        fail(f"`mining_model_name_or_path`: no such folder {args.mining_model_name_or_path!r}")
    model = SentenceTransformer(args.mining_model_name_or_path, device=str(accelerator.device))
    if args.max_seq_length:
        model.max_seq_length = args.max_seq_length
    logger.info("mining on %d process(es), rank %d", accelerator.num_processes, accelerator.process_index)
    return model


def mine_source(sampled, full, model, args: PrepareArguments, accelerator):
    """Fill the sampled rows without a negative, one language at a time, against that language's pooled corpus."""
    from datasets import concatenate_datasets

    from synthembed.mining import mine_negatives
    from synthembed.public_data import SEAM1_FEATURES, corpus_of

    parts, mined = [], 0
    for language in dict.fromkeys(sampled["language"]):
        rows = sampled.filter(lambda r, language=language: r["language"] == language, desc=f"rows {language}")
        settings = dict(num_negatives=args.num_hard_negatives, query_prompt=args.query_prompt, seed=args.seed)
        settings |= dict(corpus_prompt=args.corpus_prompt, batch_size=args.batch_size, window=args)
        filled, stats = mine_negatives(
            rows, model, corpus=corpus_of(full, language), as_list=True, accelerator=accelerator, **settings
        )
        parts.append(filled.cast(SEAM1_FEATURES))
        mined += stats["mined"]
    return concatenate_datasets(parts), mined


def command() -> int:
    """The console script: exit status 0 (main() returns the statistics, which sys.exit would print as an error)."""
    main()
    return 0
