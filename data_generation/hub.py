"""Publishing to the Hugging Face Hub: the parquet data, the dataset card and the chart, in one commit.

Endpoint and token handling (HF_ENDPOINT; the token from the variable named by `hub_token_env`, never written
anywhere) are synthembed_common.hub's, shared with the training side.
"""

from __future__ import annotations

import logging
from pathlib import Path

from data_generation.card import CHART_FILE
from data_generation.output import PARQUET_PATH
from synthembed_common.hub import hub_api

logger = logging.getLogger(__name__)


def push_to_hub(directory: Path, repo_id: str, private: bool = True, token_env: str = "HF_TOKEN") -> str:
    """Create (or reuse) the dataset repo and upload README.md, the chart and data/*.parquet; returns the commit URL."""
    api = hub_api(token_env)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(directory),
        allow_patterns=["README.md", CHART_FILE, str(Path(PARQUET_PATH).parent / "*.parquet")],
        commit_message="Upload synthetic embedding data (synthembed data_generation)",
    )
    logger.info("pushed %s to %s", directory, commit)
    return str(commit)
