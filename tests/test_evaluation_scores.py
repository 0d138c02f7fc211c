"""all-MiniLM-L6-v2 through scripts/evaluate.py on the offline MTEB test sets must land on the published figures.

One evaluation run (module-scoped) feeds every assertion: scores, outputs, and the model card it renders.
"""

from __future__ import annotations

import json

import pytest

# Published MTEB (mteb 1.12 leaderboard) main scores x100 of all-MiniLM-L6-v2; ../shared/evaldata/README.md.
STS_EXACT = {"STSBenchmark": 82.03, "SICK-R": 77.58}
CLASSIFICATION_CLOSE = {
    "Banking77Classification": 80.04,
    "EmotionClassification": 40.83,
    "AmazonCounterfactualClassification": 63.64,
}
LOCAL = ["STSBenchmark", "SICK-R", "Banking77", "Emotion", "AmazonCounterfactual"]


@pytest.fixture(scope="module")
def minilm_run(minilm_dir, evaldata_tasks, tmp_path_factory):
    from synthembed.cli import evaluate

    out = tmp_path_factory.mktemp("minilm-eval")
    argv = [
        "--model_name_or_path",
        str(minilm_dir),
        "--model_name",
        "all-MiniLM-L6-v2",
        "--output_dir",
        str(out),
        "--device",
        "cpu",
        "--batch_size",
        "64",
        "--local_tasks",
        *[str(evaldata_tasks / n) for n in LOCAL],
    ]
    summary = evaluate.main(argv)
    return summary, out


@pytest.mark.parametrize("task", sorted(STS_EXACT))
def test_sts_matches_published(minilm_run, task):
    summary, _ = minilm_run
    assert summary["tasks"][task] == pytest.approx(STS_EXACT[task], abs=0.05)


@pytest.mark.parametrize("task", sorted(CLASSIFICATION_CLOSE))
def test_classification_close_to_published(minilm_run, task):
    summary, _ = minilm_run
    assert summary["tasks"][task] == pytest.approx(CLASSIFICATION_CLOSE[task], abs=1.0)


def test_outputs(minilm_run):
    summary, out = minilm_run
    on_disk = json.loads((out / "summary.json").read_text())
    assert set(on_disk) >= {"tasks", "categories", "average"}
    assert on_disk["tasks"] == summary["tasks"] and summary["protocol"] == "plain"
    assert set(on_disk["categories"]) == {"STS", "Classification"}
    md = (out / "summary.md").read_text()
    assert "| STS | 2 |" in md and "84.60" in md  # category row next to the paper's e5-mistral figure
    result_files = {p.name for p in (out / "results").rglob("*.json")}
    assert {"STSBenchmark.json", "SICK-R.json", "Banking77Classification.json"} <= result_files


def test_card_metadata_parses_back_with_every_score(minilm_run):
    from huggingface_hub import ModelCard

    summary, out = minilm_run
    card = ModelCard.load(out / "README.md")  # MiniLM is not a synthembed model: its own card is left alone
    results = card.data.eval_results
    assert {(r.dataset_name, r.metric_type, r.metric_value) for r in results} == {
        (
            f"MTEB {name}" + (" (en)" if name.startswith("AmazonCounterfactual") else ""),
            summary["details"][name]["main_score"],
            score,
        )
        for name, score in summary["tasks"].items()
    }
    assert all(r.task_type in {"STS", "Classification"} and r.dataset_split == "test" for r in results)
    assert (out / "mteb_categories.png").stat().st_size > 1000
    assert "![MTEB scores by category](mteb_categories.png)" in card.text
