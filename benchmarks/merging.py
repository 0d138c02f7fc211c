"""Does merging two fine-tunes on different data beat either parent? all-MiniLM-L6-v2, CPU, one table.

    python benchmarks/merging.py [--max_steps 100] [--output_dir outputs/merging]

Two parents from the same base with the same budget and settings (full fine-tune, mean pooling, InfoNCE, bare
queries), trained with the README's command: `nli` on the offline NLI triplets, `llm-pairs` on the LLM-generated
10-K question/chunk pairs (../shared/traindata, README there), 20% of whose chunks (with all their questions) are held
out. Their merges (scripts/merge_models.py: average, slerp t=0.5) and the untouched base are scored on two dev sets,
one per parent's domain, and their mean decides:

- STS-B dev (1,500 pairs, Spearman): the dev set sentence-transformers' own NLI training scripts select on;
- LLM-pairs dev (the held-out questions against all 729 chunks, nDCG@10): the pairs parent's own domain.

STSBenchmark and SICK-R test are reported next to them, never used to choose. The trained folders are evaluated at
their training length (--max_seq_length), the base at its own 256 and at that length. A rerun reuses the trained
parents and the scores already written (delete a folder to redo it). Outputs in --output_dir: results.json,
results.md and every model folder (the merged ones with cards naming their parents).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import yaml
from quality import SHARED, evaluate, merge_row, run, sts_jsonl

DEV_TASKS = ["STSBenchmarkDev", "LLMPairsDev"]
TEST_TASKS = ["STSBenchmark", "SICK-R"]
PAIRS_INSTRUCTION = "Given a question, retrieve passages from a company annual report that answer it"


def write_task(folder: Path, spec: dict, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    (folder / "task.json").write_text(json.dumps(spec, indent=2))
    return folder


def jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def prepare_data(traindata: Path, evaldata: Path, out: Path, seed: int) -> tuple[Path, Path]:
    """(the pairs parent's training rows, the dev task folder); the held-out chunks' questions never train."""
    rows = [json.loads(line) for line in (traindata / "llm-pairs/train.jsonl").open()]
    chunks = list(dict.fromkeys(r["positive"] for r in rows))
    held_out = set(random.Random(seed).sample(chunks, len(chunks) // 5))
    train = out / "llm-pairs-train.jsonl"
    train.write_text(jsonl(r for r in rows if r["positive"] not in held_out))
    ids = {chunk: f"d{i}" for i, chunk in enumerate(chunks)}
    queries = [r for r in rows if r["positive"] in held_out]
    tasks = out / "devtasks"
    common = {"split": "dev", "source": "benchmarks/merging.py"}
    write_task(
        tasks / "LLMPairsDev",
        {"name": "LLMPairsDev", "type": "Retrieval", "main_score": "ndcg_at_10", "instruction": PAIRS_INSTRUCTION}
        | common,
        {
            "corpus.jsonl": jsonl({"_id": ids[c], "title": "", "text": c} for c in chunks),
            "queries.jsonl": jsonl({"_id": f"q{i}", "text": r["query"]} for i, r in enumerate(queries)),
            "qrels/dev.tsv": "query-id\tcorpus-id\tscore\n"
            + "".join(f"q{i}\t{ids[r['positive']]}\t1\n" for i, r in enumerate(queries)),
        },
    )
    sts = sts_jsonl(evaldata / "raw/STSBenchmark/sts-dev.csv", out / "stsb-dev.jsonl")
    write_task(
        tasks / "STSBenchmarkDev",
        {"name": "STSBenchmarkDev", "type": "STS", "main_score": "cosine_spearman"} | common,
        {"dev.jsonl": sts.read_text()},
    )
    print(f"llm-pairs: {len(rows) - len(queries)} training rows, {len(queries)} dev questions, {len(chunks)} chunks")
    return train, tasks


def recipe(args, base: Path, data: Path, output_dir: Path) -> Path:
    settings = {
        "model_name_or_path": str(base),
        "pooling": "mean",
        "normalize": True,
        "dtype": "float32",
        "use_lora": False,
        "dataset_mixture": [{"path": str(data), "name": data.stem}],
        "max_seq_length": args.max_seq_length,
        "use_instructions": False,
        "output_dir": str(output_dir),
        "per_device_train_batch_size": args.batch_size // 2,  # × 2 processes
        "max_steps": args.max_steps,
        "learning_rate": args.learning_rate,
        "warmup_steps": args.max_steps // 10,
        "lr_scheduler_type": "linear",
        "temperature": 0.05,
        "num_hard_negatives": 1,
        "gather_across_devices": True,
        "save_strategy": "no",
        "logging_steps": 10,
        "report_to": "none",
        "seed": args.seed,
    }
    path = output_dir.parent / f"{output_dir.name}.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def table(results: dict) -> str:
    head = "| model | " + " | ".join(DEV_TASKS) + " | **dev mean** | " + " | ".join(f"{t} (test)" for t in TEST_TASKS)
    lines = [head + " |", "|" + "---|" * (len(DEV_TASKS) + len(TEST_TASKS) + 2)]
    for name, r in results.items():
        dev = " | ".join(f"{r['dev'][t]:.2f}" for t in DEV_TASKS)
        test = " | ".join(f"{r['test'][t]:.2f}" for t in TEST_TASKS)
        lines.append(f"| {name} | {dev} | **{r['dev_mean']:.2f}** | {test} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    from synthembed.gguf import embedded_minilm_dir

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output_dir", default="outputs/merging")
    p.add_argument("--traindata", type=Path, default=SHARED / "traindata")
    p.add_argument("--evaldata", type=Path, default=SHARED / "evaldata")
    p.add_argument("--max_steps", type=int, default=100, help="The same budget for both parents.")
    p.add_argument("--batch_size", type=int, default=32, help="Global contrastive batch (2 processes).")
    p.add_argument("--learning_rate", type=float, default=2e-5)
    p.add_argument("--max_seq_length", type=int, default=128, help="Chunks are ~600 tokens; 128 keeps a step ~5 s.")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    out = Path(args.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    base = embedded_minilm_dir()
    pairs_train, dev_tasks = prepare_data(args.traindata, args.evaldata, out, args.seed)
    data = {"nli": args.traindata / "nli/train.jsonl", "llm-pairs": pairs_train}

    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "configs/accelerate/cpu_ddp.yaml"]
    for name, path in data.items():
        if not (out / name / "synthembed_config.json").is_file():
            config = recipe(args, base, path, out / name)
            seconds = run(
                [*launcher, "--num_processes", "2", "recipes/train.py", "--config", str(config)],
                out / f"{name}.train.log",
            )
            print(f"{name}: trained in {seconds / 60:.1f} min")

    def scores(model_dir: Path, tasks_dir: Path, tasks: list[str], folder: Path, extra) -> dict:
        if (folder / "summary.json").is_file():  # scored by an earlier run of this benchmark (the models are kept)
            summary = json.loads((folder / "summary.json").read_text())
            return {t: summary["tasks"][t] for t in tasks}
        return evaluate(model_dir, tasks_dir, tasks, folder, "fp32", extra)["tasks"]

    def score(model_dir: Path, name: str, dev: dict | None = None, extra=()) -> dict:
        dev = dev or scores(model_dir, dev_tasks, DEV_TASKS, out / f"{name}.dev", extra)
        test = scores(model_dir, args.evaldata / "tasks", TEST_TASKS, out / f"{name}.test", extra)
        return {"dev": dev, "dev_mean": round(sum(dev.values()) / len(dev), 2), "test": test}

    # The trained folders are evaluated at their max_seq_length; the base at its own 256 and, to compare, at that.
    same_length = ["--max_seq_length", str(args.max_seq_length)]
    results = {"all-MiniLM-L6-v2 (base, 256 tokens)": score(base, "base")}
    results[f"all-MiniLM-L6-v2 (base, {args.max_seq_length} tokens)"] = score(base, "base-short", extra=same_length)
    for name in data:
        results[name] = score(out / name, name)
    parents = [out / name for name in data]
    for method in ("average", "slerp"):
        name = f"merge-{method}"  # the runner's merge row (scored on the dev sets), then the test sets
        results[name] = score(
            out / name, name, merge_row(name, parents, out, method, dev_tasks, DEV_TASKS, "fp32")["tasks"]
        )
    (out / "results.json").write_text(json.dumps(results, indent=2))
    markdown = table(results)
    (out / "results.md").write_text(markdown + "\n")
    print("\n" + markdown)
    return results


if __name__ == "__main__":
    main()
