"""The seam-1 dataset on disk: `datasets` save_to_disk at {dir}/dataset, parquet at {dir}/data/, statistics JSON."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

from datasets import Dataset, Features, Value

# Seam 1 (DESIGN.md): the trainer reads exactly these columns.
COLUMNS = [
    "query",
    "positive",
    "negative",
    "instruction",
    "task_type",
    "language",
    "source_language",
    "target_language",
    "generator_model",
    "placeholders",
    "prompt_version",
]
FEATURES = Features({column: Value("string") for column in COLUMNS})
PARQUET_PATH = "data/train-00000-of-00001.parquet"
STATS_FILE = "generation_stats.json"


def row_statistics(rows: list[dict]) -> dict:
    """Counts the card and the chart show, computed from the rows themselves."""
    return {
        "num_rows": len(rows),
        "by_task_type": dict(Counter(r["task_type"] for r in rows).most_common()),
        "by_language": dict(Counter(r["language"] for r in rows).most_common()),
        "by_generator_model": dict(Counter(r["generator_model"] for r in rows).most_common()),
        "bitext_pairs": dict(
            Counter(
                f"{r['source_language']} -> {r['target_language']}" for r in rows if r["task_type"] == "bitext"
            ).most_common(20)
        ),
        "unique_instructions": len({r["instruction"] for r in rows}),
        "rows_with_negative": sum(r["negative"] is not None for r in rows),
    }


def to_dataset(rows: list[dict]) -> Dataset:
    return Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS}, features=FEATURES)


def save(directory: Path, dataset: Dataset, stats: dict) -> None:
    """Write dataset, parquet and stats; the dataset folder is replaced atomically (a crash leaves the old one)."""
    directory = Path(directory)
    tmp = directory / "dataset.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    dataset.save_to_disk(str(tmp))
    shutil.rmtree(directory / "dataset", ignore_errors=True)
    tmp.rename(directory / "dataset")
    (directory / PARQUET_PATH).parent.mkdir(parents=True, exist_ok=True)
    dataset.to_parquet(str(directory / PARQUET_PATH))
    (directory / STATS_FILE).write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
