"""Push a model card and evaluation results to the Hub (token from HF_TOKEN, endpoint from HF_ENDPOINT: the token
handling is synthembed_common.hub's, shared with data_generation).

The scores go up the way mteb publishes them (`ModelResult.push_model_results`): one `.eval_results/<task>.yaml` per
task, in the Hub's eval-results format (https://huggingface.co/docs/hub/eval-results), written by mteb's own
`TaskResult._to_hf_benchmark_result`. Only tasks whose scores compare with MTEB's are in it (the summary's
`comparable`); the raw mteb JSONs and the summary go along under `eval_results/` for the record.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from synthembed_common.hub import hub_api

logger = logging.getLogger(__name__)

HUB_EVAL_RESULTS = ".eval_results"
RAW_RESULTS = "eval_results"
LOCAL_COPY_NOTE = "test data from a local copy of the task's dataset"


def hub_eval_results(results_dir: str | Path, user: str | None = None) -> dict[str, str]:
    """{path in the repo: YAML} for `.eval_results/`, from the mteb TaskResult JSONs under `results_dir`.

    A task the summary marks not comparable (a local task of one's own) is left out, as is any result mteb cannot
    map onto one of its tasks; a local copy of an mteb task says so in its notes."""
    from mteb import TaskResult

    results_dir = Path(results_dir)
    summary_path = results_dir / "summary.json"
    details = json.loads(summary_path.read_text()).get("details", {}) if summary_path.is_file() else {}
    out = {}
    for path in sorted(results_dir.rglob("*.json")):
        if path.name in ("model_meta.json", "summary.json"):
            continue
        try:
            result = TaskResult.from_disk(path)
        except Exception:  # not a task result
            continue
        detail = details.get(result.task_name, {})
        if detail.get("comparable") is False:
            continue
        try:
            entries = result._to_hf_benchmark_result(user)
        except (KeyError, ValueError) as e:  # no mteb task of that name
            logger.info("%s: not an mteb task, not in %s (%s)", result.task_name, HUB_EVAL_RESULTS, e)
            continue
        if detail.get("local"):
            for entry in entries.root:
                entry.notes = f"{entry.notes}; {LOCAL_COPY_NOTE}"
        out[f"{HUB_EVAL_RESULTS}/{result.task_name}.yaml"] = entries.to_yaml()
    return out


def push_card_and_results(
    repo_id: str,
    card_dir: str | Path,
    results_dir: str | Path | None = None,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Add MTEB evaluation results and model card",
) -> str:
    """One commit: README.md (+ its chart) from `card_dir`; from `results_dir`, mteb's `.eval_results/*.yaml` and the
    raw results under `eval_results/`. Returns the commit URL."""
    from huggingface_hub import CommitOperationAdd

    api = hub_api(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    card_dir = Path(card_dir)
    operations = [CommitOperationAdd("README.md", str(card_dir / "README.md"))]
    for extra in sorted(card_dir.glob("*.png")):
        operations.append(CommitOperationAdd(extra.name, str(extra)))
    if results_dir is not None:
        results_dir = Path(results_dir)
        user = repo_id.split("/")[0] if "/" in repo_id else None
        for path_in_repo, text in hub_eval_results(results_dir, user).items():
            operations.append(CommitOperationAdd(path_in_repo, text.encode()))
        for path in sorted(p for p in results_dir.rglob("*") if p.is_file()):
            if path.suffix in {".json", ".md"} and path.name != "README.md":
                operations.append(CommitOperationAdd(f"{RAW_RESULTS}/{path.relative_to(results_dir)}", str(path)))
    info = api.create_commit(repo_id, operations=operations, commit_message=commit_message, repo_type="model")
    logger.info("Pushed %d file(s) to %s", len(operations), repo_id)
    return str(getattr(info, "commit_url", "") or repo_id)
