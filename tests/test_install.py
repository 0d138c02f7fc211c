"""The package as pip installs it (not editable, outside the repository): both card templates travel with it (the
top-level model_cards/, read with importlib.resources), and the console scripts run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import REPO_ROOT

PACKAGES = ("synthembed", "data_generation", "synthembed_common", "model_cards")
COMMANDS = {
    "synthembed-generate",
    "synthembed-merge-shards",
    "synthembed-train",
    "synthembed-mine",
    "synthembed-prepare-data",
    "synthembed-plan-memory",
    "synthembed-evaluate",
    "synthembed-merge-models",
}

RENDER_BOTH_CARDS = """
import pathlib, sys

site, out = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2])
import data_generation, model_cards, synthembed, synthembed_common
for module in (synthembed, data_generation, synthembed_common, model_cards):
    assert pathlib.Path(module.__file__).resolve().is_relative_to(site), module.__file__

from data_generation.card import render_card
from synthembed.model_card import render_model_card

card = render_model_card(out / "model", base_model="someone/base-model", pooling="last_token")
print(card.read_text())
usage = {"requests": 1, "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": 0.0}
rows = {"num_rows": 3, "by_task_type": {"sts": 3}, "by_language": {"English": 3}, "by_generator_model": {"gpt-4": 3},
        "bitext_pairs": {}, "unique_instructions": 1, "rows_with_negative": 0}
stats = {"rows": rows, "prompt_version": "test/1", "requested_examples": {"sts": 3},
         "brainstorm": {"calls": 0, "unique_tasks": {}, "rejections": {}},
         "usage": {"by_model": {"gpt-4": usage}, "total": usage, "by_task_type": {}}, "rejections": {}}
print(render_card(stats, {"model": "gpt-4", "seed": 1}).content)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`pip install --no-deps --target` of a copy of the sources (the build leaves nothing in the repository)."""
    root = tmp_path_factory.mktemp("install")
    src, site = root / "src", root / "site"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target"]
    proc = subprocess.run([*cmd, str(site), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return site


def run_installed(site, cwd, *argv, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_installed_copy_renders_the_model_and_dataset_cards(installed, tmp_path):
    proc = run_installed(installed, tmp_path, sys.executable, "-c", RENDER_BOTH_CARDS, str(installed), str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "someone/base-model" in proc.stdout and "last_token" in proc.stdout  # the model card
    assert "gpt-4" in proc.stdout and "task_categories" in proc.stdout  # the dataset card's front matter
    assert (tmp_path / "model" / "README.md").is_file()
    assert sorted(p.name for p in (installed / "model_cards").glob("*.j2")) == [
        "dataset_card.md.j2",
        "model_card.md.j2",
    ]
    # the scripted server is a test double (tests/helpers/scripted_server.py): no installed package ships it
    assert not list(installed.rglob("scripted_server.py"))


def test_console_scripts_run_from_the_installed_copy(installed, tmp_path):
    (dist_info,) = installed.glob("synthembed-*.dist-info")
    declared = {line.split("=")[0].strip() for line in (dist_info / "entry_points.txt").read_text().splitlines()}
    assert COMMANDS <= declared
    assert {p.name for p in (installed / "bin").iterdir()} >= COMMANDS
    proc = run_installed(installed, tmp_path, str(installed / "bin" / "synthembed-plan-memory"), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["recommended_embed_chunk_size"] == 128
    proc = run_installed(installed, tmp_path, str(installed / "bin" / "synthembed-generate"), "--help")
    assert proc.returncode == 0 and "--config FILE.yaml" in proc.stdout and "Generate E5-style" in proc.stdout
    proc = run_installed(installed, tmp_path, str(installed / "bin" / "synthembed-merge-shards"), "--output_dir", "x")
    assert proc.returncode == 2 and proc.stderr.startswith("error: `output_dir`"), proc.stderr
