"""The LLM client: chat completions spread over one or more OpenAI-compatible endpoints (a fleet of vLLM / llama.cpp
servers, or one API), with client-side request and token rate limits and per-endpoint statistics.

Requests go to the endpoint with the most free capacity (free slots x weight) that serves their model. An endpoint
that fails (5xx, connection errors, timeouts, unreadable replies) `FAILURES_TO_OPEN` times in a row is taken out
for a cooldown that doubles on each reopening (1 s, 2 s, ... 60 s), then gets one probe request at a time until one
succeeds; meanwhile its requests go to the others.

Online requests are posted with httpx2 (the openai client's HTTP library) rather than `openai.AsyncOpenAI`: its retry
loop is bound to one base_url, so a retry could not move to a healthy endpoint, and its request transformation and
response models cost ~1 ms of CPU per request (profiled: benchmarks/generation_throughput.md). What to retry, how
long to wait (exponential backoff with jitter, `Retry-After` / `retry-after-ms` honoured up to two minutes) and the
errors raised after the last retry are still the openai client's own (its `_should_retry`,
`_calculate_retry_timeout`, `_make_status_error_from_response`), so the pipeline sees the same `openai.APIError`s.
The Batch API (one endpoint) uses `openai.AsyncOpenAI` on the same connection pool.
"""

from __future__ import annotations

import array
import asyncio
import itertools
import json
import statistics
import time
from collections import Counter

import httpx2
import openai
from aiolimiter import AsyncLimiter
from openai._models import FinalRequestOptions

from data_generation.config import GenerationConfig

POOL_SIZE = 16  # connections per httpx2 pool
FAILURES_TO_OPEN = 3  # consecutive failures that take an endpoint out (isolated faults only cost their retry)
COOLDOWN, MAX_COOLDOWN = 1.0, 60.0  # seconds out after the first / a repeated opening


class Endpoint:
    """One server: its connection pool, capacity, circuit state and counters."""

    def __init__(self, spec: dict, config: GenerationConfig, ssl_context):
        self.base_url, self.model = spec["base_url"].rstrip("/"), spec["model"]
        self.capacity, self.weight = spec["max_concurrency"], spec["weight"]
        self.url = self.base_url + "/chat/completions"
        key = config.api_key(spec["api_key_env"])
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        # Several small pools, not one: httpcore's pool scans every connection on each request and response (3/4 of
        # the client's CPU at 256 connections, profiled); requests take the pools in turn.
        shards = -(-self.capacity // POOL_SIZE)
        per_pool = -(-self.capacity // shards) + 4
        limits = httpx2.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        self.pools = [
            httpx2.AsyncClient(limits=limits, timeout=config.request_timeout, verify=ssl_context)
            for _ in range(shards)
        ]
        self.next_pool = itertools.cycle(self.pools).__next__
        self.http = self.pools[0]
        # The openai client on the same pool: retry policy and error classes for online requests, the Batch API.
        self.openai = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=key,
            max_retries=config.max_retries,
            timeout=config.request_timeout,
            http_client=self.http,
        )
        self.in_flight = 0
        self.in_row = 0  # consecutive failures
        self.openings = 0  # consecutive openings of the circuit (the cooldown doubles with each)
        self.openings_total = 0
        self.down_until = 0.0
        self.requests = 0
        self.failures: Counter = Counter()
        self.latencies = array.array("d")  # seconds of each successful attempt (8 bytes each)

    def free(self, now: float) -> int:
        if now < self.down_until:
            return 0
        return (1 if self.in_row >= FAILURES_TO_OPEN else self.capacity) - self.in_flight  # half-open: one probe

    def failed(self, kind: str, now: float, health: bool) -> None:
        """Count a failed attempt; `health` failures (the server's fault, not the request's) may open the circuit."""
        self.failures[kind] += 1
        if not health:
            return
        self.in_row += 1
        if self.in_row >= FAILURES_TO_OPEN and now >= self.down_until:
            self.openings += 1
            self.openings_total += 1
            self.down_until = now + min(COOLDOWN * 2 ** (self.openings - 1), MAX_COOLDOWN)

    def succeeded(self, seconds: float) -> None:
        self.in_row = self.openings = 0
        self.latencies.append(seconds)

    def stats(self) -> dict:
        lat = sorted(self.latencies)
        latency = {}
        if lat:
            q = statistics.quantiles(lat, n=20, method="inclusive") if len(lat) > 1 else [lat[0]] * 19
            latency = {"mean": statistics.fmean(lat), "p50": q[9], "p95": q[18], "max": lat[-1]}
        return {
            "model": self.model,
            "requests": self.requests,
            "succeeded": len(lat),
            "failures": dict(sorted(self.failures.items())),
            "circuit_openings": self.openings_total,
            "latency_s": {k: round(v, 4) for k, v in latency.items()},
        }


class LLMClient:
    def __init__(self, config: GenerationConfig):
        self.config = config
        ssl_context = httpx2.create_ssl_context()  # one for all pools: loading the CA bundle costs ~17 ms each
        self.endpoints = [Endpoint(spec, config, ssl_context) for spec in config.resolved_endpoints()]
        self.capacity = sum(e.capacity for e in self.endpoints)  # requests in flight at once, over the fleet
        self.rpm = AsyncLimiter(config.requests_per_minute, 60) if config.requests_per_minute else None
        self.tpm = AsyncLimiter(config.tokens_per_minute, 60) if config.tokens_per_minute else None
        self.retry_options = FinalRequestOptions.construct(method="post", url="/chat/completions")
        self.changed = asyncio.Event()  # set when a slot frees up, for requests waiting on a full or failing fleet
        self.waiting = 0
        # {model: [attempts, estimated prompt tokens]} of attempts sent whose reply never came in time: the server
        # may have finished (and billed) them, so the cost report counts them apart (accounting.Ledger.add_timed_out)
        self.timed_out: dict[str, list[int]] = {}

    @property
    def openai(self) -> openai.AsyncOpenAI:
        """The openai client of the (only) endpoint, for the Batch API."""
        return self.endpoints[0].openai

    @property
    def faults(self) -> Counter:
        """Failed attempts by kind (http_429, http_500, timeout, connection_error, ...) over all endpoints."""
        return sum((e.failures for e in self.endpoints), Counter())

    def endpoint_stats(self) -> dict:
        """{base_url: stats} (`base_url#i` where one URL is listed twice, e.g. for two models)."""
        urls = Counter(e.base_url for e in self.endpoints)
        return {
            e.base_url if urls[e.base_url] == 1 else f"{e.base_url}#{i}": e.stats()
            for i, e in enumerate(self.endpoints)
        }

    def _pick(self, model: str, exclude: set) -> tuple[Endpoint | None, float | None]:
        """(the serving endpoint with the most weighted free capacity, or None and when the next one comes back)."""
        now, best, score, back = time.monotonic(), None, 0.0, None
        for e in self.endpoints:
            if e in exclude or (e.model is not None and e.model != model):
                continue
            free = e.free(now)
            if free > 0 and free * e.weight > score:
                best, score = e, free * e.weight
            elif now < e.down_until and (back is None or e.down_until < back):
                back = e.down_until
        return best, back

    async def _acquire(self, model: str, exclude: set = frozenset()) -> Endpoint:
        while True:
            endpoint, back = self._pick(model, exclude)
            if endpoint is not None:
                endpoint.in_flight += 1
                return endpoint
            self.changed.clear()
            self.waiting += 1
            try:
                async with asyncio.timeout(None if back is None else max(0.0, back - time.monotonic())):
                    await self.changed.wait()
            except TimeoutError:
                pass
            finally:
                self.waiting -= 1

    def _release(self, endpoint: Endpoint) -> None:
        endpoint.in_flight -= 1
        if self.waiting:
            self.changed.set()

    def _others_up(self, model: str, tried: set) -> bool:
        now = time.monotonic()
        return any(
            e not in tried and (e.model is None or e.model == model) and now >= e.down_until for e in self.endpoints
        )

    async def complete(self, model: str, messages: list[dict], params: dict) -> dict:
        """One chat completion -> {content, finish_reason, usage}; raises openai.APIError after the last retry."""
        if self.rpm:
            await self.rpm.acquire(1)
        if self.tpm:
            estimate = sum(len(m["content"]) for m in messages) / 4 + (params.get("max_tokens") or 1024)
            await self.tpm.acquire(min(estimate, self.tpm.max_rate))
        body = json.dumps({"model": model, "messages": messages, **params}, ensure_ascii=False).encode()
        tried = set()  # endpoints that failed this request: a retry goes to another one while any is up
        for attempt in range(self.config.max_retries + 1):
            endpoint = await self._acquire(model, tried)
            endpoint.requests += 1
            http = endpoint.next_pool()
            request = http.build_request("POST", endpoint.url, content=body, headers=endpoint.headers)
            start = time.monotonic()
            response = error = None
            try:
                response = await http.send(request)
            except httpx2.TimeoutException as e:
                error = openai.APITimeoutError(request=request)
                endpoint.failed("timeout", time.monotonic(), health=True)
                if isinstance(e, httpx2.ReadTimeout):  # sent in full (a connect or pool timeout never reached it)
                    counts = self.timed_out.setdefault(model, [0, 0])
                    counts[0] += 1
                    counts[1] += sum(len(m["content"]) for m in messages) // 4
            except httpx2.TransportError as e:
                error = openai.APIConnectionError(message=f"{type(e).__name__}: {e}", request=request)
                endpoint.failed("connection_error", time.monotonic(), health=True)
            finally:
                self._release(endpoint)
            if response is not None:
                if response.status_code == 200:
                    try:
                        result = parse_reply(json.loads(response.content))
                    except ValueError as e:  # not JSON, or no choices[0].message: retried, never stored as done
                        error = openai.APIResponseValidationError(response, None, message=f"unusable reply: {e}")
                        endpoint.failed("invalid_reply", time.monotonic(), health=True)
                    else:
                        endpoint.succeeded(time.monotonic() - start)
                        return result
                else:
                    endpoint.failed(f"http_{response.status_code}", time.monotonic(), response.status_code >= 500)
                    error = endpoint.openai._make_status_error_from_response(response)
                    if not endpoint.openai._should_retry(response):
                        raise error
            if attempt == self.config.max_retries:
                raise error
            tried.add(endpoint)
            if self._others_up(model, tried):  # retry at once elsewhere
                continue
            tried.clear()  # every endpoint failed it: back off as the openai client does, then any endpoint
            remaining = self.config.max_retries - attempt
            headers = response.headers if response is not None else None
            await asyncio.sleep(endpoint.openai._calculate_retry_timeout(remaining, self.retry_options, headers))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        for endpoint in self.endpoints:
            for pool in endpoint.pools:
                await pool.aclose()


def parse_reply(data) -> dict:
    """A chat completion body -> {content, finish_reason, usage}; ValueError for a body without choices[0].message
    (a 200 with an error object, a list, a proxy's page): such a reply is a failed attempt, not an empty answer."""
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        what = "no choices" if choice is None else "no message in choices[0]"
        raise ValueError(f"{what} (a {type(data).__name__} body)")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    return {
        "content": message.get("content"),
        "finish_reason": choice.get("finish_reason"),
        "usage": {"prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens")}
        if usage
        else None,
    }
