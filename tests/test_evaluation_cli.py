"""scripts/evaluate.py as a user runs it: clear one-line failures, and --push_to_hub against a loopback Hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.evaluation import make_sts_task
from helpers.hub_server import LoopbackHub

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "evaluate.py"


def run_script(*args, env=None, timeout=300):
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def run_main(capsys, *args):
    """The script's main() in this process (a subprocess per case costs ~20 s of imports on a busy 2-core box)."""
    sys.path.insert(0, str(REPO / "scripts"))
    import evaluate

    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(a) for a in args])
    return exit_info.value.code, capsys.readouterr().err


def assert_one_line_failure(code, stderr, *needles):
    assert code not in (0, None)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in errors[0]


def test_unknown_task(minilm_dir, tmp_path, capsys):
    code, err = run_main(capsys, "--model_name_or_path", minilm_dir, "--tasks", "NoSuchTask", "--output_dir", tmp_path)
    assert_one_line_failure(code, err, "unknown mteb task", "NoSuchTask")


def test_malformed_local_task(minilm_dir, tmp_path, capsys):
    bad = tmp_path / "Broken"
    bad.mkdir()
    (bad / "task.json").write_text(json.dumps({"name": "Broken", "type": "STS", "main_score": "cosine_spearman"}))
    code, err = run_main(
        capsys, "--model_name_or_path", minilm_dir, "--local_tasks", bad, "--output_dir", tmp_path / "o"
    )
    assert_one_line_failure(code, err, "Broken", "test.jsonl is missing")


def test_malformed_rows(minilm_dir, tmp_path, capsys):
    task = make_sts_task(tmp_path / "Rows")
    (task / "test.jsonl").write_text('{"sentence1": "a", "score": 1}\n')
    code, err = run_main(
        capsys, "--model_name_or_path", minilm_dir, "--local_tasks", task, "--output_dir", tmp_path / "o"
    )
    assert_one_line_failure(code, err, "test.jsonl:1", "sentence2")


def test_missing_model(tmp_path, capsys):
    code, err = run_main(capsys, "--model_name_or_path", tmp_path / "nope", "--tasks", "STSBenchmark")
    assert_one_line_failure(code, err, "model not found", "nope")


def test_unknown_config_key(tmp_path, capsys):
    cfg = tmp_path / "evaluate.yaml"
    cfg.write_text("model_name_or_path: x\nbenchmrk: MTEB(eng, v1)\n")
    code, err = run_main(capsys, "--config", cfg)
    assert_one_line_failure(code, err, "benchmrk")


@pytest.mark.parametrize("recipe", sorted(REPO.glob("recipes/*/evaluate.yaml")), ids=lambda p: p.parent.name)
def test_recipes_parse(recipe):
    sys.path.insert(0, str(REPO / "scripts"))
    import evaluate

    from synthembed_common.config import parse_config

    keys = set(yaml.safe_load(recipe.read_text()))
    (args,) = parse_config([evaluate.EvaluationArguments], ["--config", str(recipe)])
    assert keys <= set(vars(args)) and (args.benchmark or args.local_tasks)


def test_push_to_hub_records_card_and_results(minilm_dir, tmp_path):
    with LoopbackHub() as hub:
        task = make_sts_task(tmp_path / "tasks" / "TinySTS")
        env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_test_token"}
        proc = run_script(
            "--model_name_or_path", minilm_dir, "--local_tasks", task, "--output_dir", tmp_path / "out",
            "--push_to_hub", "--hub_model_id", "someone/minilm-eval", env=env,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert hub.created["name"] == "minilm-eval"
    assert any("model-index:" in content for content in hub.validated_yaml)
    assert hub.commits == ["models/someone/minilm-eval"]
    commit_auth = [auth for method, path, auth in hub.calls if "/commit/" in path]
    assert commit_auth == ["Bearer hf_test_token"]
    files = hub.files
    assert {"README.md", "mteb_categories.png", "eval_results/summary.json", "eval_results/summary.md"} <= set(files)
    assert any(p.startswith("eval_results/results/") and p.endswith("TinySTS.json") for p in files)
    summary = json.loads(files["eval_results/summary.json"])
    assert "TinySTS" in summary["tasks"]
    assert f"value: {summary['tasks']['TinySTS']}" in files["README.md"].decode()
