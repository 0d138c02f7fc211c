#!/usr/bin/env python
"""Generation client throughput against the scripted server at a fixed server latency.

Reports requests/s as a fraction of the concurrency bound (max_concurrency / latency) and client CPU seconds per
request (everything in the generator process: openai client, rate limiting, store append, validation).
The server runs in its own process so that it does not share the client's GIL.

    python benchmarks/generation_throughput.py --latency 0.1 --concurrency 8 32 64 --requests 600
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_generation.config import GenerationConfig  # noqa: E402
from data_generation.pipeline import generate  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [
        sys.executable,
        str(ROOT / "tests" / "generation_server.py"),
        "--port",
        str(port),
        "--latency",
        str(latency),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base_url}/models", timeout=1)
        except urllib.error.HTTPError:
            return proc, base_url  # 404 on /models: the server is up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("scripted server did not start")


def measure(base_url: str, concurrency: int, requests: int, seed: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = GenerationConfig(
            base_url=base_url, model="bench", api_key_env="BENCH_KEY", num_examples=requests,
            task_proportions={"sts": 1}, max_concurrency=concurrency, seed=seed, output_dir=tmp, progress=False,
        )  # fmt: skip
        wall, cpu = time.perf_counter(), time.process_time()
        result = generate(config)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert result["stats"]["unfinished_requests"] == 0 and len(result["rows"]) == requests
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()
    os.environ.setdefault("BENCH_KEY", "sk-bench")
    server, base_url = start_server(args.latency)
    try:
        measure(base_url, 4, 20, seed=0)  # warm-up: imports, connection pool
        print(
            f"scripted server latency {args.latency * 1000:.0f} ms, {args.requests} requests per point, {os.cpu_count()} CPUs"
        )
        print(f"{'concurrency':>11} {'bound req/s':>11} {'req/s':>8} {'fraction':>8} {'CPU ms/req':>10}")
        for i, c in enumerate(args.concurrency):
            wall, cpu = measure(base_url, c, args.requests, seed=i + 1)
            bound = c / args.latency
            rps = args.requests / wall
            print(f"{c:>11} {bound:>11.0f} {rps:>8.1f} {rps / bound:>8.2f} {1000 * cpu / args.requests:>10.2f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
