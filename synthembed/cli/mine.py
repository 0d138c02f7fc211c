"""Fill missing hard negatives of a dataset by mining a rank window with an embedding model (paper: mE5-base top-100).

    python scripts/mine_hard_negatives.py --dataset_path outputs/cpu-quickstart/data/dataset \
        --model_name_or_path intfloat/multilingual-e5-base --query_prompt "query: " --corpus_prompt "passage: " \
        --output_dir outputs/mined [--range_min 0 --range_max 100 --num_negatives 1 --positive_fraction 0.95]

Installed as `synthembed-mine`. A dataset that cannot be read, or lacks the named columns: one `error:` line, exit 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from synthembed.mining import MiningWindow
from synthembed_common.config import ConfigError, fail, parse_config
from synthembed_common.files import write_dir_atomic, write_text_atomic
from synthembed_common.logs import setup_logging


@dataclass
class MiningArguments(MiningWindow):
    """The command's own fields; the rank window (range_min, range_max, positive_fraction, sampling) is MiningWindow's."""

    dataset_path: str = field(metadata={"help": "save_to_disk folder, jsonl/json/parquet/csv file, or Hub id."})
    output_dir: str = field(metadata={"help": "Writes <output_dir>/dataset (save_to_disk), data.parquet, stats."})
    model_name_or_path: str = field(metadata={"help": "SentenceTransformer folder or Hub id that embeds."})
    split: str = field(default="train", metadata={"help": "Split to mine."})
    query_column: str = field(default="query", metadata={"help": "Column with the query text."})
    positive_column: str = field(default="positive", metadata={"help": "Column with the positive text."})
    negative_column: str = field(default="negative", metadata={"help": "Column to fill (created if absent)."})
    query_prompt: str | None = field(default=None, metadata={"help": 'Prefix for queries, e.g. "query: " (mE5).'})
    corpus_prompt: str | None = field(default=None, metadata={"help": 'Prefix for documents, e.g. "passage: ".'})
    num_negatives: int = field(default=1, metadata={"help": "Negatives per row (paper: 1)."})
    only_missing: bool = field(default=True, metadata={"help": "Keep negatives rows already have."})
    batch_size: int = field(default=32, metadata={"help": "Encoding batch size."})
    max_seq_length: int | None = field(default=None, metadata={"help": "Truncation for the mining model."})
    seed: int = field(default=42, metadata={"help": "Seed for random sampling in the window."})

    def __post_init__(self):
        super().__post_init__()
        if self.num_negatives < 1:
            raise ConfigError(f"`num_negatives` must be >= 1, got {self.num_negatives}")


def main(argv=None) -> dict:
    (args,) = parse_config([MiningArguments], argv, description=__doc__)
    setup_logging()
    from synthembed.data import DataError, load_one
    from synthembed_common.hub import missing_local_path

    if missing_local_path(args.dataset_path):
        fail(f"`dataset_path`: no such file or folder {args.dataset_path!r}")
    if missing_local_path(args.model_name_or_path):
        fail(f"`model_name_or_path`: no such folder {args.model_name_or_path!r}")

    ################
    # Load
    ################
    from sentence_transformers import SentenceTransformer

    from synthembed.mining import mine_negatives

    try:
        dataset = load_one({"path": args.dataset_path, "split": args.split})
    except DataError as e:
        fail(str(e))
    if len(dataset) == 0:
        fail(f"{args.dataset_path}: the dataset has no rows")
    for column in (args.query_column, args.positive_column):
        if column not in dataset.column_names:
            fail(f"`{column}` is not a column of {args.dataset_path} (columns: {', '.join(dataset.column_names)})")
    model = SentenceTransformer(args.model_name_or_path, device=None)
    if args.max_seq_length:
        model.max_seq_length = args.max_seq_length

    ################
    # Mine
    ################
    columns = (args.query_column, args.positive_column, args.negative_column)
    settings = {
        name: getattr(args, name)
        for name in ("num_negatives", "only_missing", "query_prompt", "corpus_prompt", "batch_size", "seed")
    }
    mined, stats = mine_negatives(dataset, model, *columns, window=args, **settings)

    ################
    # Save (to a temporary folder first: a killed run leaves no half-written dataset)
    ################
    out = Path(args.output_dir)
    write_dir_atomic(out / "dataset", lambda tmp: mined.save_to_disk(str(tmp)))
    mined.to_parquet(str(out / "data.parquet"))
    stats.update(model=args.model_name_or_path, range=[args.range_min, args.range_max], sampling=args.sampling)
    write_text_atomic(out / "mining_stats.json", json.dumps(stats, indent=2) + "\n")
    print(json.dumps(stats))
    return stats


def command() -> int:
    """The console script: exit status 0 (main() returns the mining statistics, which sys.exit would print as an error)."""
    main()
    return 0
