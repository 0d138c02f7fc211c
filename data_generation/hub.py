"""Publishing to the Hugging Face Hub: the parquet data, the dataset card and the chart, in one commit.

Endpoint and token handling (HF_ENDPOINT; the token from the variable named by `hub_token_env`, never written
anywhere) are synthembed_common.hub's, shared with the training side.
"""

from __future__ import annotations

import logging
from pathlib import Path

from data_generation.card import CHART_FILE
from data_generation.output import PARQUET_PATH
from synthembed_common.hub import push_folder

logger = logging.getLogger(__name__)


def push_to_hub(directory: Path, repo_id: str, private: bool = True, token_env: str = "HF_TOKEN") -> str:
    """Create (or reuse) the dataset repo and upload README.md, the chart and data/*.parquet; returns the commit URL."""
    patterns = ["README.md", CHART_FILE, str(Path(PARQUET_PATH).parent / "*.parquet")]
    message = "Upload synthetic embedding data (synthembed data_generation)"
    commit = push_folder(directory, repo_id, patterns, message, private, token_env)
    logger.info("pushed %s to %s", directory, commit)
    return commit
