"""End-to-end generation runs against the scripted OpenAI-compatible server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from datasets import load_from_disk
from helpers.generation_server import (
    TEST_KEY,
    TEST_KEY_ENV,
    ScriptedServer,
    child_env,
    generate_cmd,
    request_hash,
    write_config,
)
from helpers.paths import REPO_ROOT, load_module

from data_generation.output import COLUMNS
from data_generation.templates import FIXED_INSTRUCTIONS, OUTPUT_KEYS, PROMPT_VERSION, TASK_TYPES


def load_script(name: str):
    return load_module(REPO_ROOT / "scripts" / f"{name}.py", f"script_{name}")


def run_main(config: Path, *extra: str) -> int:
    return load_script("generate").main(["--config", str(config), *extra])


def stats_of(output_dir: Path) -> dict:
    return json.loads((output_dir / "generation_stats.json").read_text())


def assert_no_key(output_dir: Path, *texts: str) -> None:
    for path in output_dir.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes(), f"API key leaked into {path}"
    for text in texts:
        assert TEST_KEY not in text


def test_full_run_over_all_task_types(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "run"
    with ScriptedServer() as server:
        config = write_config(tmp_path / "gen.yaml", server.base_url, out, num_examples=36)
        assert run_main(config) == 0
    assert server.auth_headers == {f"Bearer {TEST_KEY}"}  # the key is used on the wire ...
    captured = capfd.readouterr()
    assert_no_key(out, captured.out, captured.err)  # ... and written nowhere
    ds = load_from_disk(str(out / "dataset"))
    assert ds.column_names == COLUMNS and len(ds) == 36
    rows = ds.to_list()
    for task_type in TASK_TYPES:
        typed = [r for r in rows if r["task_type"] == task_type]
        assert len(typed) == 6, task_type
        q_key, p_key, n_key = OUTPUT_KEYS[task_type]
        for r in typed:  # the scripted server writes "<json key> text <digest> for the <type> example: ..."
            assert r["query"].startswith(f"{q_key} text ") and r["positive"].startswith(f"{p_key} text ")
            assert r["negative"] is None if n_key is None else r["negative"].startswith(f"{n_key} text ")
            assert r["prompt_version"] == PROMPT_VERSION and r["generator_model"] == "scripted-model"
            placeholders = json.loads(r["placeholders"])
            if task_type == "bitext":
                assert (r["source_language"], r["target_language"]) == (
                    placeholders["src_lang"],
                    placeholders["tgt_lang"],
                )
                assert r["language"] == r["source_language"] != r["target_language"]
            else:
                assert r["source_language"] is None and r["language"] == placeholders["language"]
            if task_type in FIXED_INSTRUCTIONS:
                assert r["instruction"] == FIXED_INSTRUCTIONS[task_type]
            else:
                assert r["instruction"].startswith(f"{task_type} task ")  # a brainstormed task
    stats = stats_of(out)
    assert stats["rows"]["by_task_type"] == {t: 6 for t in TASK_TYPES}
    assert stats["rejections"] == {} and stats["unfinished_requests"] == 0
    usage = stats["usage"]
    assert usage["total"]["requests"] == 36 + stats["brainstorm"]["calls"]
    assert usage["total"]["cost_usd"] == pytest.approx(
        (usage["total"]["prompt_tokens"] * 1.0 + usage["total"]["completion_tokens"] * 2.0) / 1e6
    )
    assert set(usage["by_task_type"]) == set(TASK_TYPES) and "English" in usage["by_language"]
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "distribution.png" in card and PROMPT_VERSION in card
    assert "| short-long | 6 | 6 |" in card and "scripted-model" in card
    assert (out / "distribution.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "data" / "train-00000-of-00001.parquet").stat().st_size > 0
    tasks = json.loads((out / "tasks.json").read_text())  # the deduplicated brainstormed tasks, for inspection
    assert set(tasks) == {"short-long", "long-short", "short-short", "long-long"}


def test_fault_injection_every_class_counted_no_bad_row(tmp_path, monkeypatch):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "faults"
    faults = {"429": 0.08, "500": 0.08, "timeout": 0.06}  # transport faults: the first attempt only
    faults |= {"truncated": 0.07, "non_json": 0.07, "wrong_keys": 0.07, "empty": 0.07}  # content: every attempt
    with ScriptedServer(faults=faults, timeout_sleep=1.2, retry_after=1) as server:
        small = dict(num_examples=60, request_timeout=0.6, examples_per_task=1)
        config = write_config(tmp_path / "gen.yaml", server.base_url, out, **small)
        assert run_main(config) == 0
    stats = stats_of(out)
    seen = {r["fault"] for r in server.records if r["fault"]}
    assert seen == set(faults), f"the seed no longer exercises every fault class: {seen}"
    assert stats["http_faults"]["http_429"] >= 1 and stats["http_faults"]["http_500"] >= 1
    assert stats["http_faults"]["timeout"] >= 1 and stats["unfinished_requests"] == 0
    # Retry-After was honoured: the retry of a 429 came at least `retry_after` seconds later.
    for r in (r for r in server.records if r["status"] == 429):
        retry = next(x for x in server.records if x["hash"] == r["hash"] and x["time"] > r["time"])
        assert retry["time"] - r["time"] >= 0.95
    reasons = {**stats["rejections"]}
    for reason, n in stats["brainstorm"]["rejections"].items():
        reasons[reason] = reasons.get(reason, 0) + n
    for reason in ("truncated", "not_json", "wrong_keys", "empty_reply"):
        assert reasons.get(reason, 0) >= 1, (reason, reasons)
    ds = load_from_disk(str(out / "dataset"))
    assert len(ds) == 60 - sum(stats["rejections"].values()) and len(ds) > 20
    for row in ds:
        assert " text " in row["query"] and "Sure!" not in row["query"] and row["positive"].strip()


@pytest.mark.parametrize("batch", [False, True], ids=["online", "batch"])
def test_malformed_replies_are_retried_counted_and_never_stored_as_done(tmp_path, monkeypatch, batch):
    """A 200 without `choices`, a choice without `message`, a JSON list: failed attempts like a non-JSON body. Without
    retries (or in a batch's output) they leave their requests unfinished (exit 3, nothing stored for them); the rerun
    sends exactly those."""
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "malformed"
    faults = {"no_choices": 0.1, "no_message": 0.1, "list_body": 0.1}  # the first attempt of a request only
    with ScriptedServer(faults=faults) as server:
        mode = dict(use_batch_api=True, batch_poll_interval=0.05) if batch else {}
        config = write_config(tmp_path / "gen.yaml", server.base_url, out, num_examples=36, **mode)
        assert run_main(config, "--max_retries", "0") == 3
        malformed = [r for r in server.records if r["status"] == "malformed"]
        assert {r["fault"] for r in malformed} == set(faults), "the seed no longer exercises every malformed body"
        stats = stats_of(out)
        assert stats["unfinished_requests"] >= len(malformed)
        if not batch:
            assert stats["unfinished_requests"] == len(malformed)
            assert stats["http_faults"] == {"invalid_reply": len(malformed)}
        stored = {
            request_hash(r["request"]["model"], r["request"]["messages"], r["request"]["params"].get("seed"))
            for r in _store_lines(out / "requests.jsonl")
        }
        assert not stored & {r["hash"] for r in malformed}
        code = run_main(config)  # the rerun completes them
        for _ in range(3 if batch else 0):  # a batch is not retried: the generation requests of the tasks the rerun
            code = code and run_main(config)  # brainstormed meet first attempts (and malformed bodies) of their own
        assert code == 0
    assert max(server.completed().values()) == 1  # each request answered once: no repeats
    stats = stats_of(out)
    assert stats["unfinished_requests"] == 0 and stats["rejections"] == {}
    assert len(load_from_disk(str(out / "dataset"))) == 36


def test_requests_timed_out_after_sending_are_reported_as_possibly_billed(tmp_path, monkeypatch, capfd):
    """A reply slower than request_timeout: the server did the work (an API bills it), the client retried. The cost
    report counts those attempts apart, with their prompt tokens estimated (chars / 4) and priced."""
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "timeouts"
    # a 2 s timeout: a loaded machine must not time out an ordinary reply too (the counts below are exact)
    with ScriptedServer(faults={"timeout": 0.15}, timeout_sleep=3.0) as server:
        config = write_config(tmp_path / "gen.yaml", server.base_url, out, request_timeout=2.0)
        assert run_main(config) == 0
    timed_out = {r["hash"] for r in server.records if r["status"] == "timeout"}
    assert timed_out, "the seed no longer exercises the timeout fault"
    prompt_tokens = 0  # the scripted server's prompt_tokens: len(prompt) // 4, as the client estimates
    for record in _store_lines(out / "requests.jsonl"):
        request = record["request"]
        if request_hash(request["model"], request["messages"], request["params"].get("seed")) in timed_out:
            prompt_tokens += record["usage"]["prompt_tokens"]
    usage = stats_of(out)["usage"]
    billed = {"requests": len(timed_out), "prompt_tokens": prompt_tokens, "completion_tokens": 0}
    billed["cost_usd"] = pytest.approx(prompt_tokens * 1.0 / 1e6)  # the recipe's price: $1 per 1M prompt tokens
    assert usage["timed_out_possibly_billed"] == {"scripted-model": billed}
    assert f"{len(timed_out)} request(s) timed out after being sent and may have been billed" in capfd.readouterr().out
    assert "scripted-model: timed out, possibly billed (not in the total) | " in (out / "README.md").read_text()


def _store_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return lines


def test_sigkill_mid_run_resumes_without_repeats_and_same_dataset(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    with ScriptedServer(latency=0.05) as server:
        config = write_config(tmp_path / "a.yaml", server.base_url, killed, num_examples=60, max_concurrency=2)
        proc = subprocess.Popen(
            generate_cmd(config), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        store = killed / "requests.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (store.exists() and len(store.read_text().splitlines()) >= 20):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_before_kill = _store_lines(store)
        assert 20 <= len(done_before_kill) < 60, "the kill did not land mid-run"
        assert not (killed / "dataset").exists()
        capfd.readouterr()
        assert run_main(config) == 0  # the restart (in-process: the subprocess above already proved the kill)
        assert "will not be re-sent" in capfd.readouterr().out
    completed = server.completed()
    for record in done_before_kill:
        req = record["request"]
        assert completed[request_hash(req["model"], req["messages"], req["params"].get("seed"))] == 1
    with ScriptedServer(latency=0.0) as server2:
        config = write_config(tmp_path / "b.yaml", server2.base_url, reference, num_examples=60, max_concurrency=2)
        assert run_main(config) == 0  # the uninterrupted reference run, in-process
    assert load_from_disk(str(killed / "dataset")).to_list() == load_from_disk(str(reference / "dataset")).to_list()
    a, b = stats_of(killed), stats_of(reference)
    assert a["usage"] == b["usage"] and a["rows"] == b["rows"]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        (["--num_examples", "-5"], "`num_examples` must be a positive integer"),
        (["--base_url", "localhost:8000"], "`base_url` must be an http(s) URL"),
        (["--structured_output", "grammar"], "--structured_output/--structured-output: invalid choice: 'grammar'"),
        (["--task_proportions", "[1, 2]"], "`task_proportions` must be dict, got list [1, 2]"),
        (["--task_proportions", "{sts: 1"], "`--task_proportions` expects a YAML/JSON mapping"),
        (["--task_proportions", "{sts: 0}"], "`task_proportions` must be non-negative weights, not all zero"),
        (
            ["--api_key_env", "UNSET_KEY_VARIABLE_XYZ", "--base_url", "https://api.openai.com/v1"],
            "UNSET_KEY_VARIABLE_XYZ",
        ),
    ],
)
def test_bad_config_fails_with_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, override, needle):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "never"
    config = write_config(tmp_path / "bad.yaml", "http://127.0.0.1:9/v1", out)
    with pytest.raises(SystemExit) as exit_info:  # in-process; a real process's exit status is checked below
        run_main(config, *override)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], lines
    assert not out.exists()


PASTED_KEY = "hf_" + "a1B2c3D4e5F6" * 3  # the shape of a Hugging Face token: letters, digits and underscores
NOT_A_NAME = "`{}` must be the NAME of an environment variable that holds the key (e.g. OPENAI_API_KEY), not the key "
NOT_A_NAME += "itself; the value given is not shown, as it may be a key"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"request_timeout": float("nan")}, "`request_timeout` must be a positive, finite number of seconds, got nan"),
        ({"request_timeout": float("inf")}, "`request_timeout` must be a positive, finite number of seconds, got inf"),
        ({"request_timeout": -1}, "`request_timeout` must be a positive, finite number of seconds, got -1"),
        (  # what `quality_language_check: off`, unquoted, reads as
            {"quality_language_check": False},
            "`quality_language_check` must be one of auto, off; got False (YAML reads an unquoted off/no/false as "
            "False: quote it, quality_language_check: 'off')",
        ),
        ({"api_key_env": PASTED_KEY}, NOT_A_NAME.format("api_key_env")),
        ({"api_key_env": "sk-proj-" + PASTED_KEY}, NOT_A_NAME.format("api_key_env")),
        ({"hub_token_env": PASTED_KEY}, NOT_A_NAME.format("hub_token_env")),
        (
            {"base_url": None, "endpoints": [{"base_url": "http://127.0.0.1:9/v1", "api_key_env": PASTED_KEY}]},
            NOT_A_NAME.format("endpoints[0].api_key_env"),
        ),
    ],
    ids=["timeout-nan", "timeout-inf", "timeout-negative", "yaml-off", "hf-key", "sk-key", "hub-key", "endpoint-key"],
)
def test_bad_yaml_value_fails_with_one_line_that_never_echoes_a_key(tmp_path, monkeypatch, capsys, values, message):
    """A local server (no key needed) so that a pasted key used to pass and land in generation_config.yaml."""
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "never"
    base_url = values.pop("base_url", "http://127.0.0.1:9/v1")
    config = write_config(tmp_path / "bad.yaml", base_url, out, **values)
    with pytest.raises(SystemExit) as exit_info:
        run_main(config)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: {message}"]
    assert PASTED_KEY not in err and not out.exists()


def test_mapping_fields_take_yaml_or_json_on_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    config = write_config(tmp_path / "d.yaml", "http://127.0.0.1:9/v1", tmp_path / "dry", max_tokens=10)
    for value in ('{"sts": 1}', "{sts: 1}"):
        assert run_main(config, "--dry_run", "true", "--task_proportions", value) == 0
        printed = capsys.readouterr().out
        assert json.loads(printed[printed.index("{\n") :])["requests"] == {"generate/sts": 24}
    assert (
        run_main(config, "--dry_run=true", '--task-proportions={"bitext": 1}', "--language_weights={a: 1, b: 1}") == 0
    )
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("{\n") :])["requests"] == {"generate/bitext": 24}


def test_unknown_yaml_key_is_named_by_a_real_process(tmp_path):
    out = tmp_path / "never"
    config = write_config(tmp_path / "bad.yaml", "http://127.0.0.1:9/v1", out, num_exmaples=3)
    proc = subprocess.run(generate_cmd(config), env=child_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "num_exmaples" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_batch_api_mode_matches_online_and_resumes_after_kill(tmp_path, monkeypatch):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    online, batch = tmp_path / "online", tmp_path / "batch"
    with ScriptedServer() as server:
        assert run_main(write_config(tmp_path / "o.yaml", server.base_url, online)) == 0
    with ScriptedServer() as server:
        config = write_config(tmp_path / "b.yaml", server.base_url, batch, use_batch_api=True, batch_poll_interval=1.0)
        proc = subprocess.Popen(
            generate_cmd(config), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        state = batch / "batches-generate.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (state.exists() and '"batch_id": "batch' in state.read_text()):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # killed while polling the generation batch
        proc.wait()
        assert run_main(config, "--batch_poll_interval", "0.05") == 0
        assert len(server.batches) == 2  # one brainstorm + one generation batch: nothing re-submitted
        assert max(server.completed().values()) == 1
    assert load_from_disk(str(batch / "dataset")).to_list() == load_from_disk(str(online / "dataset")).to_list()
    a, b = stats_of(online)["usage"]["total"], stats_of(batch)["usage"]["total"]
    assert a["prompt_tokens"] == b["prompt_tokens"] and b["cost_usd"] == pytest.approx(a["cost_usd"] * 0.5)


def test_shards_are_disjoint_and_merge(tmp_path, monkeypatch):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "sharded"
    with ScriptedServer() as server:
        config = write_config(tmp_path / "s.yaml", server.base_url, out, num_examples=30)
        for i in range(2):
            assert run_main(config, "--num_shards", "2", "--shard_index", str(i)) == 0
        assert max(server.completed().values()) == 1  # no request made by both shards
    assert load_script("merge_shards").main(["--output_dir", str(out)]) == 0
    merged = load_from_disk(str(out / "dataset"))
    parts = [load_from_disk(str(out / f"shard-{i:05d}-of-00002" / "dataset")) for i in range(2)]
    assert len(merged) == 30 == sum(map(len, parts))
    stats = stats_of(out)
    assert sum(stats["requested_examples"].values()) == 30 and stats["usage"]["total"]["requests"] > 30
    (endpoint,) = stats["endpoints"].values()  # both shards used the one server: its attempts summed
    assert endpoint["succeeded"] == stats["usage"]["total"]["requests"] and endpoint["latency_s"] == {}
    assert "| short-long | 5 | 5 |" in (out / "README.md").read_text()


def test_dry_run_prints_plan_and_cost_ceiling_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "dry"
    config = write_config(tmp_path / "d.yaml", "http://127.0.0.1:9/v1", out, max_tokens=100, brainstorm_max_tokens=50)
    assert run_main(config, "--dry_run", "true") == 0
    printed = capsys.readouterr().out
    plan = json.loads(printed[printed.index("{\n") :])
    assert sum(v for k, v in plan["requests"].items() if k.startswith("generate/")) == 24
    brainstorm_calls = sum(v for k, v in plan["requests"].items() if k.startswith("brainstorm/"))
    assert plan["total"]["completion_tokens"] == 24 * 100 + brainstorm_calls * 50
    assert plan["total"]["cost_usd"] > 0 and not out.exists()
