"""A scripted OpenAI-compatible server on 127.0.0.1: the stand-in LLM of the generation tests and benchmark.

Replies are canned but deterministic functions of (model, messages, seed), so two runs with the same seed get the same
answers. Faults are injected by a fixed hash of the request: transport faults (429 with Retry-After, 500, a reply
slower than the client's timeout) and malformed 200 bodies (no `choices`, no `message`, a
list) hit the first attempt only; content faults (truncated JSON, non-JSON, wrong keys,
empty reply; `mistranslate`: a translation that fails the back-translation check) hit every attempt; `broken` fails
every request (HTTP 500 or a closed connection), as a fleet member gone bad does. Ranking prompts
(data_generation.relabel) get a JSON ranking of their passage ids, by word overlap with the query or by a test's
`ranker`; corpus prompts (data_generation/modes/corpus.py) a query made of the passage's first words; translation prompts a
reversible stand-in. Every request is recorded so tests can count repeats. Also serves the small part of
the Files and Batch APIs that batch mode uses, with OpenAI's input-file rules: one model per file, at most
`batch_max_requests` lines and `batch_max_bytes` bytes (a file that breaks one fails validation, as OpenAI's does);
a batch stays in progress for `batch_seconds` after creation, so tests can see how many are in flight at once.

    python tests/helpers/scripted_server.py --port 8000 --latency 0.05 [--fault 429=0.1 ...]

`--port 0` takes a free port; the first line printed is the base_url to pass as `--base_url`. In a test:
`with ScriptedServer(faults={"500": 0.1}) as server: ... server.base_url ... server.records`.
It is not a model: replies only have the shape the paper's templates ask for.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRANSPORT_FAULTS = ("429", "500", "timeout")
CONTENT_FAULTS = ("truncated", "non_json", "wrong_keys", "empty", "mistranslate")  # the last: translations only
# A 200 whose body is not a chat completion (no `choices`, a choice without `message`, a JSON list), as a proxy or an
# overloaded server sends: first attempt only, like the transport faults.
MALFORMED_FAULTS = ("no_choices", "no_message", "list_body")
FAULTS = TRANSPORT_FAULTS + CONTENT_FAULTS + MALFORMED_FAULTS
# A broken server (one of a fleet gone bad) fails every chat request: HTTP 500, or the connection closed unanswered.
BROKEN = (None, "500", "close")

# The JSON keys each generation template asks for, written out here (not imported from templates) so the tests
# check the parser against an independent statement of the format.
REPLY_KEYS = {
    "short-long": ["user_query", "positive_document", "hard_negative_document"],
    "long-short": ["input_text", "label", "misleading_label"],
    "short-short": ["input", "positive_document"],
    "long-long": ["input", "positive_document"],
    "sts": ["S1", "S2", "S3"],
    "bitext": ["S1", "S2", "S3"],
}


def request_hash(model: str, messages: list[dict], seed) -> str:
    return hashlib.sha256(json.dumps([model, messages, seed], sort_keys=True).encode()).hexdigest()


def classify(prompt: str) -> tuple[str, str]:
    """(phase, task_type) of a prompt built from the paper's templates."""
    first = prompt.split("\n", 1)[0]
    if first.startswith(RANKING_FIRST_LINE):
        return "relabel", "ranking"
    if first.startswith("You have been given a passage"):  # data_generation/modes/corpus.py
        return "corpus", "short-long"
    if first.startswith("Translate the string values"):  # data_generation/modes/translate.py
        return "translate", ""
    if first.startswith("Brainstorm"):
        if "retrieval" in first:
            return "brainstorm", "short-long"
        if "classification" in first:
            return "brainstorm", "long-short"
        return "brainstorm", "short-short" if "very short" in first else "long-long"
    if first.startswith("You have been assigned a retrieval task"):
        return "generate", "short-long"
    if first.startswith("You have been assigned a text classification task"):
        return "generate", "long-short"
    if first.startswith("You have been assigned a text matching task"):
        return "generate", "short-short" if "very short" in prompt else "long-long"
    if "translation" in first:
        return "generate", "bitext"
    return "generate", "sts"


RANKING_FIRST_LINE = "Rank the candidate passages"  # data_generation.relabel's ranking prompt
_PASSAGE = re.compile(r"^\[(P\d+)\] (.*)$", re.M)
_QUERY = re.compile(r"^Query: (.*)$", re.M)


def ranking_prompt_parts(prompt: str) -> tuple[str, dict[str, str]]:
    """(query, {id: passage}) of a ranking prompt (one line per passage, as the scripted replies are)."""
    query = _QUERY.search(prompt)
    return (query.group(1) if query else ""), dict(_PASSAGE.findall(prompt))


def overlap_ranking(query: str, passages: dict[str, str]) -> list[str]:
    """The default scripted judgement: most words shared with the query first, ties in the listed order."""
    words = set(query.lower().split())
    return sorted(passages, key=lambda pid: -len(words & set(passages[pid].lower().split())))


def canned_reply(prompt: str, digest: str, tasks_per_brainstorm: int = 5, mistranslate: bool = False) -> str:
    phase, task_type = classify(prompt)
    if phase == "corpus":  # a task and a query made of the passage's first words (so the passage answers it)
        passage = prompt.split("<passage>\n", 1)[1].split("\n</passage>", 1)[0]
        query = "what is said about " + " ".join(passage.split()[:8])
        return json.dumps(
            {"task": f"Retrieve passages on subject {digest[:6]} that answer the query.", "user_query": query}
        )
    if phase == "translate":
        return translation_reply(prompt, digest, mistranslate)
    if phase == "brainstorm":
        return json.dumps(
            [
                f"{task_type} task {digest[:6]}-{k}: retrieve documents on subject {k}."
                for k in range(tasks_per_brainstorm)
            ]
        )
    return json.dumps({key: example_text(key, task_type, digest) for key in REPLY_KEYS[task_type]})


# Pseudo-words from these syllables make each reply's texts distinct from every other reply's (as real ones are: the
# quality gate's near-duplicate rule keeps them) without shipping a word list.
_SYLLABLES = tuple("ka lo mi ne ru ta vi so pe da fu gi ho ju be ze wa xi yo ce ma ri tu no".split())
# Reply keys written at document length (the paper's positives are 100+ words), the rest at query/sentence length.
_LONG_KEYS = {"positive_document", "hard_negative_document", "input_text"}


def example_text(key: str, task_type: str, digest: str) -> str:
    """`<key> text <digest> for the <type> example: ...` and words of the reply's topic (shared by its keys, so a
    query shares words with its own positive) plus the key's own: 12 words, or 120 for a document."""
    rng = random.Random(digest)
    topic = ["".join(rng.choices(_SYLLABLES, k=3)) for _ in range(6)]
    rng = random.Random(f"{digest}/{key}")
    own = ["".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))) for _ in range(114 if key in _LONG_KEYS else 6)]
    return f"{key} text {digest[:10]} for the {task_type} example: {' '.join(topic + own)}."


def translation_reply(prompt: str, digest: str, mistranslate: bool = False) -> str:
    """A reversible stand-in translation: into a language, each value gets a "[Language] " tag; back from it, the tag
    is removed. The `mistranslate` fault writes unrelated text instead (it fails the back-translation check)."""
    source, target = re.match(r".* from (.+) into (.+)\.$", prompt.split("\n", 1)[0]).groups()
    values = json.loads(prompt.rsplit("\n\n", 1)[1])
    tag = f"[{source}] "
    for key, text in values.items():
        text = text[len(tag) :] if text.startswith(tag) else f"[{target}] {text}"
        values[key] = f"unrelated words {digest[:8]} about the weather" if mistranslate else text
    return json.dumps(values, ensure_ascii=False)


class ScriptedServer:
    """Serves in a daemon thread of this process (`with ScriptedServer() as server:`) or, via __main__, on its own.

    `faults` maps a fault name (FAULTS) to the share of requests it hits; `records` and `attempts` log every request.
    """

    def __init__(
        self,
        latency: float = 0.0,
        faults: dict[str, float] | None = None,
        timeout_sleep: float = 1.5,
        retry_after: float = 1,
        tasks_per_brainstorm: int = 5,
        port: int = 0,
        batch_seconds: float = 0.0,
        batch_max_requests: int = 50_000,
        batch_max_bytes: int = 200_000_000,
        ranker=None,
        broken: str | None = None,
        reject_response_format: bool = False,
        keep_bodies: bool = False,
    ):
        self.latency, self.faults, self.timeout_sleep = latency, dict(faults or {}), timeout_sleep
        self.retry_after, self.tasks_per_brainstorm = retry_after, tasks_per_brainstorm
        if broken not in BROKEN:
            raise ValueError(f"broken must be one of {BROKEN}, got {broken!r}")
        self.broken = broken
        self.records: list[dict] = []
        self.bodies: list[dict] | None = [] if keep_bodies else None  # every chat request as sent, when asked
        self.auth_headers: set[str] = set()
        self.attempts: Counter = Counter()
        self.lock = threading.Lock()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_seconds, self.batch_max_requests, self.batch_max_bytes = (
            batch_seconds,
            batch_max_requests,
            batch_max_bytes,
        )
        # Ranking prompts: ranker(query, {id: passage}) -> ids best first (a test scripts the order); default overlap.
        self.ranker = ranker or overlap_ranking
        self.reject_response_format = reject_response_format  # answer 400 as OpenAI does to a schema it refuses
        self.httpd = _Server(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> ScriptedServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def fault_for(self, digest: str) -> str | None:
        u, edge = int(digest[:8], 16) / 2**32, 0.0
        for name in FAULTS:
            edge += self.faults.get(name, 0.0)
            if u < edge:
                return name
        return None

    def completed(self) -> Counter:
        """{request hash: number of 200 replies sent}."""
        return Counter(r["hash"] for r in self.records if r["status"] == 200)

    def batches_in_flight(self) -> int:
        """Most batches in progress at one moment (created, not yet reported finished), over the server's life."""
        events = []
        for batch in self.batches.values():
            events += [(batch["created"], 1), (batch["finished"] or float("inf"), -1)]
        level = peak = 0
        for _, step in sorted(events):  # a finish at the same instant as a start sorts first (-1 < 1)
            level += step
            peak = max(peak, level)
        return peak

    def chat(self, body: dict) -> tuple[int, dict, dict, float]:
        """(status, headers, json body, seconds to sleep first) for one chat completion."""
        messages, seed = body["messages"], body.get("seed")
        if self.bodies is not None:
            with self.lock:
                self.bodies.append(body)
        digest = request_hash(body["model"], messages, seed)
        with self.lock:
            self.attempts[digest] += 1
            first = self.attempts[digest] == 1
        fault = self.fault_for(digest)
        status, headers, sleep = 200, {}, self.latency
        if self.broken:
            with self.lock:
                self.records.append(
                    {"hash": digest, "status": self.broken, "fault": "broken", "time": time.monotonic()}
                )
            return (500 if self.broken == "500" else 0), {}, {"error": {"message": "broken server"}}, 0.0
        if self.reject_response_format and "response_format" in body:
            status, fault = 400, "schema"
        elif first and fault == "429":
            status, headers = 429, {"Retry-After": str(self.retry_after)}
        elif first and fault == "500":
            status = 500
        elif first and fault == "timeout":
            sleep = self.timeout_sleep
        record = {"hash": digest, "status": status, "fault": fault, "time": time.monotonic()}
        if sleep >= self.timeout_sleep:
            record["status"] = "timeout"
        malformed = first and fault in MALFORMED_FAULTS
        if malformed:
            record["status"] = "malformed"  # not a completed reply (`completed()` counts 200s)
        with self.lock:
            self.records.append(record)
        if status == 400:
            message = "Invalid schema for response_format: 'minLength' is not permitted."
            return status, headers, {"error": {"message": message, "type": "invalid_request_error"}}, sleep
        if status != 200:
            return status, headers, {"error": {"message": f"injected {fault}", "type": "server_error"}}, sleep
        prompt = messages[-1]["content"]
        if classify(prompt)[0] == "relabel":
            content = json.dumps({"ranking": self.ranker(*ranking_prompt_parts(prompt))})
        else:
            content = canned_reply(prompt, digest, self.tasks_per_brainstorm, mistranslate=fault == "mistranslate")
        finish = "stop"
        if fault == "truncated":
            content, finish = content[: len(content) // 2], "length"
        elif fault == "non_json":
            content = "Sure! Here is an example you asked for."
        elif fault == "wrong_keys":
            content = json.dumps({"question": "q", "answer": "a"})
        elif fault == "empty":
            content = ""
        reply = completion(body["model"], content, finish, len(prompt) // 4)
        if malformed:
            reply = _malformed(fault, reply)
        return 200, headers, reply, sleep


def _malformed(fault: str, reply: dict):
    """The body a MALFORMED_FAULTS fault sends instead of `reply`."""
    if fault == "no_choices":
        return {k: v for k, v in reply.items() if k != "choices"}
    if fault == "no_message":
        return {**reply, "choices": [{"index": 0, "finish_reason": "stop"}]}
    return [reply]  # list_body


def completion(model: str, content: str, finish: str, prompt_tokens: int) -> dict:
    completion_tokens = max(1, len(content) // 4)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a client opening hundreds of connections at once would see SYNs
    # dropped and retransmitted a second later, a delay no real server adds.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        """A client that hangs up mid-reply (a run stopping with requests in flight) is normal, not a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler(server: ScriptedServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: Nagle + delayed ACK adds ~40 ms

        def log_message(self, *args):
            pass

        def _send(self, status: int, payload, headers: dict | None = None, raw: bytes | None = None):
            data = raw if raw is not None else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout fault)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            server.auth_headers.add(self.headers.get("Authorization") or "")
            path = self.path.split("?")[0].rstrip("/")
            if path.endswith("/chat/completions"):
                status, headers, payload, sleep = server.chat(json.loads(raw))
                if status == 0:  # broken="close": hang up without a reply
                    self.close_connection = True
                    return None
                time.sleep(sleep)
                return self._send(status, payload, headers)
            if path.endswith("/files"):
                return self._send(200, _batch_files_upload(server, self.headers, raw))
            if path.endswith("/batches"):
                return self._send(200, _batch_create(server, json.loads(raw)))
            self._send(404, {"error": {"message": f"no route {path}"}})

        def do_GET(self):
            path = self.path.split("?")[0].rstrip("/")
            if "/files/" in path and path.endswith("/content"):
                return self._send(200, None, raw=server.files[path.split("/")[-2]])
            if "/batches/" in path:
                return self._send(200, _batch_poll(server, path.split("/")[-1]))
            if path.endswith("/batches"):
                listed = [_batch_object(i, b["status"], b["input"], b["output"]) for i, b in server.batches.items()]
                return self._send(200, {"object": "list", "data": listed, "has_more": False})
            self._send(404, {"error": {"message": f"no route {path}"}})

    return Handler


def _batch_files_upload(server: ScriptedServer, headers, raw: bytes) -> dict:
    """Multipart upload of a batch input file; the JSONL part is kept as the file's content."""
    boundary = headers["Content-Type"].split("boundary=")[1].encode()
    content = b""
    for part in raw.split(b"--" + boundary):
        if b'name="file"' in part:
            content = part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
    with server.lock:  # uploads of concurrent batches arrive on several threads
        file_id = f"file-{len(server.files)}"
        server.files[file_id] = content
    info = {"id": file_id, "object": "file", "bytes": len(content), "created_at": 0, "filename": "in.jsonl"}
    return {**info, "purpose": "batch", "status": "processed"}


def _validation_error(server: ScriptedServer, content: bytes, lines: list[dict], models: list[str]) -> str | None:
    """Why OpenAI would refuse this input file (None: it would not)."""
    if len(models) > 1:
        return f"the input file mixes models {sorted(models)}; a batch takes one model"
    if len(lines) > server.batch_max_requests:
        return f"{len(lines)} requests in one file; the limit is {server.batch_max_requests}"
    if len(content) > server.batch_max_bytes:
        return f"{len(content)} bytes in one file; the limit is {server.batch_max_bytes}"
    return None


def _batch_create(server: ScriptedServer, body: dict) -> dict:
    content = server.files[body["input_file_id"]]
    lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
    models = sorted({line["body"]["model"] for line in lines})
    with server.lock:
        batch_id = f"batch-{len(server.batches)}"
        server.batches[batch_id] = {
            "input": body["input_file_id"],
            "polls": 0,
            "output": None,
            "status": "validating",
            "error": _validation_error(server, content, lines, models),
            "models": models,
            "created": time.monotonic(),
            "finished": None,
        }
    return _batch_object(batch_id, "validating", body["input_file_id"], None)


def _batch_poll(server: ScriptedServer, batch_id: str) -> dict:
    batch = server.batches[batch_id]
    batch["polls"] += 1
    if batch["error"]:
        batch["status"], batch["finished"] = "failed", batch["finished"] or time.monotonic()
        return {
            **_batch_object(batch_id, "failed", batch["input"], None),
            "errors": {"data": [{"code": "invalid_input_file", "message": batch["error"]}]},
        }
    if batch["polls"] < 2 or time.monotonic() - batch["created"] < server.batch_seconds:
        batch["status"] = "in_progress"
        return _batch_object(batch_id, "in_progress", batch["input"], None)
    if batch["output"] is None:
        lines = []
        for line in server.files[batch["input"]].decode().splitlines():
            request = json.loads(line)
            status, _, payload, _ = server.chat(request["body"])
            response = {"status_code": status, "request_id": "req", "body": payload}
            lines.append(
                json.dumps({"id": "r", "custom_id": request["custom_id"], "response": response, "error": None})
            )
        with server.lock:
            output_id = f"file-{len(server.files)}"
            server.files[output_id] = ("\n".join(lines) + "\n").encode()
        batch["output"], batch["status"], batch["finished"] = output_id, "completed", time.monotonic()
    return _batch_object(batch_id, "completed", batch["input"], batch["output"])


def _batch_object(batch_id: str, status: str, input_id: str, output_id: str | None) -> dict:
    batch = {"id": batch_id, "object": "batch", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    files = {"input_file_id": input_id, "output_file_id": output_id, "error_file_id": None}
    return {**batch, **files, "status": status, "created_at": 0}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault", action="append", default=[], help="name=rate, e.g. 429=0.1")
    parser.add_argument("--batch_seconds", type=float, default=0.0, help="how long a batch stays in progress")
    parser.add_argument("--broken", choices=["500", "close"], help="fail every chat request this way")
    cli = parser.parse_args()
    faults = {k: float(v) for k, v in (f.split("=") for f in cli.fault)}
    srv = ScriptedServer(cli.latency, faults, port=cli.port, batch_seconds=cli.batch_seconds, broken=cli.broken)
    print(srv.base_url, flush=True)
    srv.httpd.serve_forever()
