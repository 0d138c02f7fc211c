"""OpenAI Batch API mode: request files -> submitted batches -> polled -> collected into the same store.

OpenAI accepts one model per batch input file and at most 50,000 requests / 200 MB per file, so the pending requests
are grouped by model (the paper's mix, §4.1, is GPT-4 + GPT-3.5-Turbo) and each group is cut at both limits. Up to
`max_batches_in_flight` batches are submitted and polled at once (each may take up to 24 h; in series ~10 batches of
a 500k run would take days).

State lives in {run_dir}/batches-{phase}.json, one entry per input file, written atomically after each step, so a
crash at any point resumes: an uploaded file whose batch id was not recorded is looked up among the account's batches
before anything is re-submitted; a recorded batch is polled, never re-created; collected replies go to the store like
online ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from pathlib import Path

import openai
from tqdm.auto import tqdm

from data_generation.client import parse_reply
from data_generation.config import GenerationConfig
from data_generation.plan import Request
from data_generation.store import ResponseStore
from synthembed_common.files import write_text_atomic

logger = logging.getLogger(__name__)
TERMINAL = ("completed", "failed", "expired", "cancelled")


def _save_state(path: Path, state: list[dict]) -> None:
    write_text_atomic(path, json.dumps(state, indent=1))


def request_line(request: Request) -> str:
    body = {"model": request.model, "messages": request.messages, **request.params}
    return json.dumps({"custom_id": request.key, "method": "POST", "url": "/v1/chat/completions", "body": body})


def split_files(requests: list[Request], max_requests: int, max_bytes: int) -> list[tuple[str, list[Request], str]]:
    """(model, requests, file text) per input file: one model per file, each file within both limits, plan order."""
    by_model: dict[str, list[Request]] = {}
    for request in requests:
        by_model.setdefault(request.model, []).append(request)
    files = []
    for model in sorted(by_model):
        chunk, lines, size = [], [], 0
        for request in by_model[model]:
            line = request_line(request) + "\n"
            length = len(line.encode())
            if length > max_bytes:
                raise ValueError(f"batch_max_bytes={max_bytes} is smaller than one request line ({length} bytes)")
            if chunk and (len(chunk) == max_requests or size + length > max_bytes):
                files.append((model, chunk, "".join(lines)))
                chunk, lines, size = [], [], 0
            chunk.append(request)
            lines.append(line)
            size += length
        if chunk:
            files.append((model, chunk, "".join(lines)))
    return files


async def _find_batch(client: openai.AsyncOpenAI, input_file_id: str) -> str | None:
    async for batch in client.batches.list(limit=100):
        if batch.input_file_id == input_file_id:
            return batch.id
    return None


async def _submit(client: openai.AsyncOpenAI, entry: dict, state: list[dict], state_path: Path, input_path: Path):
    if entry.get("input_file_id") is None:
        with open(input_path, "rb") as f:
            entry["input_file_id"] = (await client.files.create(file=f, purpose="batch")).id
        _save_state(state_path, state)
    if entry.get("batch_id") is None:
        entry["batch_id"] = await _find_batch(client, entry["input_file_id"])
    if entry.get("batch_id") is None:
        batch = await client.batches.create(
            input_file_id=entry["input_file_id"], endpoint="/v1/chat/completions", completion_window="24h"
        )
        entry["batch_id"] = batch.id
    _save_state(state_path, state)
    logger.info("batch %s submitted (%s, %d requests)", entry["batch_id"], entry.get("model"), len(entry["keys"]))


def _collect_lines(text: str, by_key: dict[str, Request], store: ResponseStore, failed: Counter) -> int:
    collected = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        request = by_key.get(item.get("custom_id"))
        response = item.get("response") or {}
        if request is None or request.key in store:
            continue
        if response.get("status_code") != 200:
            failed[f"batch_http_{response.get('status_code')}"] += 1
            continue
        try:
            reply = parse_reply(response.get("body"))
        except ValueError:  # no choices[0].message: not stored, so a rerun resubmits it
            failed["batch_invalid_reply"] += 1
            continue
        usage = {k: (reply["usage"] or {}).get(k) or 0 for k in ("prompt_tokens", "completion_tokens")}
        store.append(
            request.record("batch", content=reply["content"], finish_reason=reply["finish_reason"], usage=usage)
        )
        collected += 1
    return collected


def _plan_files(requests: list[Request], store: ResponseStore, config, directory: Path, phase: str, state, state_path):
    """Append a state entry (and write its input file) for every pending request no live entry covers."""
    covered = {k for entry in state if not entry.get("collected") for k in entry["keys"]}
    pending = [r for r in requests if r.key not in store and r.key not in covered]
    for model, chunk, text in split_files(pending, config.batch_max_requests, config.batch_max_bytes):
        input_path = directory / f"batch-{phase}-{len(state):04d}.jsonl"
        write_text_atomic(input_path, text)
        entry = {"input": input_path.name, "model": model, "keys": [r.key for r in chunk]}
        state.append({**entry, "input_file_id": None, "batch_id": None})
        _save_state(state_path, state)


async def execute_batch(
    requests: list[Request],
    store: ResponseStore,
    client: openai.AsyncOpenAI,
    config: GenerationConfig,
    directory: Path,
    phase: str,
) -> Counter:
    """Complete every request of `requests` not yet in the store through the Batch API; returns failures."""
    state_path = directory / f"batches-{phase}.json"
    state: list[dict] = json.loads(state_path.read_text()) if state_path.exists() else []
    by_key = {r.key: r for r in requests}
    _plan_files(requests, store, config, directory, phase, state, state_path)
    failed = Counter()
    done = sum(r.key in store for r in requests)
    bar = tqdm(total=len(requests), initial=done, desc=f"{phase} (batch)", disable=not config.progress, unit="req")
    slots = asyncio.Semaphore(config.max_batches_in_flight)

    async def run(entry: dict) -> None:
        async with slots:
            await _submit(client, entry, state, state_path, directory / entry["input"])
            while True:
                batch = await client.batches.retrieve(entry["batch_id"])
                if batch.status in TERMINAL:
                    break
                await asyncio.sleep(config.batch_poll_interval)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                text = (await client.files.content(file_id)).text
                bar.update(_collect_lines(text, by_key, store, failed))
        missing = sum(k not in store for k in entry["keys"])
        if batch.status != "completed" or missing:
            failed[f"batch_{batch.status}"] += missing
            logger.warning(
                "batch %s ended %s with %d request(s) unanswered; a rerun resubmits them",
                batch.id,
                batch.status,
                missing,
            )
        entry["collected"] = True
        _save_state(state_path, state)

    # A TaskGroup cancels the other batches' polling if one raises; their state is saved, so a rerun picks them up.
    async with asyncio.TaskGroup() as group:
        for entry in state:
            if not entry.get("collected"):
                group.create_task(run(entry))
    bar.close()
    return failed
