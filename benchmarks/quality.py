"""Does the recipe make a good embedder? Train and evaluate a small grid on the same data and budget, print one table.

    python benchmarks/quality.py [--only trained,untrained] [--max_steps 150] [--output_dir outputs/quality]

Every grid point is the recipe (recipes/gemma3-270m/train.yaml) with a few overrides, trained with the README's
command (`accelerate launch recipes/train.py`, 2 CPU processes by default) and evaluated with scripts/evaluate.py on
real MTEB test sets (the E5 protocol, with the prompts the folder records: the recipe leaves STS inputs bare). Rows:

- untrained: the base decoder, last-token pooling, saved exactly as a trained model would be (0 steps);
- trained: the recipe as shipped;
- e5_2024: the paper's method alone (the recipe before issue 20: no teacher, no hardness weighting, no margin mask,
  no STS-B train pairs, no multilingual rows, instructions on symmetric tasks too);
- no_<technique>: the recipe with one of its techniques off (distillation, hardness, false_negative_mask, sts_train,
  multilingual_data, biomedical_data, search_terms); sts_train_once: the STS-B train pairs once instead of twice;
  search_terms_twice: PubMedQA's single-term view twice instead of once; medquad_topics: MedQuAD's health topics
  (data/medquad) added; medquad_for_keywords: ~500 of them in place of the keyword lists' second copy;
  distill_weight_1: the teacher's term at InfoNCE's weight on every row; biomedical_distill_weight_2: at twice it on
  the PubMedQA rows too (the recipe weighs them 1);
  graded_sts: the pairs scored >= 4 once, plus half of all train pairs trained on their scores (`graded: true`);
- gor, bidirectional_mean: one technique the recipe leaves off, turned on; full_fine_tuning: every weight but the
  token embeddings trained instead of LoRA adapters (lr 5e-5);
- seed_43: the recipe with another seed (data order, LoRA init), to soup with `--merge soup=trained,seed_43`;
- mean_pooling, no_instruction, temperature_<other>: one change each (the paper's Table 5 ablations, toy scale);
- instruct_symmetric_tasks: the paper's instructions on symmetric tasks too (NLI, STS and bitext rows, the STS dev
  curve, STS and bitext evaluation), where the recipe leaves them bare;
- all-MiniLM-L6-v2: the reference row (a 22M encoder trained on a billion pairs), evaluated plainly;
- `--merge NAME=A,B[,...]` (repeatable): a row merging grid points A, B, ... with scripts/merge_models.py
  (`--merge_method average|slerp`), scored like the others (e.g. `--merge merged=trained,temperature_0.02`).

Data is the offline copy a user's Hub download stands for: `--traindata` (NLI triplets + LLM-generated pairs and
triplets, deduplicated against the evaluation sets) and the STS-B *dev* split from `--evaldata` as the dev set of
the learning curve; test sets are only evaluated, never trained on. Outputs in --output_dir: results.json,
results.md (the table), quality.png (bar chart), and each point's model folder (with its card and learning curve).
A rerun skips the points already done with the same command and tasks (`<point>.result.json`), so a killed grid
resumes; delete that file to redo a point.
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
SHARED = REPO_ROOT.parent / "shared"
RECIPE = REPO_ROOT / "recipes/gemma3-270m/train.yaml"
GPU_OVERRIDE = REPO_ROOT / "recipes/gemma3-270m/gpu.yaml"
MULTILINGUAL_STS = [f"STSBMulti-dev-{lang}" for lang in "de es fr it nl pl pt ru zh".split()]  # 9 non-English
BITEXT = [f"NTREX-{lang}-eng" for lang in "deu fra spa rus arb jpn zho-CN hin".split()]
TASKS = ["STSBenchmark", "SICK-R", "NFCorpus", *MULTILINGUAL_STS, *BITEXT]
# Table columns: one task, or the mean of a group of tasks (the groups' tasks are evaluated, then averaged).
GROUPS = {"STSBMulti dev (9 non-en)": MULTILINGUAL_STS, "NTREX bitext (8)": BITEXT}
REFERENCE = "all-MiniLM-L6-v2"
# The recipe's multilingual entries (shipped in data/stsb-multi-mt, scripts/prepare_multilingual_sts.py).
MULTILINGUAL_DATA = ("stsb_multi_sts", "stsb_multi_parallel")
BIOMEDICAL_DATA = ("pubmedqa", "pubmedqa_keywords", "pubmedqa_terms")  # data/pubmedqa, scripts/prepare_pubmedqa.py

# Offline stand-ins for the recipe's Hub datasets (see ../shared/traindata/README.md), with the recipe's instructions.
OFFLINE_INSTRUCTIONS = {
    "nli": "Given a premise, retrieve a hypothesis that is entailed by the premise",
    "llm-pairs": "Given a question, retrieve passages from a company annual report that answer it",
    "llm-e5": "Given a web search query, retrieve relevant passages that answer the query",
}


def grid(temperature: float, mixture: list[dict]) -> dict[str, list[str]]:
    """Grid point → overrides of the recipe (None: not trained). `mixture`: the recipe's offline mixture."""
    other = 0.05 if temperature != 0.05 else 0.02

    def without(*names: str) -> list[str]:
        return ["--dataset_mixture", json.dumps([e for e in mixture if e["name"] not in names])]

    def changed_entries(names: tuple[str, ...], **changes) -> list[dict]:
        return [{**e, **changes} if e["name"] in names else e for e in mixture]

    def reweighted(name: str, fraction: float) -> list[str]:
        return ["--dataset_mixture", json.dumps(changed_entries((name,), fraction=fraction))]

    def added(path: str, name: str, fraction: float, entries: list[dict] = mixture) -> list[str]:
        entry = {"path": str(REPO_ROOT / path), "name": name, "fraction": fraction}
        return ["--dataset_mixture", json.dumps([*entries, entry])]

    def graded(name: str, fraction: float) -> list[str]:
        """`name`'s pairs once, and right after them `fraction` of all its pairs trained on their scores."""
        entries = []
        for e in mixture:
            if e["name"] != name:
                entries.append(e)
                continue
            pairs = {k: v for k, v in e.items() if k not in ("min_score", "fraction")}
            entries += [{**e, "fraction": 1.0}, {**pairs, "name": "stsb_graded", "graded": True, "fraction": fraction}]
        return ["--dataset_mixture", json.dumps(entries)]

    paper_only = ["--distill_teacher", "null", "--hardness_alpha", "0", "--false_negative_margin", "null"]
    paper_only += ["--instruct_symmetric_tasks", "true"]
    return {
        "untrained": None,
        "e5_2024": [*paper_only, *without("stsb_train", *MULTILINGUAL_DATA, *BIOMEDICAL_DATA)],
        "trained": [],
        "no_distillation": ["--distill_teacher", "null"],
        "distill_weight_1": ["--distill_weight", "1"],  # the teacher's term weighing as much as InfoNCE
        # the recipe before: the PubMedQA rows at the global weight 2 too (the recipe weighs them 1)
        "biomedical_distill_weight_2": [
            "--dataset_mixture",
            json.dumps([{k: v for k, v in e.items() if k != "distill_weight"} for e in mixture]),
        ],
        "no_hardness": ["--hardness_alpha", "0"],
        "no_false_negative_mask": ["--false_negative_margin", "null"],
        "no_sts_train": without("stsb_train"),
        "no_multilingual_data": without(*MULTILINGUAL_DATA),
        "no_biomedical_data": without(*BIOMEDICAL_DATA),
        "no_search_terms": without("pubmedqa_terms"),
        "sts_train_once": reweighted("stsb_train", 1.0),
        "search_terms_twice": reweighted("pubmedqa_terms", 2.0),
        "medquad_topics": added("data/medquad/topics.jsonl", "medquad_topics", 1.0),
        # ~500 health-topic rows in place of the keyword lists' second 500: the same retrieval share
        "medquad_for_keywords": added(
            "data/medquad/topics.jsonl", "medquad_topics", 0.28, changed_entries(("pubmedqa_keywords",), fraction=1.0)
        ),
        "sts_train_thrice": reweighted("stsb_train", 3.0),
        "graded_sts": graded("stsb_train", 0.5),  # the pairs >= 4 once, and half of all pairs with CoSENT
        "distill_queries_only": ["--distill_texts", "queries"],
        "gor": ["--gor_weight", "0.1"],
        "seed_43": ["--seed", "43"],  # a soup's second ingredient: --merge soup=trained,seed_43
        "bidirectional_mean": ["--use_bidirectional_attention", "true", "--pooling", "mean"],
        "full_fine_tuning": ["--use_lora", "false", "--freeze_embeddings", "true", "--learning_rate", "5e-5"],
        "mean_pooling": ["--pooling", "mean"],
        "no_instruction": ["--use_instructions", "false"],
        "instruct_symmetric_tasks": ["--instruct_symmetric_tasks", "true"],  # the paper: instructions on both sides
        f"temperature_{other:g}": ["--temperature", str(other)],
        REFERENCE: None,
    }


def sts_jsonl(raw_csv: Path, output: Path, scale: float = 1.0) -> Path:
    """STS Benchmark pairs (an official tab-separated file) as sentence1/sentence2/score rows (score × scale)."""
    from synthembed.evaluation.local_tasks import read_sts_benchmark_csv

    rows = [{**r, "score": r["score"] * scale} for r in read_sts_benchmark_csv(raw_csv)]
    output.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return output


def untrained_or(overrides: list[str] | None) -> list[str]:
    """A grid point's recipe overrides; None (the untrained base) saves the model after 0 steps. `[]` is the recipe."""
    return ["--max_steps", "0"] if overrides is None else overrides


def offline_override(traindata, evaldata, out: Path, dev_rows: int, model: str | None, recipe: dict, teacher=None):
    """A recipe override file pointing the recipe at the embedded Gemma (or `model`), the embedded teacher and the
    offline data (STS-B train scored 0-1 like the Hub's sentence-transformers/stsb). Returns (file, mixture)."""
    import yaml

    from synthembed.gguf import embedded_gemma_dir

    symmetric = {e.get("name") for e in recipe["dataset_mixture"] if e.get("symmetric")}  # nli: as the recipe marks it
    mixture = [
        {"path": str(traindata / name / "train.jsonl"), "name": name, "instruction": instruction}
        | ({"symmetric": True} if name in symmetric else {})
        for name, instruction in OFFLINE_INSTRUCTIONS.items()
    ]
    sts_entry = next((e for e in recipe["dataset_mixture"] if e.get("name") == "stsb_train"), None)
    if sts_entry is not None:
        train = sts_jsonl(evaldata / "raw/STSBenchmark/sts-train.csv", out / "stsb-train.jsonl", 0.2)
        mixture.append({**sts_entry, "path": str(train), "split": "train"})
    for entry in recipe["dataset_mixture"]:  # the recipe's shipped files, as they are
        if (REPO_ROOT / entry["path"]).exists():
            mixture.append({**entry, "path": str(REPO_ROOT / entry["path"])})
    dev = sts_jsonl(evaldata / "raw/STSBenchmark/sts-dev.csv", out / "stsb-dev.jsonl")
    override = {
        "model_name_or_path": model or str(embedded_gemma_dir()),
        "dataset_mixture": mixture,
        # every local evaluation set (STS-B test, SICK-R, the multilingual dev sets, NTREX, NFCorpus) stands for the
        # recipe's MTEB task names; the official STS-B train split shares sentences with them
        "decontamination_tasks": [str(evaldata / "tasks")],
        "eval_datasets": [{"path": str(dev), "name": "stsb_dev", "max_rows": dev_rows}],
        "teacher_cache_dir": str(out / "teacher-cache"),  # every grid point shares the teacher's embeddings
    }
    if recipe.get("distill_teacher"):  # the Hub's all-mpnet-base-v2 → its embedded copy, unless --teacher says
        from synthembed.gguf import embedded_mpnet_dir

        override["distill_teacher"] = str(teacher or embedded_mpnet_dir())
    path = out / "offline.yaml"
    path.write_text(yaml.safe_dump(override, sort_keys=False))
    return path, mixture


def run(cmd: list[str], log: Path, threads: int = 1) -> float:
    """Run a command (output to `log`); exit with its log's tail if it fails. Returns seconds taken. `threads` per
    process: 1 for training (one process per core), every core for a single evaluation process."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TOKENIZERS_PARALLELISM": "false"}
    env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    print("$ " + " ".join(cmd), flush=True)
    start = time.time()
    with open(log, "w") as f:
        code = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    if code != 0:
        sys.exit(f"error: exit status {code}; see {log}:\n" + "".join(log.read_text().splitlines(True)[-20:]))
    return time.time() - start


def evaluate(model_dir: Path, tasks_dir: Path, tasks: list[str], out: Path, precision: str, extra=()) -> dict:
    """Scores of the local task folders `tasks` (mteb main score × 100, keyed by folder name) and seconds taken."""
    folders = [str(tasks_dir / t) for t in tasks]
    cmd = [sys.executable, "scripts/evaluate.py", "--model_name_or_path", str(model_dir), "--local_tasks", *folders]
    cmd += ["--output_dir", str(out), "--precision", precision, "--batch_size", "32", *extra]
    seconds = run(cmd, out.parent / f"{out.name}.log", threads=os.cpu_count() or 1)
    summary = json.loads((out / "summary.json").read_text())
    by_folder = {d.get("folder") or key: summary["tasks"][key] for key, d in summary["details"].items()}
    return {"tasks": {t: by_folder[t] for t in tasks}, "eval_s": round(seconds)}  # mteb main score × 100


def merge_row(name: str, parents: list[Path], out: Path, method: str, tasks_dir: Path, tasks, precision: str) -> dict:
    """Merge trained folders with the README's command and score the child like a grid point (resumes as they do)."""
    merge_cmd = [sys.executable, "scripts/merge_models.py", "--models", *map(str, parents)]
    merge_cmd += ["--output_dir", str(out / name), "--method", method]
    done = out / f"{name}.result.json"
    previous = json.loads(done.read_text()) if done.is_file() else {}
    if previous.get("merge_cmd") == merge_cmd and previous.get("eval_precision") == precision:
        if previous.get("tasks", {}).keys() == set(tasks):
            return previous
    seconds = run(merge_cmd, out / f"{name}.merge.log")
    scores = evaluate(out / name, tasks_dir, tasks, out / f"{name}.eval", precision)
    values = list(scores["tasks"].values())
    result = {**scores, "average": round(sum(values) / len(values), 2), "merge_s": round(seconds)}
    result.update(train_s=None, dev=None, merge_cmd=merge_cmd, eval_precision=precision)
    done.write_text(json.dumps(result, indent=2))
    return result


def parse_merges(specs: list[str], points) -> dict[str, list[str]]:
    """`NAME=A,B` → {NAME: [A, B]}; exits with one line for a malformed spec or a parent this run does not save."""
    merges = {}
    for spec in specs:
        name, _, parents = spec.partition("=")
        parents = [p for p in parents.split(",") if p]
        if not name or len(parents) < 2:
            sys.exit(f"error: `--merge`: expected NAME=POINT,POINT[,...], got {spec!r}")
        unknown = [p for p in parents if p not in points or p == REFERENCE]  # the reference has no folder here
        if unknown:
            sys.exit(f"error: `--merge {spec}`: {unknown} are not grid points this run saves")
        merges[name] = parents
    return merges


def dev_score(model_dir: Path) -> float | None:
    from synthembed.model_folder import read_settings

    settings = read_settings(model_dir)
    dev = ((settings.training or {}).get("dev") or {}) if settings else {}
    last = next(iter(dev.values()), {}).get("last")
    return None if last is None else round(100 * last, 2)


def teacher_seconds(model_dir: Path) -> float | None:
    """Seconds the run spent encoding with its teacher (0 when the shared cache had every text)."""
    from synthembed.model_folder import read_settings

    settings = read_settings(model_dir)
    return ((settings.training or {}) if settings else {}).get("teacher_encode_s")


def columns(scores: dict[str, float]) -> dict[str, float]:
    """A row's table columns: single tasks as they are, each complete group of GROUPS as its mean."""
    grouped = {t for members in GROUPS.values() for t in members}
    out = {t: v for t, v in scores.items() if t not in grouped}
    for name, members in GROUPS.items():
        if all(t in scores for t in members):
            out[name] = round(sum(scores[t] for t in members) / len(members), 2)
    return out


def table(results: dict) -> str:
    shown = {name: columns(r["tasks"]) for name, r in results.items()}
    heads = list(next(iter(shown.values())))
    head = f"| model | {' | '.join(heads)} | STS-B dev (last eval) | train min | teacher min |"
    lines = [head, "|" + "---|" * (len(heads) + 4)]
    for name, r in results.items():
        scores = " | ".join(f"{shown[name].get(h, float('nan')):.2f}" for h in heads)
        dev = "" if r.get("dev") is None else f"{r['dev']:.2f}"
        teacher = "" if not r.get("teacher_s") else f"{r['teacher_s'] / 60:.1f}"  # reported apart from training
        minutes = "" if r.get("train_s") is None else f"{(r['train_s'] - (r.get('teacher_s') or 0)) / 60:.1f}"
        lines.append(f"| {name} | {scores} | {dev} | {minutes} | {teacher} |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    shown = {n: columns(results[n]["tasks"]) for n in names}
    tasks = list(shown[names[0]])
    fig, ax = plt.subplots(figsize=(1.5 * len(names) + 2, 4.0), dpi=100)
    width = 0.8 / len(tasks)
    for j, task in enumerate(tasks):
        xs = [i + (j - (len(tasks) - 1) / 2) * width for i in range(len(names))]
        values = [shown[n].get(task, 0.0) for n in names]
        ax.bar(xs, values, width=width, label=task)
        for x, v in zip(xs, values):
            ax.text(x, v + 1, f"{v:.0f}", ha="center", fontsize=7)
    ax.set_xticks(range(len(names)), names, fontsize=8, rotation=15)
    ax.set_ylabel("mteb main score x100")
    ax.set_ylim(min(0, *(v for r in shown.values() for v in r.values())), 100)
    ax.legend(fontsize=8)
    ax.set_title("Gemma-3-270M trained by the recipe vs baselines, same data and budget", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output_dir", default="outputs/quality", help="Models, logs and the table go here.")
    p.add_argument("--traindata", type=Path, default=SHARED / "traindata", help="Offline training data folder.")
    p.add_argument("--evaldata", type=Path, default=SHARED / "evaldata", help="Offline MTEB data (tasks/, raw/).")
    p.add_argument("--model_name_or_path", default=None, help="Base model folder (default: the embedded Gemma).")
    p.add_argument(
        "--teacher", default=None, help="Distillation teacher folder (default: embedded all-mpnet-base-v2)."
    )
    p.add_argument("--tasks", nargs="+", default=TASKS, help="Local tasks to evaluate (folders under tasks/).")
    p.add_argument("--only", default=None, help="Comma-separated grid points (default: all).")
    p.add_argument("--config", action="append", default=[], help="Extra recipe override files (e.g. gpu.yaml).")
    p.add_argument("--gpu", action="store_true", help="The GPU variant: one GPU, recipes/gemma3-270m/gpu.yaml.")
    p.add_argument("--accelerate_config", default=None, help="Default: configs/accelerate/cpu_ddp.yaml (CPU).")
    p.add_argument("--num_processes", type=int, default=None, help="Default: 2 on CPU, 1 with --gpu.")
    p.add_argument("--eval_precision", default="fp32", help="scripts/evaluate.py --precision (bf16: ~2x on CPU).")
    p.add_argument("--dev_rows", type=int, default=None, help="STS-B dev pairs scored in training (500; GPU: 1500).")
    p.add_argument("--merge", action="append", default=[], help="NAME=A,B: a row merging grid points A and B.")
    p.add_argument("--merge_method", default="average", choices=["average", "slerp"], help="For --merge rows.")
    p.add_argument("--train_args", nargs=argparse.REMAINDER, default=[], help="Recipe overrides for every point.")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import yaml

    args = parse_args(argv)
    if args.gpu:
        args.config = [str(GPU_OVERRIDE), *args.config]
    args.num_processes = args.num_processes or (1 if args.gpu else 2)
    args.dev_rows = args.dev_rows or (1500 if args.gpu else 500)
    if args.accelerate_config is None and not args.gpu:
        args.accelerate_config = "configs/accelerate/cpu_ddp.yaml"
    recipe = {}
    for path in [RECIPE, *args.config]:
        recipe.update(yaml.safe_load(Path(path).read_text()))
    names = grid(
        float(recipe.get("temperature", 0.02)), []
    )  # the point names, to check --only and --merge before anything is written
    if args.only:
        unknown = set(args.only.split(",")) - set(names)
        if unknown:
            sys.exit(f"error: `--only`: unknown grid point(s) {sorted(unknown)}; expected some of {sorted(names)}")
    out = Path(args.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    override, mixture = offline_override(
        args.traindata, args.evaldata, out, args.dev_rows, args.model_name_or_path, recipe, args.teacher
    )
    points = grid(float(recipe.get("temperature", 0.02)), mixture)
    if args.only:
        points = {k: v for k, v in points.items() if k in args.only.split(",")}
    merges = parse_merges(args.merge, points)
    launcher = ["--num_processes", str(args.num_processes)]
    if args.accelerate_config:
        launcher = ["--config_file", args.accelerate_config, *launcher]
    configs = ["--config", str(RECIPE), *[a for c in args.config for a in ("--config", c)], "--config", str(override)]

    results = {}
    for name, overrides in points.items():
        print(f"\n=== {name}", flush=True)
        model_dir, train_cmd = out / name, None
        if name == REFERENCE:
            from synthembed.gguf import embedded_minilm_dir

            model_dir = embedded_minilm_dir()
        else:  # untrained: max_steps 0 saves the base model as the recipe would save a trained one
            train_cmd = [sys.executable, "-m", "accelerate.commands.launch", *launcher, "recipes/train.py", *configs]
            train_cmd += ["--output_dir", str(model_dir), *args.train_args, *untrained_or(overrides)]
        done = out / f"{name}.result.json"
        previous = json.loads(done.read_text()) if done.is_file() else {}
        same = previous.get("eval_precision", "fp32") == args.eval_precision and previous.get("train_cmd") == train_cmd
        if same and previous.get("tasks", {}).keys() == set(args.tasks):
            print(f"(done before, same command and tasks: {done})", flush=True)  # a rerun resumes the grid
            results[name] = previous
        else:
            seconds = run(train_cmd, out / f"{name}.train.log") if train_cmd else None
            scores = evaluate(
                model_dir, args.evaldata / "tasks", args.tasks, out / f"{name}.eval", args.eval_precision
            )
            values = list(scores["tasks"].values())
            results[name] = {
                **scores,
                "average": round(sum(values) / len(values), 2),
                "train_s": None if overrides is None else seconds,
                "dev": dev_score(model_dir),
                "teacher_s": None if overrides is None else teacher_seconds(model_dir),
                "train_cmd": train_cmd,
                "eval_precision": args.eval_precision,
            }
            done.write_text(json.dumps(results[name], indent=2))
        (out / "results.json").write_text(json.dumps(results, indent=2))
        print(table({name: results[name]}), flush=True)

    for name, parents in merges.items():
        print(f"\n=== {name} (merge of {', '.join(parents)})", flush=True)
        tasks_dir = args.evaldata / "tasks"
        parent_dirs = [out / p for p in parents]
        results[name] = merge_row(
            name, parent_dirs, out, args.merge_method, tasks_dir, args.tasks, args.eval_precision
        )
        (out / "results.json").write_text(json.dumps(results, indent=2))
        print(table({name: results[name]}), flush=True)

    markdown = table(results)
    (out / "results.md").write_text(markdown + "\n")
    plot(results, out / "quality.png")
    print("\n" + markdown + f"\n\nresults: {out / 'results.json'}; chart: {out / 'quality.png'}")
    return results


if __name__ == "__main__":
    main()
