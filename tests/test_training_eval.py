"""Evaluation during training: the Trainer's own eval loop scores STS dev pairs (Spearman) and held-out training rows
(loss, retrieval accuracy) on a schedule; the curve goes to the logs, a PNG in the model folder, and the card."""

from __future__ import annotations

import json

import pytest
from helpers.launch import STS_DEV, launch, train_with_dev_sets, write_recipe

from synthembed.model_folder import read_settings


def dev_points(output_dir, key):
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return [(h["step"], h[key]) for h in state["log_history"] if key in h]


def test_eval_loop_logs_a_learning_curve_into_folder_and_card(tmp_path, tiny_mistral_dir):
    out = train_with_dev_sets(tmp_path, tiny_mistral_dir)
    sts = dev_points(out, "eval_sts_cosine_spearman")
    assert [step for step, _ in sts] == [0, 2, 4]  # eval_on_start, then every 2 steps
    assert all(-1 <= value <= 1 for _, value in sts)
    heldout = dev_points(out, "eval_heldout_loss")
    assert [step for step, _ in heldout] == [0, 2, 4] and all(v > 0 for _, v in heldout)
    assert len(dev_points(out, "eval_heldout_accuracy")) == 3

    settings = read_settings(out)
    assert settings.learning_curve == "learning_curve.png" and (out / "learning_curve.png").stat().st_size > 5000
    assert set(settings.training["dev"]) == {"sts_cosine_spearman", "heldout_accuracy"}
    assert settings.training["dev"]["sts_cosine_spearman"]["last"] == pytest.approx(sts[-1][1], abs=1e-4)
    card = (out / "README.md").read_text()
    assert "![Learning curve](learning_curve.png)" in card and "| sts_cosine_spearman |" in card


def saved_model_spearman(model_dir) -> float:
    """Spearman of the saved model's cosine similarities on STS_DEV, the paper's STS instruction on both sides."""
    from scipy.stats import spearmanr
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    prompt = "Instruct: Retrieve semantically similar text.\nQuery: "
    a = model.encode([r["sentence1"] for r in STS_DEV], prompt=prompt)
    b = model.encode([r["sentence2"] for r in STS_DEV], prompt=prompt)
    return spearmanr((a * b).sum(1), [r["score"] for r in STS_DEV]).statistic


def test_sts_dev_score_is_spearman_of_cosine(tmp_path, tiny_mistral_dir):
    """The eval loop's number equals Spearman of the saved model's cosine similarities."""
    out = train_with_dev_sets(tmp_path, tiny_mistral_dir, eval_fraction=0.0, eval_on_start=False)
    assert dev_points(out, "eval_sts_cosine_spearman")[-1][1] == pytest.approx(saved_model_spearman(out), abs=1e-3)


def test_eval_loop_under_ddp_gathers_every_pair(tmp_path, tiny_mistral_dir):
    """2 processes: each scores half the dev pairs; the metric is computed on all of them (gathered)."""
    dev = tmp_path / "sts_dev.jsonl"
    dev.write_text("".join(json.dumps(r) + "\n" for r in STS_DEV))
    dev_sets = dict(eval_datasets=[{"path": str(dev), "name": "sts"}], per_device_eval_batch_size=4)
    schedule = dict(eval_strategy="steps", eval_steps=2, max_steps=2, save_strategy="no")
    recipe = write_recipe(tmp_path, tiny_mistral_dir, **dev_sets, **schedule)
    launch("cpu_ddp.yaml", recipe)
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    evals = [h for h in state["log_history"] if "eval_sts_cosine_spearman" in h]
    assert len(evals) == 1 and read_settings(tmp_path / "out").training["world_size"] == 2
    # half the pairs per process would give another number
    assert evals[0]["eval_sts_cosine_spearman"] == pytest.approx(saved_model_spearman(tmp_path / "out"), abs=1e-3)


def test_zero_step_baseline_logs_tensorboard_under_the_output_dir(tmp_path, tiny_mistral_dir, monkeypatch):
    """report_to tensorboard (offline): the 0-step baseline's dev scores land in output_dir/runs, not in ./runs."""
    monkeypatch.chdir(tmp_path)
    out = train_with_dev_sets(tmp_path, tiny_mistral_dir, max_steps=0, eval_fraction=0.0, report_to="tensorboard")
    assert list((out / "runs").glob("*/events.out.tfevents.*")) and not (tmp_path / "runs").exists()
