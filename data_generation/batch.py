"""OpenAI Batch API mode: request files -> submitted batches -> polled -> collected into the same store.

State lives in {run_dir}/batches-{phase}.json, written atomically after each step, so a crash at any point resumes:
an uploaded file whose batch id was not recorded is looked up among the account's batches before anything is
re-submitted; a recorded batch is polled, never re-created; collected replies go to the store like online ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from pathlib import Path

import openai
from tqdm.auto import tqdm

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
    logger.info("batch %s submitted (%d requests)", entry["batch_id"], len(entry["keys"]))


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
        body = response["body"]
        choice = (body.get("choices") or [{}])[0]
        usage = {k: (body.get("usage") or {}).get(k, 0) for k in ("prompt_tokens", "completion_tokens")}
        content = (choice.get("message") or {}).get("content")
        store.append(request.record("batch", content=content, finish_reason=choice.get("finish_reason"), usage=usage))
        collected += 1
    return collected


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
    covered = {k for entry in state if not entry.get("collected") for k in entry["keys"]}
    pending = [r for r in requests if r.key not in store and r.key not in covered]
    for start in range(0, len(pending), config.batch_max_requests):
        chunk = pending[start : start + config.batch_max_requests]
        input_path = directory / f"batch-{phase}-{len(state):04d}.jsonl"
        input_path.write_text("".join(request_line(r) + "\n" for r in chunk))
        state.append(
            {"input": input_path.name, "keys": [r.key for r in chunk], "input_file_id": None, "batch_id": None}
        )
        _save_state(state_path, state)
    failed = Counter()
    done = sum(r.key in store for r in requests)
    bar = tqdm(total=len(requests), initial=done, desc=f"{phase} (batch)", disable=not config.progress, unit="req")
    for entry in state:
        if entry.get("collected"):
            continue
        await _submit(client, entry, state, state_path, directory / entry["input"])
        while True:
            batch = await client.batches.retrieve(entry["batch_id"])
            if batch.status in TERMINAL:
                break
            bar.set_postfix(batch=batch.status, refresh=True)
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
    bar.close()
    return failed
