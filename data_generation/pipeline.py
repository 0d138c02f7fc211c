"""The two-step generation run: brainstorm -> tasks -> one generation request per example -> validated rows.

Every reply is written to the store the moment it arrives; rows are built afterwards from the store in plan order,
so the dataset depends only on the seed and the replies, never on completion order or on interruptions.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections import Counter
from pathlib import Path

import openai
from tqdm.auto import tqdm

from data_generation.accounting import Ledger
from data_generation.batch import execute_batch
from data_generation.client import LLMClient
from data_generation.config import GenerationConfig
from data_generation.parsing import Deduper, Rejected, normalize, parse_brainstorm, parse_example
from data_generation.plan import Request, brainstorm_requests, generation_requests, in_shard, split_counts
from data_generation.quality import QualityGate
from data_generation.schemas import SchemaGuard
from data_generation.store import ResponseStore
from data_generation.templates import FIXED_INSTRUCTIONS, PROMPT_VERSION, TASK_TYPES
from synthembed_common.files import write_text_atomic

logger = logging.getLogger(__name__)
# 4xx answers that retrying cannot fix: stored as completed (with the error) so a resume does not re-send them.
_PERMANENT = (
    openai.BadRequestError,
    openai.NotFoundError,
    openai.UnprocessableEntityError,
    openai.PermissionDeniedError,
)


def run_dir(config: GenerationConfig) -> Path:
    """Where this process writes: output_dir itself, brainstorm/ for the shared brainstorm, or one folder per shard."""
    root = Path(config.output_dir)
    if config.stage == "brainstorm":
        return shared_brainstorm_dir(config)
    if config.num_shards == 1:
        return root
    return root / f"shard-{config.shard_index:05d}-of-{config.num_shards:05d}"


def shared_brainstorm_dir(config: GenerationConfig) -> Path:
    return Path(config.output_dir) / "brainstorm"


def _parse_brainstorm(request: Request, record: dict) -> list[str]:
    return parse_brainstorm(record["content"], record.get("finish_reason"))


def _parse_example(request: Request, record: dict) -> tuple[str, str, str | None]:
    return parse_example(request.task_type, record["content"], record.get("finish_reason"))


def _parse_ranking(request: Request, record: dict) -> list[str]:
    from data_generation.relabel import parse_ranking

    return parse_ranking(record["content"], request.meta["ids"], record.get("finish_reason"))


# {phase: parse(request, record)} for the live accepted/rejected counts; corpus.py and translate.py add theirs.
PARSERS = {"brainstorm": _parse_brainstorm, "generate": _parse_example, "relabel": _parse_ranking}


def _validate(request: Request, record: dict) -> None:
    if record.get("error"):
        raise Rejected("request_error", record["error"])
    PARSERS[request.phase](request, record)


async def execute(
    requests: list[Request], store: ResponseStore, client: LLMClient, desc: str, progress: bool
) -> Counter:
    """Send every request not yet in the store; returns {failure class: count} of requests left undone."""
    pending = [r for r in requests if r.key not in store]
    live = Counter()
    for r in requests:
        if r.key in store:
            try:
                _validate(r, store.get(r.key))
                live["accepted"] += 1
            except Rejected:
                live["rejected"] += 1
    failed = Counter()
    bar = tqdm(total=len(requests), initial=len(requests) - len(pending), desc=desc, disable=not progress, unit="req")
    bar.set_postfix(live, refresh=False)
    queue = iter(pending)
    guard = SchemaGuard()  # a 400 to the schema on the first requests stops the run (stores nothing for them)

    async def worker():
        for request in queue:  # one shared iterator: each request is taken by exactly one worker
            try:
                result = await client.complete(request.model, request.messages, request.params)
                record = request.record("online", **result)
            except _PERMANENT as e:
                guard.check(request, e)
                error = f"http_{e.status_code}"
                record = request.record("online", content=None, finish_reason=None, usage=None, error=error)
            except openai.APIError as e:
                failed[type(e).__name__] += 1
                logger.debug("request %s failed after retries: %s", request.key[:12], e)
                bar.update(1)
                continue
            store.append(record)
            guard.ok(request, record)
            try:
                _validate(request, record)
                live["accepted"] += 1
            except Rejected:
                live["rejected"] += 1
            bar.set_postfix(live, refresh=False)
            bar.update(1)

    await asyncio.gather(*(worker() for _ in range(min(client.capacity, len(pending)))))
    bar.close()
    if failed:
        logger.warning(
            "%s: %d request(s) failed after all retries (%s); rerun to retry them",
            desc,
            sum(failed.values()),
            dict(failed),
        )
    return failed


def parsed_replies(requests: list[Request], store: ResponseStore, rejections: Counter, parse):
    """(request, parse(request, record)) for every stored reply that parses; the rest counted by reason."""
    for request in requests:
        record = store.get(request.key)
        if record is None:
            rejections["request_failed"] += 1
            continue
        try:
            if record.get("error"):
                raise Rejected("request_error")
            yield request, parse(request, record)
        except Rejected as e:
            rejections[e.reason] += 1


def collect_tasks(requests: list[Request], store: ResponseStore) -> tuple[dict[str, list[str]], Counter]:
    """Brainstormed tasks per task type, deduplicated (normalised) in plan order, and brainstorm rejections."""
    tasks: dict[str, list[str]] = {}
    seen: dict[str, set] = {}
    rejections = Counter()
    for request, parsed in parsed_replies(requests, store, rejections, _parse_brainstorm):
        for task in parsed:
            if normalize(task) not in seen.setdefault(request.task_type, set()):
                seen[request.task_type].add(normalize(task))
                tasks.setdefault(request.task_type, []).append(task)
    return tasks, rejections


def build_rows(config: GenerationConfig, requests: list[Request], store: ResponseStore) -> tuple[list[dict], Counter]:
    rows, rejections, dedup = [], Counter(), Deduper(config.dedup_on)
    for request, (query, positive, negative) in parsed_replies(requests, store, rejections, _parse_example):
        if dedup.is_duplicate(query, positive, negative):
            rejections["duplicate"] += 1
            continue
        meta = request.meta
        bitext = request.task_type == "bitext"
        rows.append(
            {
                "query": query,
                "positive": positive,
                "negative": negative,
                "instruction": FIXED_INSTRUCTIONS.get(request.task_type) or meta["task"],
                "task_type": request.task_type,
                "language": request.language,
                "source_language": meta["src_lang"] if bitext else None,
                "target_language": meta["tgt_lang"] if bitext else None,
                "generator_model": request.model,
                "placeholders": json.dumps(
                    {k: v for k, v in meta.items() if k != "task"}, ensure_ascii=False, sort_keys=True
                ),
                "prompt_version": PROMPT_VERSION,
            }
        )
    return rows, rejections


async def send(
    config: GenerationConfig, requests: list[Request], store: ResponseStore, client: LLMClient, directory: Path, phase
) -> Counter:
    """One executor for every phase: online requests, or the Batch API; replies land in the same store."""
    if config.use_batch_api:
        return await execute_batch(requests, store, client.openai, config, directory, phase)
    return await execute(requests, store, client, phase, config.progress)


async def _run(config: GenerationConfig, store: ResponseStore, directory: Path) -> dict:
    gate = QualityGate(config)  # first: a decontamination set that cannot load fails before any request
    client = LLMClient(config)

    async def complete(requests: list[Request], phase: str) -> Counter:
        return await send(config, requests, store, client, directory, phase)

    brainstorm, generate, no_task, failed_b, failed_g, brainstorm_rejections = (
        [],
        [],
        {},
        Counter(),
        Counter(),
        Counter(),
    )
    relabeled = None  # (rows, statistics, ranking requests) of data_generation.relabel
    try:
        if config.stage == "generate":  # the shared brainstorm ran once before the shards (stage "brainstorm")
            tasks = json.loads((shared_brainstorm_dir(config) / "tasks.json").read_text())
        else:
            brainstorm = brainstorm_requests(config)
            failed_b = await complete(brainstorm, "brainstorm")
            tasks, brainstorm_rejections = collect_tasks(brainstorm, store)
            tasks = gate.filter_tasks(tasks, brainstorm_rejections)
            write_text_atomic(directory / "tasks.json", json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
        if config.stage != "brainstorm":
            generate, no_task = generation_requests(config, tasks)
            failed_g = await complete(generate, "generate")
        if config.relabel_settings.enabled and config.stage != "brainstorm":  # LLM-checked positives
            from data_generation.relabel import relabel

            relabeled = await relabel(config, build_rows(config, generate, store)[0], store, complete)
    finally:
        await client.aclose()
    rows, rejections = build_rows(config, generate, store)
    if relabeled is not None:
        rows = relabeled[0]
    rows = gate.filter_rows(rows, rejections)
    if no_task:
        rejections["no_brainstormed_task"] += sum(no_task.values())
    ledger = Ledger(config.prices, config.batch_discount)
    for request in brainstorm + generate + (relabeled[2] if relabeled else []):
        record = store.get(request.key)
        if record is not None:
            ledger.add(
                record, request.task_type, request.language if request.phase == "generate" else None, request.phase
            )
    ledger.add_timed_out(client.timed_out)
    counts = split_counts(config.num_examples, config.task_proportions)
    planned = {t: sum(in_shard(config, i) for i in range(counts[t])) for t in TASK_TYPES}
    if config.stage == "brainstorm":
        planned = dict.fromkeys(TASK_TYPES, 0)  # the shards request the examples
    return {
        "rows": rows,
        "stats": {
            "prompt_version": PROMPT_VERSION,
            "requested_examples": planned,
            "num_rows": len(rows),
            "brainstorm": {
                "calls": len(brainstorm),
                # stage "generate": the shared brainstorm's stats count its tasks, once for all shards
                "unique_tasks": {} if config.stage == "generate" else {t: len(v) for t, v in sorted(tasks.items())},
                "rejections": dict(sorted(brainstorm_rejections.items())),
            },
            "rejections": dict(sorted(rejections.items())),
            "quality": gate.report(),
            "unfinished_requests": sum(failed_b.values())
            + sum(failed_g.values())
            + (relabeled[1]["unfinished"] if relabeled else 0),
            "http_faults": dict(sorted(client.faults.items())),
            "endpoints": client.endpoint_stats(),  # per endpoint: attempts, failures by kind, latency
            "usage": ledger.to_dict(),
            "shard": {"index": config.shard_index, "num_shards": config.num_shards, "stage": config.stage},
            **({"relabel": relabeled[1]} if relabeled else {}),
        },
    }


def generate(config: GenerationConfig) -> dict:
    """Run (or resume) one shard; returns {"rows": [...], "stats": {...}}. Writes only the store under run_dir."""
    if config.mode != "synthetic":  # corpus-grounded generation, translation: data_generation/{corpus,translate}.py
        return importlib.import_module(f"data_generation.{config.mode}").generate(config)
    directory = run_dir(config)
    with ResponseStore(directory / "requests.jsonl") as store:
        return asyncio.run(_run(config, store, directory))
