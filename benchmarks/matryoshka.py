"""Does Matryoshka training keep truncated embeddings good? all-MiniLM-L6-v2 fine-tuned plainly and with Matryoshka
dims on the same data and budget, each scored at every width (and precision) on STSBenchmark, with the untrained model.

    python benchmarks/matryoshka.py [--max_steps 300] [--output_dir outputs/matryoshka]

Rows: `untrained` (all-MiniLM-L6-v2 as published), `plain` (InfoNCE at full width) and `matryoshka` (InfoNCE summed
over the prefixes 384/256/128/64): the same recipe otherwise — full fine-tune, mean pooling, no instructions, NLI
triplets from `--traindata` (premise, entailed hypothesis, contradiction as hard negative; deduplicated against the
evaluation sets), batch 32, max length 64, one process. Each model is evaluated by scripts/evaluate.py with
`--truncate_dims` and `--embedding_precisions` on the local STSBenchmark *test* copy (only evaluated, never trained
on), so the trained model's card gets the dims × precision table. Outputs in --output_dir: each model folder (card,
quantized.png), <row>.eval/ (summary, quantized.md), results.json and results.md (STS-B × 100 per width, float32,
and the loss against full width). Rows can run as separate invocations at once (`--only plain`, `--only matryoshka`);
the table is assembled from what is on disk (`--table_only` prints it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import SHARED, run  # noqa: E402 (benchmarks are scripts, not a package)

DIMS = [384, 256, 128, 64]


def recipe(model_dir: Path, traindata: Path, output_dir: Path, max_steps: int, matryoshka: bool) -> dict:
    settings = {
        "model_name_or_path": str(model_dir),
        "pooling": "mean",
        "normalize": True,
        "dtype": "float32",
        "use_lora": False,
        "dataset_mixture": [{"path": str(traindata / "nli" / "train.jsonl"), "name": "nli"}],
        "use_instructions": False,
        "max_seq_length": 64,
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 32,
        "max_steps": max_steps,
        "learning_rate": 2.0e-5,
        "lr_scheduler_type": "linear",
        "warmup_steps": max_steps // 10,
        "weight_decay": 0.01,
        "temperature": 0.05,  # sentence-transformers' MultipleNegativesRankingLoss scale 20
        "num_hard_negatives": 1,
        "embed_chunk_size": 32,  # texts length-sorted into chunks of 32: NLI sentences are short, little padding
        "logging_steps": 10,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 42,
    }
    if matryoshka:
        settings["matryoshka_dims"] = DIMS
    return settings


ROWS = ("untrained", "plain", "matryoshka")


def evaluate(model_dir: Path, evaldata: Path, out: Path, precisions: list[str]) -> None:
    cmd = [sys.executable, "scripts/evaluate.py", "--model_name_or_path", str(model_dir), "--offline", "true"]
    cmd += ["--local_tasks", str(evaldata / "tasks" / "STSBenchmark"), "--output_dir", str(out)]
    cmd += ["--truncate_dims", *map(str, DIMS[1:]), "--embedding_precisions", *precisions]
    cmd += ["--show_progress_bar", "false", "--precision", "fp32"]
    run(cmd, out.parent / f"{out.name}.log")


def collect(out: Path) -> dict:
    """Every row evaluated so far, read from disk (its eval/quantized.json, the model folder's training summary):
    rows run by separate, even concurrent, invocations end up in one table."""
    from synthembed.model_folder import read_settings

    results = {}
    for name in ROWS:
        report = out / f"{name}.eval" / "quantized.json"
        if report.is_file():
            settings = read_settings(out / name) if name != "untrained" else None
            training = (settings.training or {}) if settings else {}
            rows = json.loads(report.read_text())["rows"]
            results[name] = {
                "rows": rows,
                "train_s": training.get("train_runtime_s"),
                "steps": training.get("global_step"),
            }
    return results


def table(results: dict) -> str:
    head = "| model | steps | " + " | ".join(f"{d}d" for d in DIMS) + " | 256d − full | 64d − full | train min |"
    lines = [head, "|---|---|" + "---|" * (len(DIMS) + 3)]
    for name, r in results.items():
        by_dim = {row["dim"]: row["average"] for row in r["rows"] if row["precision"] == "float32"}
        cells = " | ".join(f"{by_dim[d]:.2f}" for d in DIMS)
        minutes = "" if r.get("train_s") is None else f"{r['train_s'] / 60:.1f}"
        steps = r.get("steps") or 0
        lines.append(
            f"| {name} | {steps} | {cells} | {by_dim[256] - by_dim[384]:+.2f} | {by_dim[64] - by_dim[384]:+.2f} "
            f"| {minutes} |"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output_dir", default="outputs/matryoshka")
    p.add_argument("--traindata", type=Path, default=SHARED / "traindata")
    p.add_argument("--evaldata", type=Path, default=SHARED / "evaldata")
    p.add_argument("--max_steps", type=int, default=300)
    p.add_argument("--precisions", nargs="+", default=["float32", "int8", "binary"])
    p.add_argument("--only", default=",".join(ROWS), help="Comma-separated rows (separate invocations may run them).")
    p.add_argument("--table_only", action="store_true", help="Only print the table of the rows already evaluated.")
    args = p.parse_args(argv)
    unknown = set(args.only.split(",")) - set(ROWS)
    if unknown:
        sys.exit(f"error: `--only`: unknown row(s) {sorted(unknown)}; expected some of {list(ROWS)}")

    from synthembed.gguf import embedded_minilm_dir

    base = embedded_minilm_dir()
    out = Path(args.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in [] if args.table_only else args.only.split(","):
        print(f"\n=== {name}", flush=True)
        model_dir = base
        if name != "untrained":
            model_dir = out / name
            config = out / f"{name}.yaml"
            settings = recipe(base, args.traindata, model_dir, args.max_steps, name == "matryoshka")
            config.write_text(yaml.safe_dump(settings, sort_keys=False))
            run([sys.executable, "recipes/train.py", "--config", str(config)], out / f"{name}.train.log")
        evaluate(model_dir, args.evaldata, out / f"{name}.eval", args.precisions)
    results = collect(out)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    markdown = table(results)
    (out / "results.md").write_text(markdown + "\n")
    print("\n" + markdown + f"\n\nresults: {out / 'results.json'}", flush=True)
    return results


if __name__ == "__main__":
    main()
