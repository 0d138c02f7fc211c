"""The run statistics (generation_stats.json): one declared shape, `GenerationStats`, built in one place,
`build_stats`, for a run of any mode and for merged shards (data_generation.merge); the dataset card reads it (with
the row counts output.row_statistics adds under `rows`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict


class BrainstormStats(TypedDict):
    calls: int
    unique_tasks: dict[str, int]  # task type -> tasks kept
    rejections: dict[str, int]


class ShardStats(TypedDict, total=False):
    index: int
    num_shards: int
    stage: str
    merged: int  # merge_shards: how many shards were joined


class GenerationStats(TypedDict):
    mode: str  # data_generation.modes.MODES
    prompt_version: str
    requested_examples: dict[str, int]  # task type -> examples requested
    num_rows: int
    brainstorm: BrainstormStats  # mode synthetic's first step (zero calls in the others)
    rejections: dict[str, int]  # reason -> replies or rows dropped (parsing, dedup, the mode's checks, the gate)
    quality: dict | None  # quality.QualityGate.report(): rows removed per gate rule, language check, decontamination
    unfinished_requests: int
    http_faults: dict[str, int]
    endpoints: dict[str, dict]  # per endpoint (client.LLMClient.endpoint_stats): attempts, failures, latency
    usage: dict  # accounting.Ledger.to_dict(): tokens and cost by model, task type, language and phase
    shard: ShardStats
    relabel: NotRequired[dict]  # relabeling's counts (data_generation.relabel), where it ran
    # The mode's own section, under its Mode.section name:
    corpus: NotRequired[dict]
    translation: NotRequired[dict]


def counts(counter: Mapping[str, int]) -> dict[str, int]:
    """A count table as the stats file holds it: sorted by key, without zeros."""
    return {k: v for k, v in sorted(counter.items()) if v}


def build_stats(
    *,
    mode: str,
    prompt_version: str,
    requested_examples: Mapping[str, int],
    num_rows: int,
    brainstorm: BrainstormStats,
    rejections: Mapping[str, int],
    quality: dict | None,
    unfinished_requests: int,
    http_faults: Mapping[str, int],
    endpoints: dict[str, dict],
    usage: dict,
    shard: ShardStats,
    relabel: dict | None = None,
    section: tuple[str, dict] | None = None,
) -> GenerationStats:
    stats = GenerationStats(
        mode=mode,
        prompt_version=prompt_version,
        requested_examples=dict(requested_examples),
        num_rows=num_rows,
        brainstorm=BrainstormStats(
            calls=brainstorm["calls"],
            unique_tasks=dict(sorted(brainstorm["unique_tasks"].items())),
            rejections=counts(brainstorm["rejections"]),
        ),
        rejections=counts(rejections),
        quality=quality,
        unfinished_requests=unfinished_requests,
        http_faults=counts(http_faults),
        endpoints=endpoints,
        usage=usage,
        shard=shard,
    )
    if relabel is not None:
        stats["relabel"] = relabel
    if section is not None:
        stats[section[0]] = section[1]
    return stats
