"""The generation engine every mode runs on: planned requests are sent (online or through the Batch API), every reply
is written to the store the moment it arrives, and the replies are parsed afterwards from the store in plan order by
the parser the mode passes in, so a dataset depends only on the seed and the replies, never on completion order or on
interruptions.

A mode (data_generation.modes) is a `Mode`: it reads its input (`prepare`), plans and sends its requests through a
`Session` and builds its rows (`run`, returning a `ModeResult`), and plans its requests for the dry run (`plan`). What
applies to every mode (relabeling, the quality gate, the ledger, per-endpoint stats, the stats file) is the run
function's, data_generation.pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from tqdm.auto import tqdm

from data_generation.batch import execute_batch
from data_generation.client import LLMClient
from data_generation.config import GenerationConfig
from data_generation.parsing import Rejected
from data_generation.plan import Request
from data_generation.quality import QualityGate
from data_generation.schemas import SchemaGuard
from data_generation.store import ResponseStore

logger = logging.getLogger(__name__)
# 4xx answers that retrying cannot fix: stored as completed (with the error) so a resume does not re-send them.
PERMANENT_ERRORS = (
    openai.BadRequestError,
    openai.NotFoundError,
    openai.UnprocessableEntityError,
    openai.PermissionDeniedError,
)
# parse(request, stored record) -> the parsed reply, or raises parsing.Rejected
Parser = Callable[[Request, dict], Any]


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


def _validate(request: Request, record: dict, parse: Parser) -> None:
    if record.get("error"):
        raise Rejected("request_error", record["error"])
    parse(request, record)


async def execute(
    requests: list[Request], store: ResponseStore, client: LLMClient, desc: str, progress: bool, parse: Parser
) -> Counter:
    """Send every request not yet in the store; returns {failure class: count} of requests left undone. `parse` gives
    the progress bar its live accepted / rejected counts."""
    pending = [r for r in requests if r.key not in store]
    live = Counter()
    for r in requests:
        if r.key in store:
            try:
                _validate(r, store.get(r.key), parse)
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
            except PERMANENT_ERRORS as e:
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
                _validate(request, record, parse)
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


def parsed_replies(requests: list[Request], store: ResponseStore, rejections: Counter, parse: Parser):
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


@dataclass
class Session:
    """One run's store, client and folder: what a mode sends its requests through."""

    config: GenerationConfig
    store: ResponseStore
    client: LLMClient
    directory: Path
    gate: QualityGate

    async def complete(self, requests: list[Request], phase: str, parse: Parser) -> Counter:
        """Send what the store lacks, online or through the Batch API; returns {failure class: count} left undone."""
        if self.config.use_batch_api:
            return await execute_batch(requests, self.store, self.client.openai, self.config, self.directory, phase)
        return await execute(requests, self.store, self.client, phase, self.config.progress, parse)

    def replies(self, requests: list[Request], rejections: Counter, parse: Parser):
        return parsed_replies(requests, self.store, rejections, parse)


@dataclass
class ModeResult:
    """What a mode's run hands the run function: seam-1 rows before relabeling and the quality gate, and its counts."""

    prompt_version: str
    requested_examples: dict[str, int]
    rows: list[dict]
    rejections: Counter
    requests: list[Request]  # every request sent: the ledger counts their stored replies
    unfinished: int  # requests left undone after all retries
    brainstorm: dict = field(default_factory=lambda: {"calls": 0, "unique_tasks": {}, "rejections": {}})
    section: dict | None = None  # the mode's own statistics, stats[Mode.section]


@dataclass(frozen=True)
class Mode:
    """One way of making rows. `prepare(config)` reads and checks the input before anything is written (raises
    ConfigError); `run(session, inputs)` sends and builds; `plan(config, inputs)` = (every request the run would send,
    those of them whose rows relabeling ranks) for the dry run; `merge_section(sections)` sums the shards' `section`
    statistics for merge_shards."""

    name: str
    prepare: Callable[[GenerationConfig], Any]
    run: Callable[[Session, Any], Awaitable[ModeResult]]
    plan: Callable[[GenerationConfig, Any], tuple[list[Request], list[Request]]]
    section: str | None = None
    merge_section: Callable[[list[dict]], dict] | None = None
