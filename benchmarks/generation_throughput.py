#!/usr/bin/env python
"""Generation client throughput against scripted servers at a fixed server latency, on one endpoint and on a fleet.

For each point CONCURRENCY/LATENCY and each endpoint count N, N scripted servers (`python
tests/helpers/scripted_server.py`, a test double kept out of the installed packages; each its own process, so none
shares the client's GIL) answer after LATENCY seconds, and the full pipeline (`data_generation.pipeline.generate`: plan, client, store append, validation,
rows) runs CONCURRENCY requests in flight, split evenly over the N endpoints. Reported:
- fraction = measured requests/s / bound, bound = CONCURRENCY / LATENCY (no client can do better);
- CPU ms/request = the client process's CPU time (user + sys, `time.process_time()` around `generate`) / requests.

    python benchmarks/generation_throughput.py --points 32/0.2 256/2 --endpoints 1 4 --seconds 15
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from data_generation.config import GenerationConfig
from data_generation.pipeline import generate

# Run as a script, not imported: the benchmark needs no tests/ on its import path.
SCRIPTED_SERVER = Path(__file__).resolve().parents[1] / "tests" / "helpers" / "scripted_server.py"


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    """A scripted server on a free port (it picks one and prints its base_url first)."""
    cmd = [sys.executable, str(SCRIPTED_SERVER), "--port", "0", "--latency", str(latency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http://"):
        proc.kill()
        raise RuntimeError(f"scripted server did not start (exit status {proc.wait()})")
    return proc, base_url


def measure(
    urls: list[str], concurrency: int, requests: int, seed: int, decontamination_tasks: list[str] | None = None
) -> tuple[float, float]:
    """(wall seconds, client CPU seconds) of one generation run of `requests` STS examples."""
    per_endpoint = max(1, concurrency // len(urls))
    with tempfile.TemporaryDirectory() as tmp:
        config = GenerationConfig(
            endpoints=[{"base_url": url, "max_concurrency": per_endpoint} for url in urls],
            model="bench",
            api_key_env="BENCH_KEY",
            num_examples=requests,
            task_proportions={"sts": 1},
            seed=seed,
            output_dir=tmp,
            progress=False,
            # The rest of the quality gate runs as in a user's run (near-duplicates, word minimums, and
            # --decontamination_tasks); the scripted text is in no language, so lingua's cost is measured on real
            # multilingual rows by benchmarks/generation_gate.py instead.
            quality_language_check="off",
            decontamination_tasks=decontamination_tasks,
        )
        wall, cpu = time.perf_counter(), time.process_time()
        result = generate(config)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rejected = result["stats"]["rejections"]
    assert result["stats"]["unfinished_requests"] == 0 and len(result["rows"]) == requests, rejected
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", nargs="+", default=["32/0.2", "256/2"], help="CONCURRENCY/LATENCY_SECONDS")
    parser.add_argument("--endpoints", type=int, nargs="+", default=[1, 4], help="fleet sizes")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each point at the bound")
    parser.add_argument(
        "--decontamination_tasks", nargs="+", help="local task folders or MTEB names the gate checks each row against"
    )
    args = parser.parse_args()
    os.environ.setdefault("BENCH_KEY", "sk-bench")
    load = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} CPUs, load average {load:.1f}; requests per point ~ bound x {args.seconds:.0f} s (whole rounds)"
    )
    print(
        f"{'endpoints':>9} {'concurrency':>11} {'latency s':>9} {'bound req/s':>11} {'req/s':>8} {'fraction':>8} {'CPU ms/req':>10}"
    )
    seed = 0
    for point in args.points:
        concurrency, latency = int(point.split("/")[0]), float(point.split("/")[1])
        for n in args.endpoints:
            servers = [start_server(latency) for _ in range(n)]
            try:
                urls = [url for _, url in servers]
                seed += 1
                measure(urls, n, 2 * n, seed=1000 + seed)  # warm-up: imports, first connections
                bound = concurrency / latency
                requests = concurrency * max(1, round(args.seconds / latency))  # whole rounds: no half-empty last one
                wall, cpu = measure(urls, concurrency, requests, seed, args.decontamination_tasks)
                rps = requests / wall
                print(
                    f"{n:>9} {concurrency:>11} {latency:>9.2f} {bound:>11.0f} {rps:>8.1f} {rps / bound:>8.3f} "
                    f"{1000 * cpu / requests:>10.2f}",
                    flush=True,
                )
            finally:
                for proc, _ in servers:
                    proc.terminate()
                    proc.wait()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
