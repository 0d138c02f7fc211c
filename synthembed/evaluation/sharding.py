"""Evaluation over several processes: `accelerate launch --num_processes N scripts/evaluate.py ...`.

Whole tasks are dealt to the ranks, and each task runs exactly as in one process (same encoder, same batches, same
mteb evaluator), so every score equals the single-process one. The deal is deterministic (every rank computes it
from the same task list): largest task first, each to the least-loaded rank, ties by selection order — with equal
sizes that is round-robin. The size is the characters a task encodes (mteb's descriptive statistics of its eval
splits, or the loaded data of a local task), so MTEB(eng, v1)'s big retrieval corpora land on different ranks.

Rank 0 alone writes: the other ranks evaluate without a result cache and send their mteb TaskResults to rank 0,
which saves them into the one cache, in the selection order, as the single-process run does, then the summary.
"""

from __future__ import annotations

import os
from datetime import timedelta

# Ranks that finish early wait in the final gather while others still evaluate (hours for a 7B model on MSMARCO):
# the process group's default 30-minute timeout would kill them.
WAIT_LIMIT = timedelta(days=7)


def process_state():
    """accelerate's PartialState when launched with several processes (its device: this rank's GPU), else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available(), timeout=WAIT_LIMIT)  # several CPU processes: gloo


def leave(state) -> None:
    """Wait for rank 0's writing, leave the process group and end the process (synthembed.distributed: a rank that
    exits while gloo threads still run aborts the launch); nothing to do in one process."""
    if state is not None:
        from synthembed.distributed import exit_without_teardown, leave_process_group

        leave_process_group(state)  # PartialState waits as an Accelerator does
        exit_without_teardown(0)  # every rank's work is written: no teardown with gloo threads alive


def _characters(data) -> int:
    """Characters in the string columns of a loaded task dataset (nested dicts of datasets.Dataset)."""
    from datasets import Dataset

    if isinstance(data, Dataset):
        columns = [c for c, f in data.features.items() if getattr(f, "dtype", None) in ("string", "large_string")]
        return sum(len(text or "") for c in columns for text in data[c])
    if isinstance(data, dict):
        return sum(_characters(v) for v in data.values())
    return 0


def _statistics_characters(stats: dict) -> int:
    """Characters in one split's (or subset's) mteb descriptive statistics; their layout differs by task type."""
    if stats.get("number_of_characters"):
        return int(stats["number_of_characters"])
    return sum(
        int(v.get("total_text_length") or 0)
        for k, v in stats.items()
        if k.endswith("text_statistics") and isinstance(v, dict)
    )


def task_size(task) -> int:
    """The characters a task encodes: a local task's loaded data, else mteb's statistics of the evaluated splits
    and subsets (an aggregate such as CQADupstackRetrieval: the sum of its parts)."""
    if getattr(task, "local_spec", None) is not None and getattr(task, "dataset", None):
        return _characters(task.dataset)
    parts = getattr(task.metadata, "tasks", None)
    if parts:
        return sum(task_size(part) for part in parts)
    stats, total = task.metadata.descriptive_stats or {}, 0
    for split in task.eval_splits:
        split_stats = stats.get(split) or {}
        subsets = split_stats.get("hf_subset_descriptive_stats") or {}
        chosen = [subsets[s] for s in (task.hf_subsets or []) if s in subsets]
        total += sum(map(_statistics_characters, chosen)) if chosen else _statistics_characters(split_stats)
    return total


def deal(sizes: list[int], num_processes: int) -> list[int]:
    """The rank of each task: largest first, to the least-loaded rank (ties: lowest rank, then selection order)."""
    loads, owner = [0] * num_processes, [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        owner[i] = min(range(num_processes), key=lambda r: (loads[r], r))
        loads[owner[i]] += max(sizes[i], 1)
    return owner


def gather_results(local: list[tuple[int, object]]) -> list[tuple[int, object]]:
    """Every rank's (selection index, mteb TaskResult) pairs on every rank, in the selection order."""
    from accelerate.utils import gather_object

    return sorted(gather_object(local), key=lambda pair: pair[0])
