"""The shard launcher and the SLURM scripts, run for real: generate_slurm.sh's sbatch commands (printed by DRY_RUN=1)
executed in order against two scripted servers over loopback HTTP, and slurm.sh's srun command checked and parsed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections import Counter

import yaml
from datasets import load_from_disk
from helpers.generation_server import TEST_KEY, TEST_KEY_ENV, ScriptedServer, child_env, write_config
from helpers.launch import stand_in_local_datasets
from helpers.paths import REPO_ROOT
from test_generation_run import stats_of

from data_generation.cli.launch import main as launch_main
from data_generation.config import GenerationConfig
from data_generation.parsing import normalize
from data_generation.plan import brainstorm_requests
from data_generation.templates import TWO_STEP_TASK_TYPES
from synthembed.cli.train import check_before_importing_transformers

GENERATE_SLURM = REPO_ROOT / "recipes/e5-mistral-7b-instruct/generate_slurm.sh"
SLURM = REPO_ROOT / "recipes/e5-mistral-7b-instruct/slurm.sh"


def _sbatch_lines(recipe, tmp_path, num_shards: int, urls: str) -> list[list[str]]:
    env = child_env(
        DRY_RUN="1", RECIPE=str(recipe), LOG_DIR=str(tmp_path / "logs"), PYTHON=shlex.quote(os.sys.executable)
    )
    proc = subprocess.run(
        ["bash", str(GENERATE_SLURM), str(num_shards), urls], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "logs").is_dir()  # created before submission: SLURM opens --output before the job starts
    return [shlex.split(line) for line in proc.stderr.splitlines()]


def test_slurm_array_shares_one_brainstorm_fans_tasks_out_and_merges(tmp_path):
    out = tmp_path / "run"
    with ScriptedServer() as first, ScriptedServer() as second:
        recipe = write_config(tmp_path / "gen.yaml", first.base_url, out, num_examples=30)
        jobs = _sbatch_lines(recipe, tmp_path, 2, f"{first.base_url},{second.base_url}")
        assert [j[1] for j in jobs] == ["--job-name=gen-brainstorm", "--job-name=gen-shard", "--job-name=gen-merge"]
        assert "--array=0-1" in jobs[1] and "--dependency=afterok:DRYRUN-gen-brainstorm" in jobs[1]
        assert "--dependency=afterok:DRYRUN-gen-shard" in jobs[2]
        wraps = [j[j.index("--wrap") + 1] for j in jobs]
        env = child_env()

        def run(command: str, **extra: str):
            return subprocess.Popen(["bash", "-c", command], cwd=REPO_ROOT, env={**env, **extra})

        assert run(wraps[0]).wait() == 0
        shards = [run(wraps[1], SLURM_ARRAY_TASK_ID=str(i)) for i in range(2)]  # the array's tasks, at once
        assert [p.wait() for p in shards] == [0, 0]
        assert run(wraps[2]).wait() == 0
    # The brainstorm ran once for the whole run (not once per shard), on the first endpoint; shard i used endpoint i.
    config = GenerationConfig(**{**yaml.safe_load(recipe.read_text()), "stage": "brainstorm"})
    planned = len(brainstorm_requests(config))
    stores = [out / "brainstorm", *(out / f"shard-{i:05d}-of-00002" for i in range(2))]
    phases = [Counter(json.loads(line)["phase"] for line in (d / "requests.jsonl").open()) for d in stores]
    assert phases[0] == {"brainstorm": planned} and all(p["brainstorm"] == 0 < p["generate"] for p in phases[1:])
    # the brainstorm and shard 0 on the first endpoint, shard 1 on the second
    assert (len(first.records), len(second.records)) == (planned + phases[1]["generate"], phases[2]["generate"])
    assert max((first.completed() + second.completed()).values()) == 1  # no request answered twice
    tasks = json.loads((out / "brainstorm" / "tasks.json").read_text())
    for task_type in TWO_STEP_TASK_TYPES:  # deduplicated, and dealt out: each shard its own tasks, all of them used
        assert len({normalize(t) for t in tasks[task_type]}) == len(tasks[task_type])
        used = [
            {
                r["instruction"]
                for r in load_from_disk(str(out / f"shard-{i:05d}-of-00002" / "dataset"))
                if r["task_type"] == task_type
            }
            for i in range(2)
        ]
        assert used[0].isdisjoint(used[1]) and used[0] | used[1] == set(tasks[task_type])
    merged = load_from_disk(str(out / "dataset"))
    stats = stats_of(out)
    assert len(merged) == 30 and stats["brainstorm"]["calls"] == planned
    assert stats["usage"]["total"]["requests"] == len(first.records) + len(second.records)  # brainstorm billed once


def test_launcher_runs_all_steps_in_order_and_names_a_bad_field(tmp_path, capsys):
    recipe = write_config(tmp_path / "gen.yaml", "http://127.0.0.1:9/v1", tmp_path / "run")
    urls = "http://127.0.0.1:1/v1,http://127.0.0.1:2/v1"
    assert (
        launch_main(["--recipe", str(recipe), "--base_urls", urls, "--num_shards", "3", "--print_commands", "true"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and "--stage brainstorm" in lines[0] and "merge_shards.py" in lines[4]
    for i, line in enumerate(lines[1:4]):  # shard i on endpoint i mod 2
        assert f"--shard_index {i}" in line and f"127.0.0.1:{1 + i % 2}/v1" in line and "--stage generate" in line
    bad = subprocess.run(
        [
            os.sys.executable,
            str(REPO_ROOT / "scripts/launch_generation.py"),
            "--recipe",
            str(recipe),
            "--step",
            "shard",
            "--num_shards",
            "2",
            "--shard_index",
            "2",
        ],
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert (
        bad.returncode == 2 and bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "shard_index" in bad.stderr
    )


def test_a_shard_without_the_shared_brainstorm_fails_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    recipe = write_config(tmp_path / "gen.yaml", "http://127.0.0.1:9/v1", tmp_path / "run")
    cmd = [os.sys.executable, str(REPO_ROOT / "scripts/generate.py"), "--config", str(recipe), "--stage", "generate"]
    proc = subprocess.run(cmd, env=child_env(), capture_output=True, text=True)
    assert proc.returncode == 2 and "--stage brainstorm" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_slurm_sh_keeps_the_global_batch_and_its_command_parses(tmp_path, monkeypatch):
    env = {**os.environ, "DRY_RUN": "1", "MASTER_ADDR": "node-0"}
    proc = subprocess.run(
        ["bash", str(SLURM), "--max_steps", "3"],
        cwd=REPO_ROOT,
        env={**env, "SLURM_NNODES": "4"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    accelerate = shlex.split(proc.stdout.split("bash -c ", 1)[1])
    assert accelerate[accelerate.index("--num_processes") + 1] == "32"
    train_args = accelerate[accelerate.index("recipes/train.py") + 1 :]
    assert train_args[-4:] == ["--per_device_train_batch_size", "64", "--max_steps", "3"]  # 64 × 32 = 2048
    recipe = train_args.index("--config") + 1
    train_args[recipe] = str(REPO_ROOT / train_args[recipe])
    stand_in_local_datasets([REPO_ROOT / "recipes/e5-mistral-7b-instruct/train.yaml"], tmp_path)
    monkeypatch.chdir(tmp_path)
    check_before_importing_transformers(train_args)  # the recipe and the overrides parse (SystemExit otherwise)
    proc = subprocess.run(
        ["bash", str(SLURM)], cwd=REPO_ROOT, env={**env, "SLURM_NNODES": "3"}, capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: 2048") and "srun" not in proc.stdout
    assert "#SBATCH --output=logs/" not in SLURM.read_text()
