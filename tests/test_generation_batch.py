"""Batch API mode with the paper's two-model mix (§4.1: GPT-4 + GPT-3.5-Turbo) against the scripted server over real
HTTP on 127.0.0.1: one model per input file, files cut at the request and byte limits, several batches in flight but
never more than `max_batches_in_flight`, and a SIGKILL'd run resumed by the same command without re-submitting."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import openai
import pytest
from datasets import load_from_disk
from helpers.generation_server import TEST_KEY, TEST_KEY_ENV, ScriptedServer, child_env, generate_cmd, write_config
from test_generation_run import run_main, stats_of

from data_generation.batch import request_line, split_files
from data_generation.config import GenerationConfig
from data_generation.plan import generation_requests

MIX = {"gpt-4": 0.75, "gpt-3.5-turbo": 0.25}
PRICES = {m: {"prompt": 1.0, "completion": 2.0} for m in MIX}


def _mix_config(tmp_path, base_url, out, **overrides):
    settings = {"model": None, "model_mix": MIX, "prices": PRICES, **overrides}
    return write_config(tmp_path / f"{out.name}.yaml", base_url, out, **settings)


def test_input_files_hold_one_model_each_within_both_limits(tmp_path):
    config = GenerationConfig(
        base_url="http://127.0.0.1:9/v1", model_mix=MIX, output_dir=str(tmp_path), num_examples=60, seed=3
    )
    requests, _ = generation_requests(config, {t: ["a task"] for t in ("short-long", "long-short", "short-short")})
    sizes = sorted(len(request_line(r)) + 1 for r in requests)
    max_bytes = 3 * sizes[-1]  # at most three of the longest lines: the byte limit cuts some files before 7 requests
    files = split_files(requests, max_requests=7, max_bytes=max_bytes)
    assert {model for model, _, _ in files} == set(MIX)
    for model, chunk, text in files:
        assert {r.model for r in chunk} == {model} and len(chunk) <= 7 and len(text.encode()) <= max_bytes
        assert text == "".join(request_line(r) + "\n" for r in chunk)
    assert any(len(chunk) < 7 and len(text.encode()) + sizes[0] > max_bytes for _, chunk, text in files[:-1])
    for model in MIX:  # every request exactly once, in plan order
        assert [r.key for m, c, _ in files if m == model for r in c] == [r.key for r in requests if r.model == model]
    with pytest.raises(ValueError, match="batch_max_bytes"):
        split_files(requests, max_requests=7, max_bytes=sizes[0] - 1)


def test_scripted_server_refuses_a_file_that_mixes_models(tmp_path):
    lines = [
        {"custom_id": m, "method": "POST", "url": "/v1/chat/completions", "body": {"model": m, "messages": []}}
        for m in MIX
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with ScriptedServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-local", max_retries=0)
        file_id = client.files.create(file=path.open("rb"), purpose="batch").id
        batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
        polled = client.batches.retrieve(batch.id)
    assert polled.status == "failed" and "mixes models" in polled.errors.data[0].message
    assert not server.records  # nothing was answered


def test_two_model_mix_runs_batches_concurrently_and_resumes_after_sigkill(tmp_path, monkeypatch):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    online, batch = tmp_path / "online", tmp_path / "batch"
    with ScriptedServer() as server:
        assert run_main(_mix_config(tmp_path, server.base_url, online)) == 0
    # 24 examples, ~18 gpt-4 + ~6 gpt-3.5 requests, 6 per file: 4+ generation files for 2 slots.
    settings = {"use_batch_api": True, "batch_poll_interval": 0.2, "batch_max_requests": 6, "max_batches_in_flight": 2}
    with ScriptedServer(batch_seconds=1.0) as server:
        config = _mix_config(tmp_path, server.base_url, batch, **settings)
        proc = subprocess.Popen(
            generate_cmd(config), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        state_path = batch / "batches-generate.json"
        deadline = time.monotonic() + 50
        while time.monotonic() < deadline and proc.poll() is None:
            if state_path.exists() and sum(e["batch_id"] is not None for e in json.loads(state_path.read_text())) >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # killed with two generation batches submitted and still running
        assert proc.wait() == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        assert server.batches_in_flight() == 2  # the killed run had both slots busy
        killed_state = json.loads(state_path.read_text())
        assert any(e["batch_id"] and not e.get("collected") for e in killed_state)  # left to poll, not to submit
        submitted = dict(server.batches)

        assert run_main(config, "--batch_poll_interval", "0.05") == 0

        states = [json.loads((batch / f"batches-{p}.json").read_text()) for p in ("brainstorm", "generate")]
        entries = states[0] + states[1]
        # Every input file became exactly one batch; the batches of the killed run were polled, not re-created.
        assert len(server.batches) == len(entries) == len({b["input"] for b in server.batches.values()})
        assert {e["batch_id"] for e in killed_state if e["batch_id"]} <= set(submitted)
        assert all(e["collected"] for e in entries) and max(server.completed().values()) == 1
        assert server.batches_in_flight() == 2  # concurrent, and never above the bound, across both runs
        assert all(not b["error"] and len(b["models"]) == 1 for b in server.batches.values())
        assert sorted(e["model"] for e in states[1]).count("gpt-3.5-turbo") >= 1 and len(states[1]) >= 4
    for entry in entries:  # one model per file on disk too, matching its state entry
        lines = (batch / entry["input"]).read_text().splitlines()
        assert {json.loads(line)["body"]["model"] for line in lines} == {entry["model"]}
    rows = load_from_disk(str(batch / "dataset")).to_list()
    assert rows == load_from_disk(str(online / "dataset")).to_list()
    assert {r["generator_model"] for r in rows} == set(MIX)
    a, b = stats_of(online)["usage"]["total"], stats_of(batch)["usage"]["total"]
    assert a["prompt_tokens"] == b["prompt_tokens"] and b["cost_usd"] == pytest.approx(a["cost_usd"] * 0.5)
