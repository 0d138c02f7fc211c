"""The one Hugging Face Hub client both libraries use (dataset pushes in data_generation, model cards in synthembed).

The endpoint comes from HF_ENDPOINT and the token from the environment variable the config names (default HF_TOKEN),
both read at call time, so a mirror or a loopback test Hub can be set after import. The token only ever goes to this
client's requests: it is not logged, not saved (no `huggingface_hub.login`), and not written into any file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from huggingface_hub import HfApi


def is_hub_id(name: str | None, owner_required: bool = True) -> bool:
    """Whether `name` has the form of a Hub repo id by huggingface_hub's own rule (`owner/name`; a bare `name`, as
    legacy models have, where `owner_required` is False) rather than of a local path (./, ~, /, more than one slash).
    Whether something of that name exists on disk is the caller's question."""
    if not name:
        return False
    # Imported here: huggingface_hub brings httpx (a tenth of a second), and config checks stay fast without it.
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return "/" in name or not owner_required


LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".arrow")


def missing_local_path(path: str) -> bool:
    """True for a path meant to be local (not an `owner/name` Hub id, or with a file suffix) that does not exist."""
    local = path.endswith(LOCAL_SUFFIXES) or not is_hub_id(path)
    return local and not os.path.exists(os.path.expanduser(path))


def hub_token(token_env: str = "HF_TOKEN") -> str | None:
    """The token from the environment variable named `token_env`; None lets huggingface_hub use its own default."""
    return os.environ.get(token_env) or None


def hub_api(token_env: str = "HF_TOKEN", token: str | None = None) -> HfApi:
    """An `HfApi` for HF_ENDPOINT (or the public Hub) with an explicit `token` or the one from `token_env`."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token or hub_token(token_env))


def push_folder(
    folder: str | Path, repo_id: str, patterns: list[str], message: str, private: bool, token_env: str = "HF_TOKEN"
) -> str:
    """Create (or reuse) the dataset repo `repo_id` and upload the files of `folder` matching `patterns` in one commit;
    returns the commit URL. The one dataset push of both libraries (generated sets, prepared public sets)."""
    api = hub_api(token_env)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(folder),
        allow_patterns=patterns,
        commit_message=message,
    )
    return str(commit)
