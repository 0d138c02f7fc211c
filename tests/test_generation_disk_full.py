"""A full disk under a generation run: one line naming the file, exit 4, nothing half-written, and the rerun finishes.

ENOSPC is raised at the real write sites (os.write of the response store, pyarrow's Parquet writer, the datasets
Arrow writer of save_to_disk) after part of the data went to disk, as a filling disk does.
"""

from __future__ import annotations

import errno
import json
import os

import pyarrow.parquet as pq
import pytest
from datasets import load_from_disk
from datasets.arrow_writer import ArrowWriter
from helpers.generation_server import TEST_KEY, TEST_KEY_ENV, ScriptedServer, write_config
from helpers.paths import REPO_ROOT, load_module

from data_generation.output import PARQUET_PATH


def run_main(config, *extra: str) -> int:
    return load_module(REPO_ROOT / "scripts" / "generate.py", "script_generate").main(
        ["--config", str(config), *extra]
    )


def _one_error_line(capsys, exit_info) -> str:
    assert exit_info.value.code == 4
    err = capsys.readouterr().err  # datasets' progress bars aside (its own, on stderr): one line, no traceback
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_disk_full_in_the_store_keeps_whole_lines_and_the_rerun_completes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "run"
    store = out / "requests.jsonl"
    real_write, writes = os.write, []

    def filling_disk(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}") != str(store):
            return real_write(fd, data)
        writes.append(len(data))
        if len(writes) < 10:
            return real_write(fd, data)
        if len(writes) == 10:  # a short write: half of the tenth line fits, then the disk is full
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with ScriptedServer() as server:
        config = write_config(tmp_path / "gen.yaml", server.base_url, out, num_examples=36)
        monkeypatch.setattr(os, "write", filling_disk)
        with pytest.raises(SystemExit) as exit_info:
            run_main(config)
        monkeypatch.setattr(os, "write", real_write)
        assert _one_error_line(capsys, exit_info) == (
            f"error: No space left on device writing {store}; free some space and rerun (completed requests are kept)"
        )
        lines = store.read_bytes().splitlines(keepends=True)
        assert len(lines) == 9 and all(line.endswith(b"\n") and json.loads(line) for line in lines)  # no torn line
        assert not (out / "dataset").exists()
        assert run_main(config) == 0
    assert len(load_from_disk(str(out / "dataset"))) == 36


def _fail_after_writing(monkeypatch, cls, error: OSError) -> None:
    """cls.write_table writes its table, then raises `error` (the file is left without its end)."""
    real = cls.write_table

    def write_table(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise error

    monkeypatch.setattr(cls, "write_table", write_table)


@pytest.mark.parametrize(
    ("writer", "error", "target"),
    [
        (ArrowWriter, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "dataset"),
        # pyarrow's own error carries no errno, only the text
        (
            pq.ParquetWriter,
            OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"),
            PARQUET_PATH,
        ),
    ],
    ids=["save_to_disk", "parquet"],
)
def test_disk_full_writing_the_dataset_leaves_no_half_file(tmp_path, monkeypatch, capsys, writer, error, target):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "run"
    with ScriptedServer() as server:
        config = write_config(tmp_path / "gen.yaml", server.base_url, out, num_examples=12)
        _fail_after_writing(monkeypatch, writer, error)
        with pytest.raises(SystemExit) as exit_info:
            run_main(config)
        monkeypatch.undo()
        monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
        line = _one_error_line(capsys, exit_info)
        assert line.startswith(f"error: No space left on device writing {out / target};"), line
        assert not (out / target).exists()
        leftovers = [p.name for p in [*out.iterdir(), *out.glob("data/*")] if p.name.startswith(".")]
        assert leftovers == []  # no temporary file or folder either
        requests = len(server.records)
        assert run_main(config) == 0  # from the store: nothing re-sent
        assert len(server.records) == requests
    assert pq.read_table(out / PARQUET_PATH).num_rows == len(load_from_disk(str(out / "dataset"))) == 12
