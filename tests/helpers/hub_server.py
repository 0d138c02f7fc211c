"""A loopback stand-in for the Hugging Face Hub (point HF_ENDPOINT at `hub.url`): answers the calls an upload makes
(create repo, validate card YAML, preupload, commit) and records them, so tests can check what would be published."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackHub:
    def __init__(self):
        self.calls: list[tuple[str, str, str | None]] = []  # (method, path, Authorization header)
        self.created: dict = {}  # the last create-repo request
        self.validated_yaml: list[str] = []  # card metadata the Hub was asked to validate
        self.files: dict[str, bytes] = {}  # path in repo -> content, over all commits
        self.commits: list[str] = []  # repo ids committed to, e.g. "models/org/name", "datasets/org/name"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> LoopbackHub:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
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

            def do_GET(self):  # noqa: N802
                hub.calls.append(("GET", self.path, self.headers.get("authorization")))
                self._send(404, {"error": "not found"})

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.calls.append(("POST", self.path, self.headers.get("authorization")))
                if self.path == "/api/repos/create":
                    hub.created = json.loads(body)
                    kind = {"dataset": "datasets/", "space": "spaces/"}.get(hub.created.get("type"), "")
                    repo = f"{hub.created.get('organization') or 'user'}/{hub.created['name']}"
                    return self._send(200, {"url": f"{hub.url}/{kind}{repo}", "name": repo})
                if self.path == "/api/validate-yaml":
                    hub.validated_yaml.append(json.loads(body).get("content", ""))
                    return self._send(200, {"errors": [], "warnings": []})
                if "/preupload/" in self.path:
                    paths = [f["path"] for f in json.loads(body)["files"]]
                    files = [{"path": p, "uploadMode": "regular", "shouldIgnore": False} for p in paths]
                    return self._send(200, {"files": files})
                match = re.match(r"/api/(models/|datasets/|spaces/)?(.+)/commit/", self.path)
                if match:
                    for line in body.decode().splitlines():
                        op = json.loads(line) if line.strip() else {}
                        if op.get("key") == "file":
                            hub.files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
                    repo = (match.group(1) or "models/") + match.group(2)
                    hub.commits.append(repo)
                    return self._send(200, {"commitUrl": f"{hub.url}/{repo}/commit/{'a' * 40}", "commitOid": "a" * 40})
                self._send(404, {"error": "no route"})

        return Handler
