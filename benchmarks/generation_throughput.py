#!/usr/bin/env python
"""Generation client throughput against the scripted server at a fixed server latency.

Reports requests/s as a fraction of the concurrency bound (max_concurrency / latency) and client CPU seconds per
request (everything in the generator process: openai client, rate limiting, store append, validation).
The server (`python -m data_generation.scripted_server`) runs in its own process so that it does not share the
client's GIL.

    python benchmarks/generation_throughput.py --latency 0.1 --concurrency 8 32 64 --requests 600
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from data_generation.config import GenerationConfig
from data_generation.pipeline import generate


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    """The scripted server on a free port (it picks one and prints its base_url first)."""
    cmd = [sys.executable, "-m", "data_generation.scripted_server", "--port", "0", "--latency", str(latency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http://"):
        proc.kill()
        raise RuntimeError(f"scripted server did not start (exit status {proc.wait()})")
    return proc, base_url


def measure(base_url: str, concurrency: int, requests: int, seed: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = GenerationConfig(
            base_url=base_url,
            model="bench",
            api_key_env="BENCH_KEY",
            num_examples=requests,
            task_proportions={"sts": 1},
            max_concurrency=concurrency,
            seed=seed,
            output_dir=tmp,
            progress=False,
        )
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
        cpus = os.cpu_count()
        print(f"scripted server latency {args.latency * 1000:.0f} ms, {args.requests} requests per point, {cpus} CPUs")
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
