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


OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def run_script(*args, env=None, timeout=300, drop=()):
    full_env = {k: v for k, v in os.environ.items() if k not in drop}
    full_env.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def run_main(capsys, *args):
    """The script's main() in this process (a subprocess per case costs ~20 s of imports on a busy 2-core box)."""
    from synthembed.cli import evaluate

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


def test_hub_id_not_available_offline(tmp_path):
    """`offline: true` alone keeps the script off the network (no HF_HUB_OFFLINE in the environment)."""
    out = tmp_path / "out"
    args = ["--model_name_or_path", "someone/no-such-model", "--tasks", "STSBenchmark", "--output_dir", out]
    proc = run_script(*args, "--offline", "true", env={"HF_HOME": str(tmp_path / "hf")}, drop=OFFLINE_VARIABLES)
    assert_one_line_failure(proc.returncode, proc.stderr, "model_name_or_path", "someone/no-such-model", "offline")
    assert proc.returncode == 2 and not out.exists()
    assert "Retrying" not in proc.stderr  # huggingface_hub's retries: it tried the network


def test_local_looking_path_that_does_not_exist(tmp_path, capsys):
    code, err = run_main(capsys, "--model_name_or_path", "./outputs/no/such/model", "--tasks", "STSBenchmark")
    assert_one_line_failure(code, err, "model_name_or_path", "model not found", "./outputs/no/such/model")


def test_bad_query_template(minilm_dir, capsys):
    code, err = run_main(
        capsys,
        "--model_name_or_path",
        minilm_dir,
        "--tasks",
        "STSBenchmark",
        "--query_template",
        "{query} {instruction}",
    )
    assert_one_line_failure(code, err, "query_template")


@pytest.mark.parametrize(
    "given", ["e5", r"Instruct: {instruction}\nQuery: {query}", "Instruct: {instruction}\nQuery: {query}"]
)
def test_query_template_spellings(given):
    from synthembed.cli import evaluate
    from synthembed.model_folder import E5_TEMPLATE
    from synthembed_common.config import parse_config

    (args,) = parse_config([evaluate.EvaluationArguments], ["--model_name_or_path", "x", "--query_template", given])
    assert args.query_template == E5_TEMPLATE


def test_baseline_under_the_e5_protocol(minilm_dir, tmp_path):
    """A model without synthembed_config.json (all-MiniLM here; intfloat/e5-mistral-7b-instruct alike) evaluated
    with the E5 instruction format from the command line; its card goes to the output folder."""
    from synthembed.cli import evaluate

    task = make_sts_task(tmp_path / "tasks" / "TinySTS", n=12)
    out = tmp_path / "out"
    common = ["--model_name_or_path", str(minilm_dir), "--local_tasks", str(task), "--show_progress_bar", "false"]
    e5 = evaluate.main(
        [*common, "--output_dir", str(out), "--query_template", r"Instruct: {instruction}\nQuery: {query}"]
    )
    plain = evaluate.main([*common, "--output_dir", str(tmp_path / "plain"), "--update_model_card", "false"])
    assert e5["protocol"] == "e5-instruction" and plain["protocol"] == "plain"
    assert e5["tasks"]["TinySTS"] != plain["tasks"]["TinySTS"]
    assert (out / "README.md").is_file() and not (minilm_dir / "eval").exists()


def test_unknown_config_key(tmp_path, capsys):
    cfg = tmp_path / "evaluate.yaml"
    cfg.write_text("model_name_or_path: x\nbenchmrk: MTEB(eng, v1)\n")
    code, err = run_main(capsys, "--config", cfg)
    assert_one_line_failure(code, err, "benchmrk")


@pytest.mark.parametrize("recipe", sorted(REPO.glob("recipes/*/evaluate.yaml")), ids=lambda p: p.parent.name)
def test_recipes_parse(recipe):
    from synthembed.cli import evaluate
    from synthembed_common.config import parse_config

    keys = set(yaml.safe_load(recipe.read_text()))
    (args,) = parse_config([evaluate.EvaluationArguments], ["--config", str(recipe)])
    assert keys <= set(vars(args)) and (args.tasks or args.benchmark or args.local_tasks)


def test_push_to_hub_records_card_and_results(minilm_dir, tmp_path):
    with LoopbackHub() as hub:
        # A local copy of an mteb task: comparable, so the card carries model-index metadata for it.
        task = make_sts_task(tmp_path / "tasks" / "STSBenchmark", name="STSBenchmark", mteb_task="STSBenchmark")
        env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_test_token"}
        proc = run_script(
            "--model_name_or_path",
            minilm_dir,
            "--local_tasks",
            task,
            "--output_dir",
            tmp_path / "out",
            "--push_to_hub",
            "--hub_model_id",
            "someone/minilm-eval",
            env=env,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert hub.created["name"] == "minilm-eval"
    assert any("model-index:" in content for content in hub.validated_yaml)
    assert hub.commits == ["models/someone/minilm-eval"]
    commit_auth = [auth for method, path, auth in hub.calls if "/commit/" in path]
    assert commit_auth == ["Bearer hf_test_token"]
    files = hub.files
    assert {"README.md", "mteb_categories.png", "eval_results/summary.json", "eval_results/summary.md"} <= set(files)
    assert any(p.startswith("eval_results/results/") and p.endswith("STSBenchmark.json") for p in files)
    summary = json.loads(files["eval_results/summary.json"])
    assert "STSBenchmark" in summary["tasks"]
    assert f"value: {summary['tasks']['STSBenchmark']}" in files["README.md"].decode()
