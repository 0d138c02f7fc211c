"""A durable, append-only JSONL store of completed requests, keyed by a hash of what was asked.

One line per completed request: {key, request, content, finish_reason, usage, mode}. Lines are flushed as they are
written, so a process killed at any moment loses at most the line being written; a torn last line is ignored on load.
The request part holds model, messages and sampling parameters only: no headers, no API key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def request_key(messages: list[dict], model: str, params: dict, sample_id: str) -> str:
    """sha256 of (prompt, model, sampling parameters, sample index): the identity of one request."""
    payload = json.dumps(
        {"messages": messages, "model": model, "params": params, "sample": sample_id},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class ResponseStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.records: dict[str, dict] = {}
        if self.path.exists():
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def _load(self) -> None:
        torn = 0
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    torn += 1  # the line being written when the process died
                    continue
                self.records[record["key"]] = record
        if torn:
            logger.warning("store %s: ignored %d torn line(s) from an interrupted run", self.path, torn)
        if self.records:
            logger.info(
                "store %s: %d completed request(s) found, they will not be re-sent", self.path, len(self.records)
            )
        # Make sure the next append starts on a fresh line even if the file ends mid-record.
        with open(self.path, "rb+") as f:
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def append(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        self.records[record["key"]] = record

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
