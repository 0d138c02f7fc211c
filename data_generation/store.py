"""A durable, append-only JSONL store of completed requests, keyed by a hash of what was asked.

One line per completed request: {key, request, content, finish_reason, usage, mode}. Lines are flushed as they are
written, so a process killed at any moment loses at most the line being written; a torn last line is ignored on load.
The request part holds model, messages and sampling parameters only: no headers, no API key.
"""

from __future__ import annotations

import contextlib
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
    """Only {key: byte offset} is held in memory (~100 bytes per request, so a 500k-request run fits easily);
    records are read back from the file on demand."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.offsets: dict[str, int] = {}
        if self.path.exists():
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered: a write that fails (disk full) leaves no buffered bytes for close() to retry behind our back.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._reader = open(self.path, "rb")

    def _load(self) -> None:
        torn, offset = 0, 0
        with open(self.path, "rb") as f:
            for line in f:
                start, offset = offset, offset + len(line)
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    torn += 1  # the line being written when the process died
                    continue
                self.offsets[record["key"]] = start
        if torn:
            logger.warning("store %s: ignored %d torn line(s) from an interrupted run", self.path, torn)
        if self.offsets:
            logger.info(
                "store %s: %d completed request(s) found, they will not be re-sent", self.path, len(self.offsets)
            )
        # Make sure the next append starts on a fresh line even if the file ends mid-record.
        with open(self.path, "rb+") as f:
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def __contains__(self, key: str) -> bool:
        return key in self.offsets

    def __len__(self) -> int:
        return len(self.offsets)

    def get(self, key: str) -> dict | None:
        offset = self.offsets.get(key)
        if offset is None:
            return None
        self._reader.seek(offset)
        return json.loads(self._reader.readline())

    def append(self, record: dict) -> None:
        """Write one line (into the OS page cache: it survives SIGKILL of this process). A failed write (disk full)
        is cut back off, so the store holds whole lines only, and raised naming the store."""
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        offset = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as e:
            with contextlib.suppress(OSError):  # should this fail too, the torn line is skipped on load
                os.ftruncate(self._fd, offset)
            raise OSError(e.errno, e.strerror, str(self.path)) from e
        self.offsets[record["key"]] = offset

    def close(self) -> None:
        os.close(self._fd)
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
