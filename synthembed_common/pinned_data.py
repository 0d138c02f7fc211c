"""Training data taken from a public GitHub repository at a pinned commit: read a file (from a local clone or
raw.githubusercontent.com), write the prepared folder at once (its jsonl files and `source.json`, the provenance)."""

from __future__ import annotations

import argparse
import io
import json
import urllib.request
import zipfile
from pathlib import Path

from synthembed_common.files import write_dir_atomic

ARCHIVE_URL = "https://codeload.github.com/{repo}/zip/{commit}"  # GitHub's zip of one commit


def pinned_data_parser(doc: str, repo: str, output_dir: str) -> argparse.ArgumentParser:
    """The arguments every prepare script takes: where to write, a local clone of `repo`, what to decontaminate
    against."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--output_dir", type=Path, default=Path(output_dir))
    parser.add_argument("--source", type=Path, default=None, help=f"A local clone of {repo} (default: download).")
    parser.add_argument(
        "--decontamination_tasks", nargs="+", required=True, help="MTEB task names or local task folders."
    )
    return parser


def read_pinned(repo: str, commit: str, path: str, local_clone: Path | None = None) -> str:
    """The text of `path` at `commit` of `repo` (owner/name): from `local_clone` (a checkout of that commit) when
    given, else downloaded from GitHub."""
    if local_clone is not None:
        return (Path(local_clone) / path).read_text(encoding="utf-8")
    with urllib.request.urlopen(f"https://raw.githubusercontent.com/{repo}/{commit}/{path}", timeout=60) as reply:
        return reply.read().decode("utf-8")


def read_pinned_folder(repo: str, commit: str, folder: str, local_clone: Path | None = None) -> dict[str, str]:
    """The text of every file directly in `folder` at `commit` of `repo`, by file name: from `local_clone` when
    given, else from GitHub's archive of that commit (one download, not one per file)."""
    if local_clone is not None:
        return {p.name: p.read_text(encoding="utf-8") for p in sorted((Path(local_clone) / folder).iterdir())}
    with urllib.request.urlopen(ARCHIVE_URL.format(repo=repo, commit=commit), timeout=300) as reply:
        archive = zipfile.ZipFile(io.BytesIO(reply.read()))
    prefix = f"{repo.split('/')[1]}-{commit}/{folder.strip('/')}/"
    return {
        name[len(prefix) :]: archive.read(name).decode("utf-8")
        for name in sorted(archive.namelist())
        if name.startswith(prefix) and "/" not in name[len(prefix) :] and not name.endswith("/")
    }


def write_data_folder(output_dir: Path, files: dict[str, list[dict]], provenance: dict) -> None:
    """Each `files` entry as jsonl and `provenance` as source.json, in a folder that replaces `output_dir` whole."""

    def write(folder: Path) -> None:
        for name, rows in files.items():
            (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        (folder / "source.json").write_text(json.dumps(provenance, indent=1, ensure_ascii=False) + "\n", "utf-8")

    write_dir_atomic(output_dir, write)
