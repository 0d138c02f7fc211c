"""push_to_hub against a loopback stand-in for the Hub (HF_ENDPOINT), recording what would be published."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generation_server import TEST_KEY, ScriptedServer, child_env, generate_cmd, write_config  # noqa: E402

HUB_TOKEN = "hf_test_token_4b3a2c1d"


class FakeHub:
    """Answers the four calls an upload makes (create repo, validate card YAML, preupload, commit) and keeps files."""

    def __init__(self):
        self.calls: list[tuple[str, str, str | None]] = []
        self.created: dict = {}
        self.files: dict[str, bytes] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                hub.calls.append(("GET", self.path, self.headers.get("authorization")))
                self._send(404, {"error": "not found"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.calls.append(("POST", self.path, self.headers.get("authorization")))
                if self.path == "/api/repos/create":
                    hub.created = json.loads(body)
                    return self._send(
                        200, {"url": f"{hub.url}/datasets/{hub.created['organization']}/{hub.created['name']}"}
                    )
                if self.path == "/api/validate-yaml":
                    return self._send(200, {"errors": [], "warnings": []})
                if "/preupload/" in self.path:
                    files = json.loads(body)["files"]
                    return self._send(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                            ]
                        },
                    )
                if "/commit/" in self.path:
                    for line in body.decode().splitlines():
                        op = json.loads(line)
                        if op.get("key") == "file":
                            hub.files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
                    repo = self.path.split("/api/datasets/")[1].split("/commit/")[0]
                    return self._send(
                        200, {"commitUrl": f"{hub.url}/datasets/{repo}/commit/{'a' * 40}", "commitOid": "a" * 40}
                    )
                self._send(404, {"error": "no route"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_push_to_hub_publishes_card_chart_and_parquet(tmp_path):
    hub, out = FakeHub(), tmp_path / "run"
    try:
        with ScriptedServer() as server:
            config = write_config(tmp_path / "gen.yaml", server.base_url, out, num_examples=12, push_to_hub=True,
                                  hub_dataset_id="synth-org/e5-synthetic-test", hub_private=True)  # fmt: skip
            env = child_env(HF_ENDPOINT=hub.url, HF_TOKEN=HUB_TOKEN)
            proc = subprocess.run(generate_cmd(config), env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        hub.stop()
    assert hub.created == {"name": "e5-synthetic-test", "organization": "synth-org", "visibility": "private",
                           "type": "dataset"}  # fmt: skip
    assert all(auth == f"Bearer {HUB_TOKEN}" for method, path, auth in hub.calls if method == "POST")
    assert set(hub.files) == {"README.md", "distribution.png", "data/train-00000-of-00001.parquet"}
    card = hub.files["README.md"].decode()
    assert card == (out / "README.md").read_text()
    assert "configs:" in card and "path: data/train-*" in card and "synth-org/e5-synthetic-test" in card
    assert "| task type | requested | rows |" in card and "e5-v3-appendix-c/1" in card
    table = pq.read_table(io.BytesIO(hub.files["data/train-00000-of-00001.parquet"]))
    assert table.num_rows == 12 and "query" in table.column_names and "negative" in table.column_names
    assert hub.files["distribution.png"][:4] == b"\x89PNG"
    for name, data in hub.files.items():
        assert TEST_KEY.encode() not in data and HUB_TOKEN.encode() not in data, name
    for path in out.rglob("*"):
        if path.is_file():
            assert HUB_TOKEN.encode() not in path.read_bytes() and TEST_KEY.encode() not in path.read_bytes()
    assert TEST_KEY not in proc.stdout + proc.stderr and HUB_TOKEN not in proc.stdout + proc.stderr
