"""A training run killed with SIGKILL mid-step is finished by rerunning the same command: it resumes from the last
complete checkpoint (one the kill cut short while saving is skipped) and saves the model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.launch import write_recipe
from helpers.paths import REPO_ROOT


def train_command(recipe):
    return [sys.executable, str(REPO_ROOT / "recipes/train.py"), "--config", str(recipe)]


@pytest.mark.slow
def test_killed_run_resumes_from_the_last_checkpoint(tmp_path, tiny_mistral_dir):
    recipe = write_recipe(tmp_path, tiny_mistral_dir, max_steps=6, save_steps=2, save_total_limit=None)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "2"}
    proc = subprocess.Popen(
        train_command(recipe), cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 300
        while not (out / "checkpoint-2" / "trainer_state.json").is_file():  # the Trainer writes it last
            assert proc.poll() is None and time.time() < deadline, "training ended before its first checkpoint"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # in step 3 (or saving checkpoint-4): no handler runs
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model.safetensors").exists() and not (out / "modules.json").exists()
    # The run may have got past checkpoint-4 before the kill landed (a tiny model trains fast on a busy machine):
    # the newest complete checkpoint is the resume point, and a newer one cut short while saving must be skipped.
    complete = [int(c.name.split("-")[1]) for c in out.glob("checkpoint-*") if (c / "trainer_state.json").is_file()]
    newest = max(complete)
    partial = out / f"checkpoint-{newest + 1}"  # what a kill during `save` leaves: weights, no trainer_state.json
    partial.mkdir(exist_ok=True)
    (partial / "model.safetensors").write_bytes(b"\0" * 64)
    resume_point = f"checkpoint-{newest}"

    rerun = subprocess.run(train_command(recipe), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"Resuming from {out / resume_point}" in rerun.stdout, rerun.stdout[-3000:]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    assert (out / "modules.json").is_file() and (out / "README.md").is_file()
