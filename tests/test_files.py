"""Atomic writes: the old version or the new one, never half; the new one readable as the umask allows."""

from __future__ import annotations

import os

import pytest

from synthembed_common.files import write_dir_atomic, write_text_atomic


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_written_file_and_folder_follow_the_umask(tmp_path, umask_022):
    text = write_text_atomic(tmp_path / "a.json", "{}")
    folder = write_dir_atomic(tmp_path / "model", lambda tmp: (tmp / "w.bin").write_bytes(b"x"))
    assert oct(text.stat().st_mode & 0o777) == oct(0o644)
    assert oct(folder.stat().st_mode & 0o777) == oct(0o755)


def test_failed_writes_keep_the_old_version_and_leave_no_temporaries(tmp_path):
    write_text_atomic(tmp_path / "a.json", "old")
    write_dir_atomic(tmp_path / "model", lambda tmp: (tmp / "w.bin").write_bytes(b"old"))

    class Boom(Exception):
        pass

    def fail(tmp):
        (tmp / "w.bin").write_bytes(b"half")
        raise Boom

    with pytest.raises(Boom):
        write_dir_atomic(tmp_path / "model", fail)
    assert (tmp_path / "model" / "w.bin").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "model"]
