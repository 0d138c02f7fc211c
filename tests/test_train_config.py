"""Training configuration: bad input fails with one line and a non-zero exit before any model is loaded;
a run resumed from a checkpoint ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

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
        ({"dataset_mixture": [{"path": __file__, "graded": "yes"}]}, "`dataset_mixture[0].graded` must be true or"),
        ({"dataset_mixture": [{"path": __file__, "symmetric": 1}]}, "`dataset_mixture[0].symmetric` must be true or"),
        ({"dataset_mixture": [{"path": __file__, "distill_weight": -1}]}, "`dataset_mixture[0].distill_weight` must"),
        (
            {"task_type_prefixes": {"sts": ""}, "instruct_symmetric_tasks": False},
            "`task_type_prefixes` gives every task type its prefix",
        ),
        ({"pooling": "max"}, "`pooling` must be one of last_token, mean, weighted_mean, cls"),
        ({"model_name_or_path": "/nonexistent/model"}, "model_name_or_path"),
        ({"eval_strategy": "steps"}, "`eval_strategy` needs a dev set"),
        ({"eval_datasets": [{"path": "dev.jsonl", "rows": 9}]}, "`eval_datasets[0]` has unknown key(s) ['rows']"),
        ({"query_template": "{query} {instruction}"}, "`query_template`: a query template must end with {query}"),
        ({"matryoshka_dims": [32, 64]}, "`matryoshka_dims` must be strictly descending, got [32, 64]"),
        ({"matryoshka_dims": [128, 32]}, "`matryoshka_dims`: 128 exceeds the model's hidden size 64"),
        ({"matryoshka_dims": [64, 32], "matryoshka_weights": [1]}, "`matryoshka_weights` must list 2 weight(s)"),
        ({"matryoshka_weights": [1.0]}, "`matryoshka_weights` needs `matryoshka_dims`"),
        ({"per_device_train_batch_size": 0}, "`per_device_train_batch_size` must be an int >= 1, got 0"),
        ({"learning_rate": -1e-4}, "`learning_rate` must be a number >= 0, got -0.0001"),
        ({"learning_rate": float("nan")}, "`learning_rate` must be a number >= 0, got nan"),
        ({"max_steps": -2}, "`max_steps` must be an int >= -1"),
        ({"gradient_accumulation_steps": 0}, "`gradient_accumulation_steps` must be an int >= 1"),
        ({"warmup_steps": -1}, "`warmup_steps` must be a number >= 0, got -1"),
        ({"temperature": 0}, "`temperature` must be a number > 0, got 0"),
        ({"temperature": float("nan")}, "`temperature` must be a number > 0, got nan"),
        ({"save_steps": 0}, "`save_steps` must be a number > 0"),
    ],
)
def test_bad_config_fails_with_one_line_before_loading(tmp_path, tiny_mistral_dir, change, expected, capsys):
    recipe = write_recipe(tmp_path, tiny_mistral_dir, **change)
    code, lines = train_in_process(recipe, capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]
    assert not (tmp_path / "out").exists()


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
    # Another run's checkpoint (resumed/out has no run marker of it): resumed only when named explicitly
    shutil.copytree(straight / "out" / "checkpoint-2", resumed / "out" / "checkpoint-2")
    proc = run_train(recipe, "--resume_from_checkpoint", str(resumed / "out" / "checkpoint-2"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Resuming from" in proc.stdout
    state = json.loads((resumed / "out" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert losses(resumed / "out")[-1] == pytest.approx(full[-1], rel=1e-5)


# What each recipe must parse to: the values that make it the recipe it claims to be.
RECIPE_VALUES = {
    # Wang et al., 2024, section 4.2: LoRA rank 16, batch 2048 (256 per GPU × 8), lr 1e-4, τ 0.02, 512 tokens,
    # one hard negative; synthetic data + the public sets prepared by scripts/prepare_public_data.py.
    "e5-mistral-7b-instruct/train.yaml": {
        "lora_r": 16,
        "per_device_train_batch_size": 256,
        "learning_rate": 1e-4,
        "temperature": 0.02,
        "max_seq_length": 512,
        "num_hard_negatives": 1,
        "pooling": "last_token",
        "num_train_epochs": 1,
        "mixture": 2,
        "output_dir": "outputs/e5-mistral-7b-instruct/model",
    },
    "e5-mistral-7b-instruct/train_synthetic_only.yaml": {"mixture": 1, "temperature": 0.02},
    "e5-mistral-7b-instruct/train_synthetic_msmarco.yaml": {"mixture": 2, "temperature": 0.02},
    "cpu-quickstart/train.yaml": {
        "max_steps": 30,
        "learning_rate": 3e-4,
        "per_device_train_batch_size": 16,
        "mixture": 2,
    },
    "gemma3-270m/train.yaml": {"max_steps": 144, "learning_rate": 3e-4, "per_device_train_batch_size": 16},
    "gemma3-270m/gpu.yaml": {"per_device_train_batch_size": 256, "max_steps": 150},
}


def parsed_values(model, data, training) -> dict:
    values = {**vars(model), **vars(data), **{k: getattr(training, k) for k in ("temperature", "num_hard_negatives")}}
    for name in ("per_device_train_batch_size", "learning_rate", "max_steps", "num_train_epochs", "output_dir"):
        values[name] = getattr(training, name)
    return {**values, "mixture": len(data.dataset_mixture)}


def test_every_training_recipe_parses(tmp_path, monkeypatch):
    from synthembed.configs import DataArguments, ModelArguments
    from synthembed.training_args import ContrastiveTrainingArguments
    from synthembed_common.config import parse_config

    recipes = sorted((REPO_ROOT / "recipes").rglob("train*.yaml")) + [REPO_ROOT / "recipes/gemma3-270m/gpu.yaml"]
    names = {str(r.relative_to(REPO_ROOT / "recipes")) for r in recipes}
    assert names == set(RECIPE_VALUES), "a recipe was added or renamed: say what it must parse to"
    stand_in_local_datasets(recipes, tmp_path)
    monkeypatch.chdir(tmp_path)
    for recipe in recipes:
        name = str(recipe.relative_to(REPO_ROOT / "recipes"))
        # gpu.yaml layers on train.yaml and says use_cpu: false with bf16 (which needs a GPU there)
        configs = ["--config", str(recipe.parent / "train.yaml")] if recipe.name == "gpu.yaml" else []
        configs = [*configs, "--config", str(recipe), "--use_cpu", "true"] if configs else ["--config", str(recipe)]
        values = parsed_values(
            *parse_config(
                [ModelArguments, DataArguments, ContrastiveTrainingArguments],
                [*configs, "--model_name_or_path", str(tmp_path)],
            )
        )
        actual = {key: values[key] for key in RECIPE_VALUES[name]}
        assert actual == pytest.approx(RECIPE_VALUES[name]), name


def test_push_to_hub_publishes_the_sentence_transformer_folder_and_card(tmp_path, tiny_mistral_dir):
    from helpers.hub_server import LoopbackHub

    hub_settings = {"push_to_hub": True, "hub_model_id": "synth-org/tiny-embedder", "hub_strategy": "end"}
    recipe = write_recipe(tmp_path, tiny_mistral_dir, max_steps=1, save_strategy="no", **hub_settings)
    token = "hf_test_token_trainer_1234"
    with LoopbackHub() as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": token, "HF_HUB_OFFLINE": "0"}
        cmd = [sys.executable, str(REPO_ROOT / "recipes/train.py"), "--config", str(recipe)]
        env["PYTHONPATH"] = str(REPO_ROOT)
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert hub.created["name"] == "tiny-embedder"
    assert {"README.md", "modules.json", "synthembed_config.json", "tokenizer.json"} <= set(hub.files)
    assert any(name.endswith(".safetensors") for name in hub.files)
    assert all(auth == f"Bearer {token}" for method, _, auth in hub.calls if method == "POST")
    assert "synthembed" in hub.files["README.md"].decode()
    for name, data in hub.files.items():
        assert token.encode() not in data, name


@pytest.mark.parametrize(
    "ds_config,expected",
    [
        ({"train_batch_size": 16}, "`train_batch_size` is 16 but per_device_train_batch_size 4 × "),
        ({"train_micro_batch_size_per_gpu": 8}, "`train_micro_batch_size_per_gpu` is 8 but per_device_train_batch"),
        ({"bf16": {"enabled": True}}, "`bf16.enabled` is True but bf16 gives False"),
        (None, "no such file"),
    ],
)
def test_deepspeed_config_mismatch_is_one_line(tmp_path, tiny_mistral_dir, capsys, monkeypatch, ds_config, expected):
    """What accelerate launch with a DeepSpeed config hands the processes, checked before DeepSpeed starts."""
    ds_file = tmp_path / "ds.json"
    if ds_config is not None:
        ds_file.write_text(json.dumps({"zero_optimization": {"stage": 3}, "train_batch_size": "auto", **ds_config}))
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", str(ds_file))
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, lines = train_in_process(write_recipe(tmp_path, tiny_mistral_dir), capsys)
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: DeepSpeed config {ds_file}"), lines
    assert expected in lines[0] and (ds_config is None or '"auto"' in lines[0]), lines[0]
    assert not (tmp_path / "out").exists()


def test_late_deepspeed_errors_become_one_line():
    """The mismatches transformers and DeepSpeed raise once training starts, as recipes/train.py reports them."""
    from synthembed.cli.train import deepspeed_problem as problem

    hf = ValueError(
        "Please correct the following DeepSpeed config values that mismatch TrainingArguments values:\n"
        "- ds train_micro_batch_size_per_gpu=8 vs hf per_device_train_batch_size=4\n"
        "The easiest method is to set these DeepSpeed config values to 'auto'."
    )
    assert problem(hf) == (
        "DeepSpeed config mismatch: ds train_micro_batch_size_per_gpu=8 vs hf per_device_train_batch_size=4; "
        'set these DeepSpeed values to "auto"'
    )
    ds = AssertionError(
        "Check batch related parameters. train_batch_size is not equal to micro_batch_per_gpu * gradient_acc_step * "
        "world_size 16 != 16 * 1 * 2"
    )
    assert "16 != 16 * 1 * 2" in problem(ds) and "\n" not in problem(ds)
    assert problem(ValueError("something else")) is None


@pytest.mark.parametrize(
    "recipe_says,env,cuda,expected",
    [
        (None, {}, False, True),  # no CUDA: the CPU, whatever the launcher passed on
        (None, {}, True, False),
        (None, {"ACCELERATE_USE_CPU": "True"}, True, True),  # accelerate launch --cpu on a GPU machine
        (False, {"WORLD_SIZE": "2"}, False, True),  # several processes without CUDA: gloo, or unconnected copies
        (False, {}, True, False),
        (True, {}, True, True),
    ],
)
def test_use_cpu_follows_the_launch_unless_the_recipe_says(monkeypatch, recipe_says, env, cuda, expected):
    import synthembed.training_args as training_args

    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(training_args, "_has_accelerator", lambda: cuda)
    assert training_args.resolve_use_cpu(recipe_says) is expected
