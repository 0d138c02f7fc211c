"""Training runs as the README has them: a recipe written from the CPU quick-start one, `accelerate launch` or
recipes/train.py in this process, and the loss curve a run logged."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time

import yaml

from helpers.paths import REPO_ROOT

ROWS = [
    {"query": f"question {i} about topic {i % 5}", "positive": f"passage {i} answering topic {i % 5}",
     "negative": f"unrelated passage {i}" if i % 3 else None, "instruction": "Retrieve passages" if i % 2 else "",
     "task_type": "short-long" if i % 2 else "sts"}
    for i in range(48)
]  # fmt: skip


def write_recipe(tmp_path, model_dir, **overrides):
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    recipe = yaml.safe_load((REPO_ROOT / "recipes/cpu-quickstart/train.yaml").read_text())
    recipe.update(
        model_name_or_path=str(model_dir), dataset_mixture=[{"path": str(data), "name": "toy"}],
        output_dir=str(tmp_path / "out"), max_steps=4, save_steps=2, per_device_train_batch_size=4,
        max_seq_length=32, activation_checkpointing=True,
    )  # fmt: skip
    recipe.update(overrides)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def launch(accelerate_config, recipe, *extra, timeout=600):
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file",
        str(REPO_ROOT / "configs/accelerate" / accelerate_config), "--main_process_port", str(free_port()),
        str(REPO_ROOT / "recipes/train.py"), "--config", str(recipe), *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc, time.time() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def losses(output_dir):
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


def train_module():
    """recipes/train.py as a module, to call its main() in this process (imports stay warm: fast)."""
    spec = importlib.util.spec_from_file_location("train_recipe", REPO_ROOT / "recipes/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stand_in_local_datasets(recipes, root):
    """Datasets that earlier pipeline steps write (outputs/...): empty stand-ins under `root`, the test's cwd."""
    for recipe in recipes:
        for entry in yaml.safe_load(recipe.read_text()).get("dataset_mixture", []):
            if entry["path"].startswith("outputs/"):
                (root / entry["path"]).mkdir(parents=True, exist_ok=True)


STS_DEV = [
    {"sentence1": f"a {a} sits by the {b}", "sentence2": f"the {a} is near a {c}", "score": float(i % 6)}
    for i, (a, b, c) in enumerate(
        zip("cat dog bird fox owl cow hen eel ant bee".split() * 2, "tree river house road lake".split() * 4,
            "tree stone house cloud lake".split() * 4)
    )
]  # fmt: skip


def train_with_dev_sets(tmp_path, model_dir, **overrides):
    """recipes/train.py in this process with an STS dev set and a held-out share scored by the eval loop."""
    dev = tmp_path / "sts_dev.jsonl"
    dev.write_text("".join(json.dumps(r) + "\n" for r in STS_DEV))
    settings = dict(
        eval_datasets=[{"path": str(dev), "name": "sts"}], eval_fraction=0.25, eval_strategy="steps",
        eval_steps=2, eval_on_start=True, per_device_eval_batch_size=8, max_steps=4, save_strategy="no",
        activation_checkpointing=False,
    )  # fmt: skip
    train_module().main(["--config", str(write_recipe(tmp_path, model_dir, **{**settings, **overrides}))])
    return tmp_path / "out"
