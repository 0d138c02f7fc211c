"""Several endpoints: requests spread over a fleet of scripted servers over real HTTP, bad members backed off."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from contextlib import ExitStack

import pytest
from datasets import load_from_disk
from helpers.generation_server import TEST_KEY, TEST_KEY_ENV, ScriptedServer, write_config
from test_generation_run import run_main, stats_of

from data_generation.client import LLMClient
from data_generation.config import GenerationConfig
from synthembed_common.config import ConfigError


def test_fleet_with_two_broken_members_completes_every_request_once(tmp_path, monkeypatch):
    """Four endpoints, one answering every request with HTTP 500 and one hanging up: the run completes, each request
    gets exactly one 200 reply over the whole fleet, and the stats and the card name the bad endpoints."""
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    out = tmp_path / "fleet"
    with ExitStack() as stack:
        good = [stack.enter_context(ScriptedServer(latency=0.01)) for _ in range(2)]
        bad_500 = stack.enter_context(ScriptedServer(broken="500"))
        bad_close = stack.enter_context(ScriptedServer(broken="close"))
        servers = [good[0], bad_500, good[1], bad_close]
        endpoints = [{"base_url": s.base_url, "max_concurrency": 3} for s in servers]
        endpoints[2]["weight"] = 2
        config = write_config(tmp_path / "f.yaml", None, out, endpoints=endpoints, num_examples=48)
        started = time.monotonic()
        assert run_main(config) == 0
        elapsed = time.monotonic() - started
    stats = stats_of(out)
    assert stats["unfinished_requests"] == 0 and stats["rejections"] == {}
    assert len(load_from_disk(str(out / "dataset"))) == 48
    replies = Counter()
    for server in good:
        replies.update(server.completed())
    assert not bad_500.completed() and not bad_close.completed()
    store = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
    assert len(store) == len({r["key"] for r in store}) == stats["usage"]["total"]["requests"]
    assert len(replies) == len(store) and set(replies.values()) == {1}  # every request answered exactly once
    per_endpoint = stats["endpoints"]
    assert per_endpoint[bad_500.base_url]["failures"] == {"http_500": per_endpoint[bad_500.base_url]["requests"]}
    assert per_endpoint[bad_close.base_url]["failures"].get("connection_error", 0) >= 1
    for bad in (bad_500, bad_close):
        assert per_endpoint[bad.base_url]["succeeded"] == 0 and per_endpoint[bad.base_url]["circuit_openings"] >= 1
        # backed off: a handful of attempts and probes, not a share of the run's requests
        assert per_endpoint[bad.base_url]["requests"] <= 3 + 3 + int(elapsed) + 2
    for server in good:
        row = per_endpoint[server.base_url]
        assert row["failures"] == {} and row["succeeded"] == row["requests"] > 0
        assert 0.01 <= row["latency_s"]["p50"] <= row["latency_s"]["max"]
    assert sum(per_endpoint[s.base_url]["succeeded"] for s in good) == len(store)
    card = (out / "README.md").read_text()
    assert f"| {bad_500.base_url} |" in card and "http_500" in card


def test_requests_go_where_weighted_free_capacity_is_largest(monkeypatch):
    """Three endpoints, held busy: picks follow free slots x weight, an endpoint for another model is never used."""
    monkeypatch.setenv("K", "x")
    endpoints = [
        {"base_url": "http://127.0.0.1:1/v1", "max_concurrency": 4},
        {"base_url": "http://127.0.0.1:2/v1", "max_concurrency": 4, "weight": 3},
        {"base_url": "http://127.0.0.1:3/v1", "max_concurrency": 8, "model": "other"},
    ]
    config = GenerationConfig(
        endpoints=endpoints, model_mix={"m": 1, "other": 1}, api_key_env="K", output_dir="/nonexistent"
    )

    async def run():
        client = LLMClient(config)
        a, b, c = client.endpoints
        assert client.capacity == 16
        picks = [await client._acquire("m") for _ in range(8)]  # slots are held: free capacity shrinks
        assert picks.count(b) == 4 and picks.count(a) == 4 and c.in_flight == 0
        # b (weight 3) takes requests while 3 x its free slots beat a's; a gets its share once b is nearly full
        assert picks[:3] == [b, b, b]
        client._release(b)
        assert await client._acquire("m") is b
        # a failing endpoint is out for its cooldown: requests wait for the others
        for _ in range(3):
            a.failed("http_500", time.monotonic(), health=True)
        client._release(a)
        assert a.free(time.monotonic()) == 0 and a.down_until > time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await client._acquire("m")  # a is out, b full
        a.down_until = 0.0  # the cooldown is over: one probe at a time until one succeeds
        for _ in range(3):
            client._release(a)
        assert a.free(time.monotonic()) == 1
        a.succeeded(0.1)
        assert a.free(time.monotonic()) == 4 - a.in_flight
        await client.aclose()

    asyncio.run(run())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": ["http://127.0.0.1:1/v1", "localhost:2"]}, "`base_url[1]` must be an http(s) URL"),
        ({"endpoints": []}, "`endpoints` must be a non-empty list"),
        ({"endpoints": [{"base_url": "http://127.0.0.1:1/v1", "wieght": 2}]}, "`endpoints[0]` has unknown key(s)"),
        ({"endpoints": [{"model": "m"}]}, "`endpoints[0].base_url` must be an http(s) URL"),
        (
            {"endpoints": [{"base_url": "http://127.0.0.1:1/v1"}, {"base_url": "http://127.0.0.1:2/v1", "weight": 0}]},
            "`endpoints[1].weight` must be a positive number, got 0",
        ),
        (
            {"endpoints": [{"base_url": "http://127.0.0.1:1/v1", "max_concurrency": "8"}]},
            "`endpoints[0].max_concurrency` must be a positive integer",
        ),
        (
            {"endpoints": [{"base_url": "http://127.0.0.1:1/v1", "model": "x"}]},
            "`endpoints` must be an endpoint (or one without `model`) for every model asked for; none serves ['m']",
        ),
        (
            {"endpoints": [{"base_url": "https://api.example.com/v1", "api_key_env": "UNSET_KEY_XYZ"}]},
            "`endpoints[0].api_key_env` must name a set environment variable; UNSET_KEY_XYZ is not set",
        ),
        (
            {"base_url": ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"], "use_batch_api": True},
            "`use_batch_api` must be false with several endpoints",
        ),
        (
            {"base_url": "http://127.0.0.1:1/v1", "endpoints": [{"base_url": "http://127.0.0.1:2/v1"}]},
            "`base_url` must be unset when `endpoints` is given",
        ),
    ],
)
def test_endpoint_config_errors_are_one_line_naming_the_field(monkeypatch, kwargs, message):
    monkeypatch.setenv("K", "x")
    base = {"base_url": None, "model": "m", "api_key_env": "K", "output_dir": "/nonexistent"}
    with pytest.raises(ConfigError) as error:
        GenerationConfig(**{**base, **kwargs})
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
