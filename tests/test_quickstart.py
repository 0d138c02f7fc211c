"""The README's main command end to end at reduced counts: generate (llama.cpp + Gemma) → train (ZeRO-3, 2 CPU
processes) → evaluate (mteb on a real MTEB test set), then every artifact is checked as a user would use it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.paths import EVALDATA_TASKS, REPO_ROOT

QUICKSTART = [sys.executable, str(REPO_ROOT / "scripts/quickstart.py")]


def test_offline_without_test_sets_fails_before_anything_runs(tmp_path):
    """No local task copies and no Hub: one line naming the field, a non-zero exit, nothing written."""
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    cmd = [*QUICKSTART, "--output_root", str(tmp_path / "qs"), "--evaldata", str(tmp_path / "none")]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0 and proc.stderr.strip().splitlines()[-1].startswith("error: `--evaldata`")
    assert not (tmp_path / "qs").exists()


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path):
    pytest.importorskip("llama_cpp", reason="needs llama-cpp-python[server] (make install)")
    if not EVALDATA_TASKS.is_dir():
        pytest.skip("offline here and no local copy of the MTEB test sets (../shared/evaldata/tasks)")
    from datasets import load_from_disk
    from huggingface_hub import ModelCard
    from sentence_transformers import SentenceTransformer

    from synthembed.model_folder import read_settings

    root = tmp_path / "qs"
    cmd = [*QUICKSTART, "--output_root", str(root), "--num_examples", "6", "--max_steps", "2"]
    cmd += ["--eval_tasks", "STSBenchmark"]  # SICK-R too by default: 6k more sentences per model
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Where everything is" in proc.stdout

    # seam 1: the dataset loads in the trainer's schema and covers the task types the small model managed
    dataset = load_from_disk(str(root / "data" / "dataset"))
    assert {"query", "positive", "negative", "instruction", "task_type", "language"} <= set(dataset.column_names)
    assert len(dataset) >= 1 and all(r["query"] and r["positive"] for r in dataset)
    assert (root / "data" / "README.md").read_text().startswith("---")

    # seam 2: the model loads in SentenceTransformer and embeds with its query prompt
    model = SentenceTransformer(str(root / "model"), device="cpu")
    emb = model.encode(["a query"], prompt_name="query")
    assert emb.shape[0] == 1 and abs(float((emb**2).sum()) - 1) < 1e-4
    assert read_settings(root / "model").pooling == "last_token"

    # seam 3: scores in the summary and in the model card's metadata
    summary = json.loads((root / "eval" / "summary.json").read_text())
    assert summary["tasks"] and all(isinstance(v, float) for v in summary["tasks"].values())
    card = ModelCard.load(str(root / "model" / "README.md"))
    assert card.data.to_dict().get("model-index")
    assert list(summary["tasks"]) == ["STSBenchmark"]  # a real MTEB test set, never the generated data

    # the honest comparison: the same tasks scored for the untrained base, printed beside the trained model's
    base = json.loads((root / "untrained-eval" / "summary.json").read_text())
    assert base["tasks"].keys() == summary["tasks"].keys()
    assert read_settings(root / "untrained").training["global_step"] == 0
    task = next(iter(summary["tasks"]))
    assert f"| {task} | {base['tasks'][task]:.2f} | {summary['tasks'][task]:.2f} |" in proc.stdout
    assert "paper" not in proc.stdout.split("Where everything is")[1].lower()  # no 7B averages beside it
