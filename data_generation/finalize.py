"""Turn rows + run statistics into the published artefacts of one run directory (used by generate and merge)."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from data_generation.card import CHART_FILE, render_card, write_chart
from data_generation.output import row_statistics, save, to_dataset

logger = logging.getLogger(__name__)
CONFIG_FILE = "generation_config.yaml"


def write_outputs(directory: Path, rows: list[dict], stats: dict, config: dict) -> dict:
    """dataset/ + data/*.parquet + generation_stats.json + distribution.png + README.md; returns the full stats."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stats = {**stats, "rows": row_statistics(rows)}
    save(directory, to_dataset(rows), stats)
    write_chart(stats, directory / CHART_FILE)
    render_card(stats, config).save(str(directory / "README.md"))
    (directory / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    logger.info(
        "%d rows -> %s (by task type: %s; rejected: %s)",
        len(rows),
        directory / "dataset",
        stats["rows"]["by_task_type"],
        stats.get("rejections"),
    )
    return stats
