"""Join the shards of a sharded run ({output_dir}/shard-XXXXX-of-YYYYY/) into one dataset with summed statistics."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import yaml
from datasets import load_from_disk

from data_generation.accounting import merge_usage
from data_generation.modes import MODES
from data_generation.output import CONFIG_FILE, STATS_FILE
from data_generation.parsing import Deduper
from data_generation.quality import NearDuplicates, merge_reports
from data_generation.relabel import merged_stats
from data_generation.stats import GenerationStats, ShardStats, build_stats

_SHARD = re.compile(r"shard-(\d{5})-of-(\d{5})$")


def _sum(dicts: list[dict]) -> dict:
    total = Counter()
    for d in dicts:
        total.update(d)
    return dict(sorted(total.items()))


def merge_shards(output_dir: str | Path) -> tuple[list[dict], dict, dict]:
    """(rows, stats, config) of all shards; rows in shard order, exact duplicates across shards removed."""
    output_dir = Path(output_dir)
    shards = sorted(p for p in output_dir.iterdir() if p.is_dir() and _SHARD.search(p.name))
    if not shards:
        raise FileNotFoundError(f"no shard-XXXXX-of-YYYYY folders under {output_dir}")
    expected = int(_SHARD.search(shards[0].name).group(2))
    found = [int(_SHARD.search(p.name).group(1)) for p in shards]
    unfinished = [p.name for p in shards if not (p / "dataset").is_dir()]
    if found != list(range(expected)) or unfinished:
        raise FileNotFoundError(
            f"{output_dir}: expected shards 0..{expected - 1} each with a dataset; found {found}, unfinished {unfinished}"
        )
    config = yaml.safe_load((shards[0] / CONFIG_FILE).read_text())
    config["shard_index"] = None
    stats = [json.loads((p / STATS_FILE).read_text()) for p in shards]
    # A shared brainstorm (stage "brainstorm", run once before the shards) is billed and counted once, here.
    shared = output_dir / "brainstorm" / STATS_FILE
    brainstorm_runs = stats + ([json.loads(shared.read_text())] if shared.is_file() else [])
    dedup, rows, cross_duplicates = Deduper(config.get("dedup_on", "row")), [], 0
    for shard in shards:
        for row in load_from_disk(str(shard / "dataset")).to_list():
            if dedup.is_duplicate(row["query"], row["positive"], row["negative"]):
                cross_duplicates += 1
                continue
            rows.append(row)
    threshold = config.get("near_dup_threshold")  # the quality gate's near-duplicate rule, now across shards
    near = NearDuplicates(threshold, config.get("dedup_on", "row")) if threshold else None
    rows = near.filter(rows) if near else rows
    cross_near = near.count if near else 0
    rejections = _sum([s["rejections"] for s in stats])
    if cross_duplicates:
        rejections["duplicate"] = rejections.get("duplicate", 0) + cross_duplicates
    if cross_near:
        rejections["near_duplicate"] = rejections.get("near_duplicate", 0) + cross_near
    reports = [s["quality"] for s in brainstorm_runs if s.get("quality")]
    mode = MODES[stats[0].get("mode", "synthetic")]
    section = mode.section and [s[mode.section] for s in stats if mode.section in s]
    merged: GenerationStats = build_stats(
        mode=mode.name,
        prompt_version=stats[0]["prompt_version"],
        requested_examples=_sum([s["requested_examples"] for s in stats]),
        num_rows=len(rows),
        brainstorm={
            "calls": sum(s["brainstorm"]["calls"] for s in brainstorm_runs),
            "unique_tasks": _sum([s["brainstorm"]["unique_tasks"] for s in brainstorm_runs]),
            "rejections": _sum([s["brainstorm"]["rejections"] for s in brainstorm_runs]),
        },
        rejections=rejections,
        quality=merge_reports(reports, cross_near) if reports else None,
        unfinished_requests=sum(s["unfinished_requests"] for s in brainstorm_runs),
        http_faults=_sum([s["http_faults"] for s in brainstorm_runs]),
        endpoints=_merge_endpoints([s.get("endpoints") or {} for s in brainstorm_runs]),
        usage=merge_usage([s["usage"] for s in brainstorm_runs]),
        shard=ShardStats(merged=len(shards)),
        relabel=merged_stats(stats),
        section=(mode.section, mode.merge_section(section)) if section else None,
    )
    return rows, merged, config


def _merge_endpoints(runs: list[dict]) -> dict:
    """Per-endpoint stats of the shards: counts summed; latency kept only for an endpoint that one shard used
    (percentiles of several shards cannot be combined from their summaries)."""
    merged: dict = {}
    for run in runs:
        for url, row in run.items():
            if url not in merged:
                merged[url] = dict(row)
                continue
            acc = merged[url]
            for key in ("requests", "succeeded", "circuit_openings"):
                acc[key] += row[key]
            acc["failures"] = _sum([acc["failures"], row["failures"]])
            acc["latency_s"] = {}
    return merged
