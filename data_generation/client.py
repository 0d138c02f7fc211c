"""The LLM client: `openai.AsyncOpenAI` against any base_url, with a concurrency bound, client-side request and token
rate limits, and counters of every HTTP fault seen on the wire.

Retries are the openai client's own (`max_retries`): exponential backoff with jitter on 408/409/429/5xx, connection
errors and timeouts, honouring `Retry-After` / `retry-after-ms` up to two minutes. The counting transport sits under
it, so each failed attempt is counted even when the retry then succeeds.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx2
import openai

from data_generation.config import GenerationConfig


class RateLimiter:
    """Token bucket: `per_minute` units per minute, bursting up to one minute's worth.

    `clock` and `sleep` are time.monotonic and asyncio.sleep; a test passes a simulated pair.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, sleep=asyncio.sleep):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.available = self.capacity
        self.clock, self.sleep = clock, sleep
        self.updated = clock()
        self.lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> None:
        amount = min(amount, self.capacity)
        async with self.lock:
            while True:
                now = self.clock()
                self.available = min(self.capacity, self.available + (now - self.updated) * self.rate)
                self.updated = now
                if self.available >= amount:
                    self.available -= amount
                    return
                await self.sleep((amount - self.available) / self.rate)


class CountingTransport(httpx2.AsyncBaseTransport):
    """Counts HTTP error statuses and timeouts per attempt, then hands the outcome back to the openai client."""

    def __init__(self, counters: Counter, max_connections: int):
        limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.inner = httpx2.AsyncHTTPTransport(limits=limits)
        self.counters = counters

    async def handle_async_request(self, request):
        try:
            response = await self.inner.handle_async_request(request)
        except httpx2.TimeoutException:
            self.counters["timeout"] += 1
            raise
        except httpx2.TransportError:
            self.counters["connection_error"] += 1
            raise
        if response.status_code >= 400:
            self.counters[f"http_{response.status_code}"] += 1
        return response

    async def aclose(self):
        await self.inner.aclose()


def make_openai(config: GenerationConfig, counters: Counter | None = None) -> openai.AsyncOpenAI:
    counters = Counter() if counters is None else counters
    transport = CountingTransport(counters, max_connections=config.max_concurrency + 4)
    http_client = openai.DefaultAsyncHttpxClient(transport=transport)
    return openai.AsyncOpenAI(
        base_url=config.base_url,
        api_key=config.api_key(),
        max_retries=config.max_retries,
        timeout=config.request_timeout,
        http_client=http_client,
    )


class LLMClient:
    def __init__(self, config: GenerationConfig):
        self.config = config
        self.faults: Counter = Counter()
        self.openai = make_openai(config, self.faults)
        self.semaphore = asyncio.Semaphore(config.max_concurrency)
        self.rpm = RateLimiter(config.requests_per_minute) if config.requests_per_minute else None
        self.tpm = RateLimiter(config.tokens_per_minute) if config.tokens_per_minute else None

    async def complete(self, model: str, messages: list[dict], params: dict) -> dict:
        """One chat completion -> {content, finish_reason, usage}; raises openai.APIError after the last retry."""
        async with self.semaphore:
            if self.rpm:
                await self.rpm.acquire(1)
            if self.tpm:
                estimate = sum(len(m["content"]) for m in messages) / 4 + (params.get("max_tokens") or 1024)
                await self.tpm.acquire(estimate)
            response = await self.openai.chat.completions.create(model=model, messages=messages, **params)
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return {
            "content": choice.message.content if choice else None,
            "finish_reason": choice.finish_reason if choice else None,
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
            if usage
            else None,
        }

    async def aclose(self) -> None:
        await self.openai.close()
