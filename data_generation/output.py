"""What a finished run directory holds (written by generate and by merge_shards), and the seam-1 dataset format.

dataset/                 `datasets` save_to_disk (the trainer's input, seam 1), replaced atomically
data/train-*.parquet     the same rows for the Hub
generation_stats.json    run statistics + row counts
generation_config.yaml   the resolved settings (the name of the API-key variable, never the key)
distribution.png, README.md   chart and dataset card (data_generation.card)
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import yaml
from datasets import Dataset

from data_generation.card import CHART_FILE, render_card, write_chart
from synthembed_common.files import write_dir_atomic, write_text_atomic
from synthembed_common.seam1 import GENERATED_COLUMNS, STATS_FILE, features

logger = logging.getLogger(__name__)

COLUMNS = list(GENERATED_COLUMNS)  # seam 1: the trainer reads exactly these columns
FEATURES = features(GENERATED_COLUMNS, negative_list=False)
PARQUET_PATH = "data/train-00000-of-00001.parquet"
CONFIG_FILE = "generation_config.yaml"


def row_statistics(rows: list[dict]) -> dict:
    """Counts the card and the chart show, computed from the rows themselves."""
    bitext_pairs = Counter(
        f"{r['source_language']} -> {r['target_language']}" for r in rows if r["task_type"] == "bitext"
    )
    return {
        "num_rows": len(rows),
        "by_task_type": dict(Counter(r["task_type"] for r in rows).most_common()),
        "by_language": dict(Counter(r["language"] for r in rows).most_common()),
        "by_generator_model": dict(Counter(r["generator_model"] for r in rows).most_common()),
        "bitext_pairs": dict(bitext_pairs.most_common(20)),
        "unique_instructions": len({r["instruction"] for r in rows}),
        "rows_with_negative": sum(r["negative"] is not None for r in rows),
    }


def to_dataset(rows: list[dict]) -> Dataset:
    return Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS}, features=FEATURES)


def write_stats(directory: Path, stats: dict) -> None:
    write_text_atomic(Path(directory) / STATS_FILE, json.dumps(stats, indent=2, ensure_ascii=False) + "\n")


def write_outputs(directory: Path, rows: list[dict], stats: dict, config: dict) -> dict:
    """dataset/ + data/*.parquet + generation_stats.json + distribution.png + README.md; returns the full stats."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stats = {**stats, "rows": row_statistics(rows)}
    dataset = to_dataset(rows)
    write_dir_atomic(directory / "dataset", lambda tmp: dataset.save_to_disk(str(tmp)))
    (directory / PARQUET_PATH).parent.mkdir(parents=True, exist_ok=True)
    dataset.to_parquet(str(directory / PARQUET_PATH))
    write_stats(directory, stats)
    write_chart(stats, directory / CHART_FILE)
    render_card(stats, config).save(str(directory / "README.md"))
    write_text_atomic(directory / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    logger.info(
        "%d rows -> %s (by task type: %s; rejected: %s)",
        len(rows),
        directory / "dataset",
        stats["rows"]["by_task_type"],
        stats.get("rejections"),
    )
    return stats
