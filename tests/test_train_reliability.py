"""Training faults lose nothing and leak nothing: a token passed as --hub_token reaches no file and no upload."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers.launch import write_recipe
from helpers.paths import REPO_ROOT

CANARY = "hf_canaryTOKEN0123456789abcdefXYZ"


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
