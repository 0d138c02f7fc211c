"""`accelerate launch recipes/train.py` on 2 CPU processes (ZeRO-3 and DDP) with a tiny random Mistral."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml
from conftest import REPO_ROOT

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
        str(REPO_ROOT / "configs/accelerate" / accelerate_config), "--main_process_port", str(_free_port()),
        str(REPO_ROOT / "recipes/train.py"), "--config", str(recipe), *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc, time.time() - start


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def losses(output_dir):
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


@pytest.mark.parametrize("accelerate_config", ["cpu_zero3.yaml", "cpu_ddp.yaml"])
def test_train_two_processes_and_load_with_sentence_transformers(tmp_path, tiny_mistral_dir, accelerate_config):
    from sentence_transformers import SentenceTransformer

    recipe = write_recipe(tmp_path, tiny_mistral_dir)
    proc, seconds = launch(accelerate_config, recipe)
    print(f"{accelerate_config}: {seconds:.1f}s")
    out = tmp_path / "out"
    history = losses(out)
    assert len(history) == 4 and all(v == v for v in history)
    state = json.loads((out / "trainer_state.json").read_text())
    logged = [h for h in state["log_history"] if "loss" in h][0]
    assert {"accuracy", "positive_similarity", "negative_similarity"} <= set(logged)
    assert (out / "README.md").is_file() and (out / "synthembed_config.json").is_file()
    model = SentenceTransformer(str(out), device="cpu")
    emb = model.encode(["hello world", "another text"], prompt_name="query")
    assert emb.shape == (2, 64)
    assert abs(float((emb[0] ** 2).sum()) - 1.0) < 1e-4
