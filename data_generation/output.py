"""What a finished run directory holds (written by generate and by merge_shards), and the seam-1 dataset format.

dataset/                 `datasets` save_to_disk (the trainer's input, seam 1), replaced atomically
data/train-*.parquet     the same rows for the Hub
generation_stats.json    run statistics + row counts
generation_config.yaml   the resolved settings (the name of the API-key variable, never the key)
distribution.png, README.md   chart and dataset card (data_generation.card)
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
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
    with _naming(directory / "dataset"):
        write_dir_atomic(directory / "dataset", lambda tmp: dataset.save_to_disk(str(tmp)))
    _write_file_atomic(directory / PARQUET_PATH, lambda tmp: dataset.to_parquet(str(tmp)))
    with _naming(directory / STATS_FILE):
        write_stats(directory, stats)
    _write_file_atomic(directory / CHART_FILE, lambda tmp: write_chart(stats, tmp))
    _write_file_atomic(directory / "README.md", lambda tmp: render_card(stats, config).save(str(tmp)))
    with _naming(directory / CONFIG_FILE):
        write_text_atomic(directory / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    logger.info(
        "%d rows -> %s (by task type: %s; rejected: %s)",
        len(rows),
        directory / "dataset",
        stats["rows"]["by_task_type"],
        stats.get("rejections"),
    )
    return stats


def no_space_message(error: OSError) -> str | None:
    """The one line for a disk-full error (errno 28; pyarrow's carry the text only), None for any other error."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(error):
        where = f" writing {error.filename}" if error.filename else ""
        return f"No space left on device{where}; free some space and rerun (completed requests are kept)"
    return None


@contextmanager
def _naming(path: Path):
    """Re-raise an OSError as one naming `path`, the file the user knows (not a temporary file or none at all)."""
    try:
        yield
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e


def _write_file_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` to a temporary file beside `path` (same suffix: savefig reads the format from it), then rename it
    over `path`: a full disk leaves the old file or none, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        with _naming(path):
            write(tmp)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
