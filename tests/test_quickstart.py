"""The README's first command as a fresh offline clone runs it: no `../shared`, no Hub. Its test set is the shipped
STS Benchmark test split read as MTEB's copy; the end-to-end run (reduced steps) generate → train → evaluate, then
every artifact is checked as a user would use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers.paths import EVALDATA_TASKS, REPO_ROOT, load_module

QUICKSTART = [sys.executable, str(REPO_ROOT / "scripts/quickstart.py")]
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def quickstart():
    return load_module(REPO_ROOT / "scripts/quickstart.py", "quickstart_script")


@pytest.mark.parametrize(
    "options,field",
    [
        (["--evaldata", "{tmp}/none"], "--evaldata"),  # a folder of task copies that is not there
        (["--eval_tasks", "STSBenchmark", "SICK-R"], "--eval_tasks"),  # SICK-R is not shipped: the Hub, offline
    ],
)
def test_unreachable_test_sets_fail_before_anything_runs(tmp_path, options, field):
    """One line naming the field, a non-zero exit, nothing written."""
    env = {**OFFLINE, "PATH": "/usr/bin:/bin"}
    cmd = [*QUICKSTART, "--output_root", str(tmp_path / "qs"), *(o.format(tmp=tmp_path) for o in options)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0 and proc.stderr.strip().splitlines()[-1].startswith(f"error: `{field}`")
    assert not (tmp_path / "qs").exists()


def test_the_quick_start_needs_nothing_beside_the_repository():
    """The script reads only shipped data: nothing in it points at the project machines' ../shared."""
    for path in ("scripts/quickstart.py", "recipes/cpu-quickstart/evaluate.yaml", "recipes/cpu-quickstart/train.yaml"):
        text = (REPO_ROOT / path).read_text()
        assert not any(needle in text for needle in ("../shared", '"shared"', "SHARED", "EVALDATA")), path


def test_shipped_test_split_is_mteb_stsbenchmark(quickstart, tmp_path, minilm_dir):
    """sts-test.csv read as MTEB's copy (1,379 pairs, quote characters kept): all-MiniLM-L6-v2 scores the published
    82.03 through scripts/evaluate.py, and the rows equal the project's offline MTEB copy where there is one."""
    from synthembed.cli import evaluate

    folder = quickstart.shipped_sts_task(tmp_path / "STSBenchmark")
    spec = json.loads((folder / "task.json").read_text())
    rows = [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()]
    assert spec["mteb_task"] == "STSBenchmark" and spec["size"] == len(rows) == 1379
    assert sum('"' in r["sentence1"] + r["sentence2"] for r in rows) == 50  # a csv reader would strip or merge these
    if (EVALDATA_TASKS / "STSBenchmark").is_dir():
        mteb_copy = (EVALDATA_TASKS / "STSBenchmark" / "test.jsonl").read_text().splitlines()
        assert rows == [json.loads(line) for line in mteb_copy]

    out = tmp_path / "minilm"
    argv = ["--model_name_or_path", str(minilm_dir), "--output_dir", str(out), "--device", "cpu", "--offline", "true"]
    summary = evaluate.main(
        [*argv, "--batch_size", "64", "--local_tasks", str(folder), "--update_model_card", "false"]
    )
    assert summary["tasks"]["STSBenchmark"] == pytest.approx(82.03, abs=0.05)


def test_training_pairs_are_train_pairs_scored_4_or_more_sharing_nothing_with_test(quickstart, tmp_path):
    """1,406 train pairs score >= 4; the official splits share sentences (6 of those pairs are test pairs), so the
    training command the quick start runs (`--decontamination_tasks` = the shipped test task) drops the 92 pairs that
    copy a test text (91 share a sentence exactly, one more after normalisation)."""
    from synthembed.configs import DataArguments
    from synthembed.data import load_mixture

    assert quickstart.sts_train_positives(tmp_path / "pos") == 1406
    test_task = quickstart.shipped_sts_task(tmp_path / "STSBenchmark")
    data = DataArguments(dataset_mixture=[{"path": str(tmp_path / "pos")}], decontamination_tasks=[str(test_task)])
    train = load_mixture(data)
    test = quickstart.sts_rows(quickstart.STSB / "sts-test.csv")
    assert len(train) == 1314 and not {s for r in test for s in (r["sentence1"], r["sentence2"])} & {
        s for r in train for s in (r["query"], r["positive"])
    }
    scores = {
        (r["sentence1"], r["sentence2"]): r["score"] for r in quickstart.sts_rows(quickstart.STSB / "sts-train.csv")
    }
    assert all(scores[(r["query"], r["positive"])] >= 4 for r in train)


@pytest.mark.slow
def test_quickstart_end_to_end_offline(tmp_path):
    """Reduced steps (the default run is measured in the README); HF_HUB_OFFLINE proves nothing is downloaded."""
    pytest.importorskip("llama_cpp", reason="needs llama-cpp-python[server] (make install)")
    from datasets import load_from_disk
    from huggingface_hub import ModelCard
    from sentence_transformers import SentenceTransformer

    from synthembed.model_folder import read_settings

    root = tmp_path / "qs"
    cmd = [*QUICKSTART, "--output_root", str(root), "--num_examples", "6", "--max_steps", "2"]
    env = {**os.environ, **OFFLINE}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Where everything is" in proc.stdout

    # seam 1: the dataset loads in the trainer's schema and covers the task types the small model managed
    dataset = load_from_disk(str(root / "data" / "dataset"))
    assert {"query", "positive", "negative", "instruction", "task_type", "language"} <= set(dataset.column_names)
    assert len(dataset) >= 1 and all(r["query"] and r["positive"] for r in dataset)
    assert (root / "data" / "README.md").read_text().startswith("---")

    # seam 2: the model loads in SentenceTransformer and embeds with its query prompt; it trained on both sources
    model = SentenceTransformer(str(root / "model"), device="cpu")
    emb = model.encode(["a query"], prompt_name="query")
    assert emb.shape[0] == 1 and abs(float((emb**2).sum()) - 1) < 1e-4
    assert read_settings(root / "model").pooling == "last_token"
    assert "1406 STS Benchmark train pairs" in proc.stdout
    logs = proc.stdout + proc.stderr  # the trainer logs to stdout
    assert "dataset stsb-train-positives: 92 rows copy evaluation texts, dropped ({'STSBenchmark': 92})" in logs
    assert "dataset stsb-train-positives: 1314 rows" in logs and "dataset synthetic:" in logs

    # seam 3: the scores come from the shipped test split, through MTEB's STSBenchmark task, into the card
    summary = json.loads((root / "eval" / "summary.json").read_text())
    assert list(summary["tasks"]) == ["STSBenchmark"]  # a real MTEB test set, never the generated data
    detail = summary["details"]["STSBenchmark"]
    assert detail["local"] and detail["mteb_task"] == "STSBenchmark" and detail["comparable"]
    spec = json.loads((root / "evaldata" / "STSBenchmark" / "task.json").read_text())
    assert spec["source"].startswith("data/stsbenchmark/sts-test.csv") and spec["size"] == 1379
    card = ModelCard.load(str(root / "model" / "README.md"))
    assert card.data.to_dict().get("model-index")

    # the honest comparison: the same task scored for the untrained base, printed beside the trained model's
    base = json.loads((root / "untrained-eval" / "summary.json").read_text())
    assert base["tasks"].keys() == summary["tasks"].keys()
    assert read_settings(root / "untrained").training["global_step"] == 0
    trained, untrained = summary["tasks"]["STSBenchmark"], base["tasks"]["STSBenchmark"]
    where = "1379 rows from data/stsbenchmark/sts-test.csv, shipped with the repository"
    assert f"| STSBenchmark ({where}) | {untrained:.2f} | {trained:.2f} | {trained - untrained:+.2f} |" in proc.stdout
    record = json.loads((root / "quickstart.json").read_text())
    assert record["max_steps"] == 2 and record["trained"] == summary["tasks"]
    for minutes in (record["minutes"], record["cpu_minutes"]):
        assert set(minutes) == {"models", "generation", "training", "untrained base", "evaluation", "total"}
    assert record["cpu_minutes"]["training"] > 0.1  # the ranks' CPU time counts: the launcher waits for them
    assert "Minutes per stage, wall (CPU, " in proc.stdout
