"""scripts/evaluate.py as a user runs it: clear one-line failures, and --push_to_hub against a loopback Hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.evaluation import make_retrieval_task, make_sts_task
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
    task = make_sts_task(tmp_path / "TinySTS")  # a Hub task offline and not cached is refused first (test below)
    args = ["--model_name_or_path", "someone/no-such-model", "--local_tasks", task, "--output_dir", out]
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


# ---------------------------------------------------------------------------------- issue 21: one line, not wrong
def test_qrels_naming_documents_missing_from_the_corpus(minilm_dir, tmp_path, capsys):
    """Relevant documents absent from corpus.jsonl cannot be retrieved: nDCG would be silently low."""
    task = make_retrieval_task(tmp_path / "Retr")
    qrels = task / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "q2\td9\t1\nq1\td8\t2\n")
    code, err = run_main(
        capsys, "--model_name_or_path", minilm_dir, "--local_tasks", task, "--output_dir", tmp_path / "o"
    )
    assert_one_line_failure(code, err, str(qrels), "2 of 4 document id(s) are not in corpus.jsonl", "d8, d9")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("score", ["high", "0.5", "nan"])
def test_qrels_score_that_is_not_a_grade(minilm_dir, tmp_path, capsys, score):
    task = make_retrieval_task(tmp_path / "Retr")
    qrels = task / "qrels" / "test.tsv"
    qrels.write_text(f"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t{score}\n")
    code, err = run_main(
        capsys, "--model_name_or_path", minilm_dir, "--local_tasks", task, "--output_dir", tmp_path / "o"
    )
    assert_one_line_failure(code, err, f"{qrels}:3", "`score`", repr(score))


def _no_model_load(monkeypatch):
    """Refusals below must come before anything heavy: loading the model fails the test."""
    from synthembed.evaluation import encoder

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(encoder, "E5ProtocolEncoder", refuse)


@pytest.mark.parametrize(
    "files, needle",
    [
        ({"config.json": "{}"}, "has no `model_type`"),
        ({"config.json": "not json"}, "not a valid config.json"),
        ({"modules.json": '{"a": 1}', "config.json": '{"model_type": "bert"}'}, "not a valid modules.json"),
    ],
    ids=["config-without-model-type", "config-not-json", "modules-not-a-list"],
)
def test_folder_that_is_not_a_model(tmp_path, capsys, monkeypatch, files, needle):
    _no_model_load(monkeypatch)
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    code, err = run_main(capsys, "--model_name_or_path", folder, "--local_tasks", make_sts_task(tmp_path / "t"))
    assert_one_line_failure(code, err, "model_name_or_path", needle)


def _linked_copy(source: Path, target: Path, leave_out: set[str]) -> Path:
    target.mkdir()
    for item in source.iterdir():
        if item.name not in leave_out:
            (target / item.name).symlink_to(item)
    return target


@pytest.mark.parametrize(
    "leave_out, add, missing",
    [
        # the trainer's save cut short after the weights: learning curve and weights, no modules.json nor settings
        ({"modules.json"}, "learning_curve.png", "modules.json and synthembed_config.json missing"),
        # cut short after the SentenceTransformer save, before the settings
        (set(), "learning_curve.png", "synthembed_config.json missing"),
        # a SentenceTransformer save cut short (config_sentence_transformers.json is written first, modules.json last)
        ({"modules.json"}, None, "modules.json missing"),
    ],
    ids=["weights-only", "no-settings", "no-modules"],
)
def test_incomplete_model_folder(minilm_dir, tmp_path, capsys, monkeypatch, leave_out, add, missing):
    _no_model_load(monkeypatch)
    folder = _linked_copy(minilm_dir, tmp_path / "trained", leave_out)
    if add:
        (folder / add).write_bytes(b"\x89PNG")
    code, err = run_main(capsys, "--model_name_or_path", folder, "--local_tasks", make_sts_task(tmp_path / "t"))
    assert_one_line_failure(code, err, str(folder), "incomplete model folder", missing)


def test_complete_folders_are_accepted(minilm_dir, tiny_mistral_dir):
    """A SentenceTransformer folder and a plain transformers folder lack nothing."""
    from synthembed.cli.evaluate import model_location

    assert model_location(str(minilm_dir)) == minilm_dir
    assert model_location(str(tiny_mistral_dir)) == tiny_mistral_dir


def test_mteb_task_offline_and_not_cached(minilm_dir, tmp_path, capsys, monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    _no_model_load(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    code, err = run_main(
        capsys, "--model_name_or_path", minilm_dir, "--tasks", "STSBenchmark", "--output_dir", tmp_path / "o"
    )
    assert_one_line_failure(code, err, "task STSBenchmark", "mteb/stsbenchmark-sts", "not in the local cache")
    assert "HF_HUB_OFFLINE forbids the download" in err and not (tmp_path / "o").exists()


def test_mteb_task_whose_cache_is_unusable_offline(minilm_dir, tmp_path, capsys, monkeypatch):
    """The cache check passes (a folder for the dataset exists) but mteb's load still fails offline: the same line."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    (tmp_path / "hub" / "datasets--mteb--stsbenchmark-sts").mkdir(parents=True)
    code, err = run_main(
        capsys, "--model_name_or_path", minilm_dir, "--tasks", "STSBenchmark", "--output_dir", tmp_path / "o"
    )
    assert_one_line_failure(code, err, "task STSBenchmark", "not in the local cache", "HF_HUB_OFFLINE")
