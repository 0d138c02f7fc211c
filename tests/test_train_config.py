"""Training configuration: bad input fails with one line and a non-zero exit before any model is loaded;
a run resumed from a checkpoint ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from helpers.launch import losses, stand_in_local_datasets, train_module, write_recipe
from helpers.paths import REPO_ROOT


def train_in_process(recipe, capsys):
    """recipes/train.py's main() in this process (fast: imports are warm); returns (exit code, stderr lines)."""
    with pytest.raises(SystemExit) as exit_info:
        train_module().main(["--config", str(recipe)])
    return exit_info.value.code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def run_train(recipe, *extra, cwd=REPO_ROOT):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, str(REPO_ROOT / "recipes/train.py"), "--config", str(recipe), *extra]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"lora_rank": 8}, "unknown config key(s): lora_rank"),
        ({"lora_r": [1, 2]}, "`lora_r` must be int"),
        ({"temperature": "warm"}, "temperature"),
        ({"dataset_mixture": [{"path": "/nonexistent/train.jsonl"}]}, "`dataset_mixture[0].path`: no such file"),
        ({"dataset_mixture": [{"path": "x.jsonl", "weights": 1}]}, "unknown key(s) ['weights']"),
        ({"pooling": "max"}, "`pooling` must be one of last_token, mean, cls"),
        ({"model_name_or_path": "/nonexistent/model"}, "model_name_or_path"),
        ({"eval_strategy": "steps"}, "`eval_strategy` needs a dev set"),
        ({"eval_datasets": [{"path": "dev.jsonl", "rows": 9}]}, "`eval_datasets[0]` has unknown key(s) ['rows']"),
        ({"query_template": "{query} {instruction}"}, "`query_template`: a query template must end with {query}"),
    ],
)
def test_bad_config_fails_with_one_line_before_loading(tmp_path, tiny_mistral_dir, change, expected, capsys):
    recipe = write_recipe(tmp_path, tiny_mistral_dir, **change)
    start = time.time()
    code, lines = train_in_process(recipe, capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]
    assert not (tmp_path / "out").exists()
    assert time.time() - start < 10  # nothing was loaded


def test_bad_config_exit_status_from_the_command_line(tmp_path, tiny_mistral_dir):
    proc = run_train(write_recipe(tmp_path, tiny_mistral_dir, lora_rank=8))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: unknown config key(s): lora_rank"


def test_missing_config_file_and_bad_yaml(tmp_path):
    proc = run_train(tmp_path / "missing.yaml")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--config" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name_or_path: [unclosed\n")
    proc = run_train(bad)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not valid YAML" in proc.stderr


def test_resumed_run_ends_at_the_same_loss(tmp_path, tiny_mistral_dir):
    straight = tmp_path / "straight"
    straight.mkdir()
    recipe = write_recipe(straight, tiny_mistral_dir, max_steps=4, save_steps=2, save_total_limit=None)
    assert run_train(recipe).returncode == 0
    full = losses(straight / "out")

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    recipe = write_recipe(resumed, tiny_mistral_dir, max_steps=4, save_steps=2, save_total_limit=None)
    shutil.copytree(straight / "out" / "checkpoint-2", resumed / "out" / "checkpoint-2")  # as if killed after step 2
    proc = run_train(recipe)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Resuming from" in proc.stdout
    state = json.loads((resumed / "out" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert losses(resumed / "out")[-1] == pytest.approx(full[-1], rel=1e-5)


def test_ablation_files_layer_on_the_paper_recipe(tmp_path, monkeypatch):
    from synthembed.configs import ContrastiveTrainingArguments, DataArguments, ModelArguments
    from synthembed_common.config import parse_config

    recipe = REPO_ROOT / "recipes/e5-mistral-7b-instruct"
    base = ["--config", str(recipe / "train.yaml"), "--config", str(recipe / "train_synthetic_msmarco.yaml")]
    stand_in_local_datasets([recipe / "train.yaml"], tmp_path)
    monkeypatch.chdir(tmp_path)
    expected = {"lora_r8": ("lora_r", 8), "lora_r32": ("lora_r", 32), "mean_pooling": ("pooling", "mean")}
    for ablation in sorted((recipe / "ablations").glob("*.yaml")):
        model, data, training = parse_config(
            [ModelArguments, DataArguments, ContrastiveTrainingArguments],
            [*base, "--config", str(ablation), "--model_name_or_path", str(tmp_path), "--use_cpu", "true"],
        )
        assert len(data.dataset_mixture) == 2 and training.output_dir.startswith("outputs/ablation-")
        if ablation.stem in expected:
            name, value = expected[ablation.stem]
            assert getattr(model, name) == value
        else:
            assert ablation.stem == "no_instruction" and data.query_template == "{query}"


def test_every_training_recipe_parses(tmp_path, monkeypatch):
    from synthembed.configs import ContrastiveTrainingArguments, DataArguments, ModelArguments
    from synthembed_common.config import parse_config

    recipes = sorted((REPO_ROOT / "recipes").rglob("train*.yaml"))  # overrides of train.yaml parse on their own too
    assert recipes
    stand_in_local_datasets(recipes, tmp_path)
    monkeypatch.chdir(tmp_path)
    for recipe in recipes:
        model, data, training = parse_config(
            [ModelArguments, DataArguments, ContrastiveTrainingArguments],
            ["--config", str(recipe), "--model_name_or_path", str(tmp_path), "--use_cpu", "true"],  # bf16 needs a GPU
        )
        assert training.temperature > 0 and data.dataset_mixture


def test_push_to_hub_publishes_the_sentence_transformer_folder_and_card(tmp_path, tiny_mistral_dir):
    from helpers.hub_server import LoopbackHub

    recipe = write_recipe(tmp_path, tiny_mistral_dir, max_steps=1, save_strategy="no", push_to_hub=True,
                          hub_model_id="synth-org/tiny-embedder", hub_strategy="end")  # fmt: skip
    token = "hf_test_token_trainer_1234"
    with LoopbackHub() as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": token, "HF_HUB_OFFLINE": "0"}
        proc = subprocess.run(
            [sys.executable, str(REPO_ROOT / "recipes/train.py"), "--config", str(recipe)],
            cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert hub.created["name"] == "tiny-embedder"
    assert {"README.md", "modules.json", "synthembed_config.json", "tokenizer.json"} <= set(hub.files)
    assert any(name.endswith(".safetensors") for name in hub.files)
    assert all(auth == f"Bearer {token}" for method, _, auth in hub.calls if method == "POST")
    assert "synthembed" in hub.files["README.md"].decode()
    for name, data in hub.files.items():
        assert token.encode() not in data, name
