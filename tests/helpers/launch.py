"""Training runs as the README has them: a recipe written from the CPU quick-start one, `accelerate launch` or
recipes/train.py in this process, and the loss curve a run logged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import yaml

from data_generation.llama_server import free_port  # the one definition; the tests take it from here
from helpers.paths import REPO_ROOT, load_module


def toy_row(i: int) -> dict:
    """Row i of the toy training set: a hard negative on two rows of three, an instruction on every other row."""
    return {
        "query": f"question {i} about topic {i % 5}",
        "positive": f"passage {i} answering topic {i % 5}",
        "negative": f"unrelated passage {i}" if i % 3 else None,
        "instruction": "Retrieve passages" if i % 2 else "",
        "task_type": "short-long" if i % 2 else "sts",
    }


ROWS = [toy_row(i) for i in range(48)]
# The quick start's speed settings that the toy runs keep off: a float tiny model compared at 1e-4 (no bf16), runs
# that resume from checkpoints, and the step sizes the toy loss curves were written against.
TOY_SETTINGS = dict(
    bf16=False, save_strategy="steps", save_total_limit=2, learning_rate=1e-4, warmup_steps=2, embed_chunk_size=None
)


def write_recipe(tmp_path, model_dir, **overrides):
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    recipe = yaml.safe_load((REPO_ROOT / "recipes/cpu-quickstart/train.yaml").read_text())
    recipe.update(model_name_or_path=str(model_dir), dataset_mixture=[{"path": str(data), "name": "toy"}])
    recipe.update(output_dir=str(tmp_path / "out"), max_steps=4, save_steps=2, per_device_train_batch_size=4)
    recipe.update(max_seq_length=32, activation_checkpointing=True)
    recipe.update(TOY_SETTINGS)
    recipe.pop("ddp_find_unused_parameters", None)
    recipe.update(overrides)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def launch(accelerate_config, recipe, *extra, timeout=600, script="recipes/train.py"):
    config = REPO_ROOT / "configs/accelerate" / accelerate_config
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    port = ["--main_process_port", str(free_port())]
    cmd = [*launcher, *port, str(REPO_ROOT / script), "--config", str(recipe), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, failure_report(proc)
    return proc, time.time() - start


ROOT_CAUSE_MARKS = ("Error", "error:", "terminate called", "what():", "Abort", "Signal", "Killed")


def failure_report(proc) -> str:
    """A failed launch's likely root cause first (a rank's C++ abort or Python error is otherwise buried above the
    launcher's own traceback, which CI logs cut), then the output's tail."""
    lines = proc.stdout.splitlines() + proc.stderr.splitlines()
    causes = dict.fromkeys(line for line in lines if any(mark in line for mark in ROOT_CAUSE_MARKS))
    return "\n".join(["rank errors:", *list(causes)[:40], "tail:", *lines[-60:]])


def losses(output_dir):
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


def train_module():
    """recipes/train.py as a module, to call its main() in this process (imports stay warm: fast)."""
    return load_module(REPO_ROOT / "recipes/train.py", "train_recipe")


def stand_in_local_datasets(recipes, root):
    """Datasets that earlier pipeline steps write (outputs/...): empty stand-ins under `root`, the test's cwd."""
    for recipe in recipes:
        for entry in yaml.safe_load(recipe.read_text()).get("dataset_mixture", []):
            if entry["path"].startswith("outputs/"):
                (root / entry["path"]).mkdir(parents=True, exist_ok=True)
            elif (REPO_ROOT / entry["path"]).exists() and not (root / entry["path"]).exists():  # shipped with the repo
                (root / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
                (root / entry["path"]).symlink_to(REPO_ROOT / entry["path"])


ANIMALS = "cat dog bird fox owl cow hen eel ant bee".split() * 2
PLACES = "tree river house road lake".split() * 4
THINGS = "tree stone house cloud lake".split() * 4
STS_DEV = [
    {"sentence1": f"a {a} sits by the {b}", "sentence2": f"the {a} is near a {c}", "score": float(i % 6)}
    for i, (a, b, c) in enumerate(zip(ANIMALS, PLACES, THINGS))
]


def train_with_dev_sets(tmp_path, model_dir, **overrides):
    """recipes/train.py in this process with an STS dev set and a held-out share scored by the eval loop."""
    dev = tmp_path / "sts_dev.jsonl"
    dev.write_text("".join(json.dumps(r) + "\n" for r in STS_DEV))
    dev_sets = dict(
        eval_datasets=[{"path": str(dev), "name": "sts"}], eval_fraction=0.25, per_device_eval_batch_size=8
    )
    schedule = dict(eval_strategy="steps", eval_steps=2, eval_on_start=True, max_steps=4, save_strategy="no")
    settings = {**dev_sets, **schedule, "activation_checkpointing": False, **overrides}
    train_module().main(["--config", str(write_recipe(tmp_path, model_dir, **settings))])
    return tmp_path / "out"
