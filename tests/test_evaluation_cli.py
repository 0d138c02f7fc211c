"""scripts/evaluate.py as a user runs it: clear one-line failures, and --push_to_hub against a loopback Hub."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from evaluation_helpers import make_sts_task

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

    from synthembed.cli import parse_config

    keys = set(yaml.safe_load(recipe.read_text()))
    (args,) = parse_config([evaluate.EvaluationArguments], ["--config", str(recipe)])
    assert keys <= set(vars(args)) and (args.benchmark or args.local_tasks)


class FakeHub(BaseHTTPRequestHandler):
    """Just enough of the Hub API for create_repo + create_commit; records what it receives."""

    log: list[dict] = []

    def _reply(self, payload, status=200):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        entry = {"path": self.path, "auth": self.headers.get("Authorization")}
        if self.path == "/api/repos/create":
            entry["json"] = json.loads(body)
            self.log.append(entry)
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            repo_id = f"{entry['json'].get('organization') or 'user'}/{entry['json']['name']}"
            return self._reply({"url": f"{base}/{repo_id}", "name": repo_id})
        if self.path == "/api/validate-yaml":  # the Hub checks README metadata before the commit
            entry["json"] = json.loads(body)
            self.log.append(entry)
            return self._reply({"errors": [], "warnings": []})
        if "/preupload/" in self.path:
            files = json.loads(body)["files"]
            self.log.append(entry)
            return self._reply(
                {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
            )
        if "/commit/" in self.path:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            entry["files"] = {
                item["value"]["path"]: base64.b64decode(item["value"]["content"])
                for item in lines
                if item["key"] == "file"
            }
            self.log.append(entry)
            repo_id = self.path.split("/api/models/", 1)[1].split("/commit/", 1)[0]
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            return self._reply({"commitUrl": f"{base}/{repo_id}/commit/{'a' * 40}", "commitOid": "a" * 40})
        self.log.append(entry)
        self._reply({"error": "not found"}, 404)

    def do_GET(self):  # noqa: N802
        self.log.append({"path": self.path, "auth": self.headers.get("Authorization")})
        self._reply({"error": "not found"}, 404)

    def log_message(self, *args):
        pass


def test_push_to_hub_records_card_and_results(minilm_dir, tmp_path):
    FakeHub.log = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        task = make_sts_task(tmp_path / "tasks" / "TinySTS")
        env = {
            "HF_HUB_OFFLINE": "0",
            "HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
            "HF_TOKEN": "hf_test_token",
        }
        proc = run_script(
            "--model_name_or_path", minilm_dir, "--local_tasks", task, "--output_dir", tmp_path / "out",
            "--push_to_hub", "--hub_model_id", "someone/minilm-eval", env=env,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-3000:]
    paths = [e["path"] for e in FakeHub.log]
    assert "/api/repos/create" in paths
    validated = next(e for e in FakeHub.log if e["path"] == "/api/validate-yaml")["json"]["content"]
    assert "model-index:" in validated
    commit = next(e for e in FakeHub.log if "/api/models/someone/minilm-eval/commit/" in e["path"])
    assert commit["auth"] == "Bearer hf_test_token"
    files = commit["files"]
    assert {"README.md", "mteb_categories.png", "eval_results/summary.json", "eval_results/summary.md"} <= set(files)
    assert any(p.startswith("eval_results/results/") and p.endswith("TinySTS.json") for p in files)
    summary = json.loads(files["eval_results/summary.json"])
    assert "TinySTS" in summary["tasks"]
    assert f"value: {summary['tasks']['TinySTS']}" in files["README.md"].decode()
