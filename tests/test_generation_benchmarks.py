"""The generation benchmarks run as documented (a short run each): the throughput benchmark's rows all pass the
quality gate (its scripted replies once differed only by a digest and the near-duplicate rule dropped them), and the
gate benchmark times every rule on real rows."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from helpers.generation_server import child_env
from helpers.paths import EVALDATA_TASKS, REPO_ROOT, TRAINDATA


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_throughput_benchmark_prints_fraction_and_cpu_per_request():
    out = _run("benchmarks/generation_throughput.py", "--points", "8/0.05", "--endpoints", "1", "2", "--seconds", "1")
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+\d+\s+8\s+0\.05", line)]
    assert [r[0] for r in rows] == ["1", "2"], out
    for row in rows:
        fraction, cpu_ms = float(row[5]), float(row[6])
        assert 0 < fraction <= 1.05 and cpu_ms > 0, out


@pytest.mark.skipif(not (TRAINDATA / "llm-e5").exists(), reason="needs ../shared/traindata")
def test_gate_benchmark_times_each_rule_on_real_rows():
    out = _run(
        "benchmarks/generation_gate.py",
        "--datasets",
        "llm-e5",
        "--traindata",
        str(TRAINDATA),
        "--decontamination_tasks",
        str(EVALDATA_TASKS / "STSBenchmark"),
    )
    figures = [float(x) for x in next(line for line in out.splitlines() if "llm-e5" in line).split()[3:]]
    assert len(figures) == 5 and all(x > 0 for x in figures), out
    assert figures[2] > figures[1], out  # 75 languages cost more than the rows' own four
