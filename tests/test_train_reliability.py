"""Training faults end in one line and lose nothing: a token passed as --hub_token reaches no file and no upload; a full
disk at a checkpoint or at the final save names the folder and leaves no half-written model; auto-resume takes only
the run's own checkpoints (resuming loads pickles); a failed run leaves no empty output_dir."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import subprocess
import sys

import pytest
from helpers.launch import train_module, write_recipe
from helpers.paths import REPO_ROOT

CANARY = "hf_" + secrets.token_hex(16)  # made per run: no token-shaped literal in the tree


def train_in_process(recipe, *extra):
    """recipes/train.py's main() in this process (imports stay warm)."""
    train_module().main(["--config", str(recipe), *extra])


def failed_run(recipe, capsys, *extra) -> tuple[int, list[str]]:
    """Run main() expecting `error:` and an exit; returns (exit code, the stderr lines starting with `error:`)."""
    with pytest.raises(SystemExit) as exit_info:
        train_in_process(recipe, *extra)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    return exit_info.value.code, [line for line in err.splitlines() if line.startswith("error:")]


def test_hub_token_reaches_no_file_and_no_upload(tmp_path, tiny_mistral_dir):
    from helpers.hub_server import LoopbackHub
    from safetensors.torch import load, load_file

    hub_settings = {"push_to_hub": True, "hub_model_id": "synth-org/canary", "hub_strategy": "all_checkpoints"}
    recipe = write_recipe(
        tmp_path, tiny_mistral_dir, max_steps=2, save_steps=1, hub_always_push=True, disable_tqdm=True, **hub_settings
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    with LoopbackHub() as hub:
        env.update(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="2")
        cmd = [sys.executable, str(REPO_ROOT / "recipes/train.py"), "--config", str(recipe), "--hub_token", CANARY]
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    posts = [auth for method, _, auth in hub.calls if method == "POST"]
    assert posts and all(auth == f"Bearer {CANARY}" for auth in posts)  # the token still authenticates the pushes
    assert "checkpoint-1/training_args.bin" in hub.files and "training_args.bin" in hub.files
    out = tmp_path / "out"
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "training_args.bin" for p in written)
    for path in written:
        assert CANARY.encode() not in path.read_bytes(), path
    for name, data in hub.files.items():
        assert CANARY.encode() not in data, name
    # push_to_hub's own save of the final folder kept the export (merged weights, EOS tokenizer), not raw weights
    assert hub.files["model.safetensors"] == (out / "model.safetensors").read_bytes()
    assert not any(key.startswith("backbone.") for key in load(hub.files["model.safetensors"]))
    assert set(load_file(out / "model.safetensors")) == set(load(hub.files["model.safetensors"]))


def test_full_disk_at_the_final_save_leaves_no_half_model(tmp_path, tiny_mistral_dir, capsys, monkeypatch):
    import synthembed.saving

    recipe = write_recipe(tmp_path, tiny_mistral_dir, max_steps=2, save_steps=2, disable_tqdm=True)
    out = tmp_path / "out"

    def disk_full(folder, settings):  # the last file of the export: the weights, tokenizer and modules are written
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "synthembed_config.json"))

    monkeypatch.setattr(synthembed.saving, "write_settings", disk_full)
    code, errors = failed_run(recipe, capsys)
    assert code == 2 and len(errors) == 1, errors
    assert "No space left on device" in errors[0] and str(out) in errors[0], errors
    assert (out / "checkpoint-2" / "trainer_state.json").is_file()  # the run's work is kept
    assert not (out / "model.safetensors").exists() and not (out / "modules.json").exists()
    assert not list(out.glob("_saving.*"))
    from synthembed.model_folder import check_complete, missing_files

    assert "modules.json" in missing_files(out)  # the Trainer's state is there, the model is not

    monkeypatch.undo()  # space freed: the same command finishes from the checkpoint
    train_in_process(recipe)
    assert "Resuming from" in capsys.readouterr().out
    check_complete(out)
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(out), device="cpu").encode(["a"]).shape[0] == 1


def test_full_disk_at_a_checkpoint_is_one_line(tmp_path, tiny_mistral_dir, capsys):
    recipe = write_recipe(tmp_path, tiny_mistral_dir, max_steps=2, save_steps=1, disable_tqdm=True)
    checkpoint = tmp_path / "out" / "checkpoint-1"
    checkpoint.mkdir(parents=True)
    (checkpoint / "tokenizer_config.json").symlink_to("/dev/full")  # every write there: ENOSPC, a real full disk
    code, errors = failed_run(recipe, capsys)
    assert code == 2 and len(errors) == 1, errors
    assert "No space left on device" in errors[0] and str(checkpoint) in errors[0], errors
    assert not checkpoint.exists()  # the half-written checkpoint only held the space


def test_torch_save_on_a_full_disk_is_named_so(tmp_path, monkeypatch):
    """torch.save's writer drops errno ("unexpected pos"): a full disk is read from the free space left."""
    import torch

    import synthembed.saving as saving

    with pytest.raises(RuntimeError) as info:
        torch.save({"x": torch.zeros(100_000)}, "/dev/full")
    monkeypatch.setattr(saving, "free_bytes", lambda folder: 4096)
    assert str(saving.save_failure(info.value, tmp_path)).startswith(f"No space left on device writing {tmp_path}")
    monkeypatch.setattr(saving, "free_bytes", lambda folder: 50 * 2**30)
    failure = str(saving.save_failure(info.value, tmp_path))
    assert failure.startswith(f"could not write {tmp_path}:") and "\n" not in failure
    assert saving.save_failure(KeyError("not a write"), tmp_path) is None


def test_auto_resume_takes_only_the_runs_own_checkpoints(tmp_path, tiny_mistral_dir, capsys):
    (tmp_path / "a").mkdir()
    recipe = write_recipe(tmp_path / "a", tiny_mistral_dir, max_steps=2, save_steps=2, disable_tqdm=True)
    train_in_process(recipe)
    checkpoint = tmp_path / "a" / "out" / "checkpoint-2"

    (tmp_path / "b").mkdir()  # someone else's checkpoint in a fresh output_dir
    other = write_recipe(tmp_path / "b", tiny_mistral_dir, max_steps=4, save_steps=2, disable_tqdm=True)
    foreign = tmp_path / "b" / "out" / "checkpoint-2"
    shutil.copytree(checkpoint, foreign)
    capsys.readouterr()
    code, errors = failed_run(other, capsys)
    assert code == 2 and len(errors) == 1, errors
    assert f"--resume_from_checkpoint {foreign}" in errors[0] and "pickle" in errors[0], errors
    assert not (tmp_path / "b" / "out" / "modules.json").exists()

    code, errors = failed_run(recipe, capsys, "--learning_rate", "3e-4")  # the same folder, other settings
    assert code == 2 and "other model, data or training settings" in errors[0], errors

    train_in_process(recipe, "--max_steps", "4")  # the same run, extended: resumes by itself
    assert f"Resuming from {checkpoint}" in capsys.readouterr().out
    assert json.loads((tmp_path / "a" / "out" / "trainer_state.json").read_text())["global_step"] == 4

    train_in_process(other, "--resume_from_checkpoint", str(foreign))  # trusted explicitly
    assert json.loads((tmp_path / "b" / "out" / "trainer_state.json").read_text())["global_step"] == 4


def test_failed_run_leaves_no_empty_output_dir(tmp_path, tiny_mistral_dir, monkeypatch):
    from synthembed.trainer import ContrastiveTrainer

    def fails(*args, **kwargs):
        raise RuntimeError("simulated failure in the first step")

    monkeypatch.setattr(ContrastiveTrainer, "training_step", fails)
    recipe = write_recipe(tmp_path, tiny_mistral_dir, max_steps=2, save_steps=1, disable_tqdm=True)
    with pytest.raises(RuntimeError, match="simulated failure"):
        train_in_process(recipe)
    assert not (tmp_path / "out").exists()
