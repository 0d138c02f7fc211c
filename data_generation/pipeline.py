"""The run function of every mode: the mode's input is read, its requests sent through the engine and its rows built
(data_generation.modes); then, the same for every mode, relabeling (where the mode allows it), the quality gate, the
ledger, the per-endpoint statistics and the statistics file's shape (data_generation.stats)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from data_generation.accounting import plan_ceiling, usage_of
from data_generation.client import LLMClient
from data_generation.config import GenerationConfig
from data_generation.embedder import reference_model
from data_generation.engine import Mode, Session, run_dir
from data_generation.modes import MODES
from data_generation.quality import QualityGate
from data_generation.relabel import relabel
from data_generation.stats import GenerationStats, ShardStats, build_stats
from data_generation.store import ResponseStore

__all__ = ["estimate", "generate", "run_dir"]


def generate(config: GenerationConfig) -> dict:
    """Run (or resume) one shard of any mode; returns {"rows": [...], "stats": GenerationStats}. Writes only the store
    (and the synthetic brainstorm's tasks.json) under run_dir."""
    mode = MODES[config.mode]
    inputs = mode.prepare(config)  # the mode's input, read and checked before anything is written
    gate = QualityGate(config)  # a decontamination set that cannot load fails before any request
    if config.relabel_enabled:
        reference_model(config.reference_embedder, device=None)  # a bad embedder fails before anything is sent
    directory = run_dir(config)
    with ResponseStore(directory / "requests.jsonl") as store:
        return asyncio.run(_run(config, mode, inputs, gate, store, directory))


async def _run(config: GenerationConfig, mode: Mode, inputs, gate: QualityGate, store, directory: Path) -> dict:
    client = LLMClient(config)
    session = Session(config, store, client, directory, gate)
    relabeled = None  # (rows, statistics, ranking requests) of data_generation.relabel
    try:
        result = await mode.run(session, inputs)
        if config.relabel_enabled and config.stage != "brainstorm":  # LLM-checked positives
            relabeled = await relabel(config, result.rows, store, session.complete)
    finally:
        await client.aclose()
    rows = relabeled[0] if relabeled else result.rows
    rows = gate.filter_rows(rows, result.rejections)
    requests = result.requests + (relabeled[2] if relabeled else [])
    stats: GenerationStats = build_stats(
        mode=mode.name,
        prompt_version=result.prompt_version,
        requested_examples=result.requested_examples,
        num_rows=len(rows),
        brainstorm=result.brainstorm,
        rejections=result.rejections,
        quality=gate.report(),
        unfinished_requests=result.unfinished + (relabeled[1]["unfinished"] if relabeled else 0),
        http_faults=client.faults,
        endpoints=client.endpoint_stats(),  # per endpoint: attempts, failures by kind, latency
        usage=usage_of(config, requests, store, client.timed_out),
        shard=ShardStats(index=config.shard_index, num_shards=config.num_shards, stage=config.stage),
        relabel=relabeled[1] if relabeled else None,
        section=(mode.section, result.section) if mode.section else None,
    )
    return {"rows": rows, "stats": stats}


def estimate(config: GenerationConfig) -> dict:
    """The dry run of any mode: its requests as planned and a cost ceiling (prompt tokens ~ chars / 4, completions at
    max_tokens), with one ranking request per row relabeling would rank; nothing is sent or written."""
    mode = MODES[config.mode]
    requests, to_relabel = mode.plan(config, mode.prepare(config))
    return plan_ceiling(config, requests, to_relabel=to_relabel)
