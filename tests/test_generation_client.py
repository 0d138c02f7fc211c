"""Client-side pieces that need no server: rate limiting, model routing, structured-output parameters."""

from __future__ import annotations

import asyncio
import time

import pytest

from data_generation.client import LLMClient
from data_generation.config import GenerationConfig
from data_generation.plan import brainstorm_requests, generation_requests
from data_generation.templates import TASK_TYPES
from synthembed_common.config import ConfigError


def test_rate_limits_burst_one_minute_then_pace(monkeypatch):
    """The client's limiters (aiolimiter): a minute's worth at once, then the rate. Only a lower bound on the wall
    clock (load can only make it slower); a token estimate over the per-minute budget is capped, not an error."""
    config = _config(monkeypatch, model="m", requests_per_minute=600, tokens_per_minute=100)

    async def run():
        client = LLMClient(config)
        started = time.monotonic()
        for _ in range(600):
            await client.rpm.acquire(1)
        burst = time.monotonic() - started
        for _ in range(5):
            await client.rpm.acquire(1)  # 10 per second after the burst
        paced = time.monotonic() - started - burst
        assert client.tpm.max_rate == 100 and client.tpm.time_period == 60
        await client.aclose()
        return burst, paced

    burst, paced = asyncio.run(run())
    assert burst < paced and paced >= 0.45


def _config(monkeypatch, **kwargs) -> GenerationConfig:
    monkeypatch.setenv("K", "x")
    base = dict(base_url="http://127.0.0.1:1/v1", api_key_env="K", num_examples=60, output_dir="/nonexistent")
    return GenerationConfig(**{**base, "task_proportions": {t: 1 for t in TASK_TYPES}, **kwargs})


def test_models_per_task_type_override_the_mix(monkeypatch):
    config = _config(monkeypatch, model_mix={"small": 1, "big": 1}, models_per_task_type={"sts": "sts-model"})
    requests, _ = generation_requests(config, {t: ["a task"] for t in TASK_TYPES})
    assert {r.model for r in requests if r.task_type == "sts"} == {"sts-model"}
    assert {r.model for r in requests if r.task_type != "sts"} == {"small", "big"}


def test_structured_output_parameters(monkeypatch):
    config = _config(monkeypatch, model="m", structured_output="json_schema", max_tokens=100, temperature=0.7)
    requests, _ = generation_requests(config, {t: ["a task"] for t in TASK_TYPES})
    params = next(r for r in requests if r.task_type == "short-long").params
    assert params["temperature"] == 0.7 and params["top_p"] == 1.0 and params["max_tokens"] == 100
    schema = params["response_format"]["json_schema"]["schema"]
    assert params["response_format"]["type"] == "json_schema" and schema["required"] == [
        "user_query",
        "positive_document",
        "hard_negative_document",
    ]
    assert "response_format" not in brainstorm_requests(config)[0].params  # OpenAI schemas need an object root
    llama = _config(monkeypatch, model="m", structured_output="json_object", schema_max_length=50)
    bs = brainstorm_requests(llama)[0].params["response_format"]
    assert bs["type"] == "json_object" and bs["schema"]["type"] == "array" and bs["schema"]["items"]["maxLength"] == 50
    plain = _config(monkeypatch, model="m", send_seed=False)
    assert generation_requests(plain, {t: ["a"] for t in TASK_TYPES})[0][0].params == {
        "temperature": 1.0,
        "top_p": 1.0,
    }


def test_config_errors_name_the_field_and_what_was_expected(monkeypatch):
    # parse_config rejects these before __post_init__; a GenerationConfig built in Python gets the same one line.
    with pytest.raises(ConfigError, match="^`structured_output` must be one of none, json_schema, json_object, got"):
        _config(monkeypatch, model="m", structured_output="grammar")
    with pytest.raises(ConfigError, match="^`dedup_on` must be one of row, query, got 'both'$"):
        _config(monkeypatch, model="m", dedup_on="both")
    with pytest.raises(ConfigError, match="^`model_mix` must be a non-empty"):
        _config(monkeypatch, model_mix={"a": 0})


def test_store_survives_a_torn_last_line(tmp_path):
    from data_generation.store import ResponseStore

    path = tmp_path / "requests.jsonl"
    with ResponseStore(path) as store:
        store.append({"key": "a", "content": "1"})
    with open(path, "a") as f:
        f.write('{"key": "b", "cont')  # the process died mid-write
    with ResponseStore(path) as store:
        assert "a" in store and "b" not in store
        store.append({"key": "b", "content": "2"})
    with ResponseStore(path) as store:
        assert store.get("b")["content"] == "2" and len(store) == 2
    assert path.read_text().count("\n") == 3  # the torn line stays, isolated on its own line
