"""Push a model card and evaluation results to the Hub (token from HF_TOKEN, endpoint from HF_ENDPOINT: the token
handling is synthembed_common.hub's, shared with data_generation)."""

from __future__ import annotations

import logging
from pathlib import Path

from synthembed_common.hub import hub_api

logger = logging.getLogger(__name__)


def push_card_and_results(
    repo_id: str,
    card_dir: str | Path,
    results_dir: str | Path | None = None,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Add MTEB evaluation results and model card",
) -> str:
    """One commit: README.md (+ its chart) from `card_dir`, and `results_dir` under `eval_results/`. Returns the URL."""
    from huggingface_hub import CommitOperationAdd

    api = hub_api(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    card_dir = Path(card_dir)
    operations = [CommitOperationAdd("README.md", str(card_dir / "README.md"))]
    for extra in sorted(card_dir.glob("*.png")):
        operations.append(CommitOperationAdd(extra.name, str(extra)))
    if results_dir is not None:
        results_dir = Path(results_dir)
        for path in sorted(p for p in results_dir.rglob("*") if p.is_file()):
            if path.suffix in {".json", ".md"} and path.name != "README.md":
                operations.append(CommitOperationAdd(f"eval_results/{path.relative_to(results_dir)}", str(path)))
    info = api.create_commit(repo_id, operations=operations, commit_message=commit_message, repo_type="model")
    logger.info("Pushed %d file(s) to %s", len(operations), repo_id)
    return str(getattr(info, "commit_url", "") or repo_id)
