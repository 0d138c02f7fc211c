"""Local evaluation tasks: a folder `<Name>/` with `task.json` + data files becomes an mteb task.

Layout (as `../shared/evaldata/tasks/`): `task.json` = {"name", "type", "mteb_task", "main_score", "split", ...};
STS `test.jsonl` {sentence1, sentence2, score}; PairClassification `test.jsonl` {sentence1, sentence2, label};
Classification `train.jsonl` + `test.jsonl` {text, label}; BitextMining `test.jsonl` {sentence1, sentence2} (one
aligned pair per row, sentence1 the query side); Retrieval (BEIR) `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`.
Optional `instruction` in task.json: the E5 instruction for a task the table (Wang et al., 2024, Table 15) lacks.

When `mteb_task` names a known mteb task, that task object is used as is (its metadata, main score, evaluator
parameters such as `samples_per_label` / `n_experiments` / seed, its English subset) and only its data is replaced,
so the score is the one the Hub copy would give. `hf_subset` (with `mteb_task`) names the subset the files hold, and
with it the language mteb records (STS17 `de-en`, NTREXBitextMining `deu_Latn-eng_Latn`); without it the English
subset is taken. Folders holding different subsets of one mteb task become one task with those subsets
(`load_local_tasks`), as the Hub task evaluated on them would be: one result file, a score per subset. Otherwise a
task is built from `task.json` on mteb's abstract task class for the type. Either way mteb's own evaluator computes
the metrics; nothing is downloaded.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from datasets import Dataset, DatasetDict

from synthembed.evaluation.summary import ENGLISH_SUBSETS

TYPES = ("STS", "PairClassification", "Classification", "Retrieval", "BitextMining")
REQUIRED_KEYS = ("name", "type", "main_score")
FILES = {
    "STS": ("{split}.jsonl",),
    "BitextMining": ("{split}.jsonl",),
    "PairClassification": ("{split}.jsonl",),
    "Classification": ("train.jsonl", "{split}.jsonl"),
    "Retrieval": ("corpus.jsonl", "queries.jsonl", "qrels/{split}.tsv"),
}
COLUMNS = {
    "STS": ("sentence1", "sentence2", "score"),
    "BitextMining": ("sentence1", "sentence2"),
    "PairClassification": ("sentence1", "sentence2", "label"),
    "Classification": ("text", "label"),
}


class LocalTaskError(ValueError):
    """A local task folder is malformed; the message names the folder and what is wrong."""


def read_sts_benchmark_csv(path: str | Path) -> list[dict]:
    """An official STS Benchmark file (sts-train/dev/test.csv) as {sentence1, sentence2, score} rows (score 0-5), read as
    MTEB's copy was made: each line split on tabs (genre, file, years, id, score, sentence1, sentence2, then source
    columns on some lines), quote characters kept as text. A csv reader would treat `"` as quoting and merge or alter
    40-odd test pairs."""
    rows = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), 1):
        if not line:
            continue
        fields = line.split("\t")
        try:
            rows.append({"sentence1": fields[5], "sentence2": fields[6], "score": float(fields[4])})
        except (IndexError, ValueError):
            raise LocalTaskError(
                f"{path}:{i}: expected tab-separated genre, file, years, id, score, sentence1, sentence2"
            ) from None
    return rows


def read_task_json(folder: Path) -> dict:
    path = folder / "task.json"
    if not folder.is_dir():
        raise LocalTaskError(f"local task {folder}: not a directory")
    if not path.is_file():
        raise LocalTaskError(f"local task {folder}: task.json is missing")
    try:
        spec = json.loads(path.read_text())
    except ValueError as e:
        raise LocalTaskError(f"local task {folder}: task.json is not valid JSON ({e})") from None
    if not isinstance(spec, dict):
        raise LocalTaskError(f"local task {folder}: task.json must be an object")
    missing = [k for k in REQUIRED_KEYS if not spec.get(k)]
    if missing:
        raise LocalTaskError(f"local task {folder}: task.json lacks {', '.join(missing)}")
    if spec.get("hf_subset") and not spec.get("mteb_task"):
        raise LocalTaskError(f"local task {folder}: hf_subset needs mteb_task (the mteb task it is a subset of)")
    if spec["type"] not in TYPES:
        raise LocalTaskError(f"local task {folder}: type {spec['type']!r} is not one of {', '.join(TYPES)}")
    spec.setdefault("split", "test")
    for name in FILES[spec["type"]]:
        if not (folder / name.format(split=spec["split"])).is_file():
            raise LocalTaskError(f"local task {folder}: {name.format(split=spec['split'])} is missing")
    return spec


def _jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    rows = []
    with path.open() as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise LocalTaskError(f"{path}:{i}: not valid JSON") from None
            missing = [k for k in required if k not in row]
            if missing:
                raise LocalTaskError(f"{path}:{i}: missing field(s) {', '.join(missing)}")
            rows.append(row)
    if not rows:
        raise LocalTaskError(f"{path}: no rows")
    return rows


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open() as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if not header or [h.strip() for h in header[:3]] != ["query-id", "corpus-id", "score"]:
            raise LocalTaskError(f"{path}: header must be query-id<TAB>corpus-id<TAB>score")
        for i, row in enumerate(reader, 2):
            if len(row) < 3:
                raise LocalTaskError(f"{path}:{i}: expected 3 tab-separated columns")
            try:
                score = float(row[2])
            except ValueError:
                score = None
            if score is None or not score.is_integer():  # `high`, 0.5, nan, inf
                raise LocalTaskError(f"{path}:{i}: field `score` must be an integer relevance grade, got {row[2]!r}")
            qrels.setdefault(str(row[0]), {})[str(row[1])] = int(score)
    return qrels


def _check_qrels_documents(path: Path, qrels: dict[str, dict[str, int]], corpus: list[dict]) -> None:
    """Relevant documents missing from the corpus can never be retrieved: nDCG would be silently wrong (lower)."""
    ids = {str(r["_id"]) for r in corpus}
    named = {doc for docs in qrels.values() for doc in docs}
    missing = sorted(named - ids)
    if missing:
        raise LocalTaskError(
            f"{path}: {len(missing)} of {len(named)} document id(s) are not in corpus.jsonl "
            f"(e.g. {', '.join(missing[:3])}); the scores would be wrong"
        )


def _metadata(spec: dict, folder: Path):
    from mteb.abstasks.task_metadata import TaskMetadata

    category = "t2c" if spec["type"] == "Classification" else "t2t"
    return TaskMetadata(
        name=spec["name"],
        dataset={"path": f"local/{folder.name}", "revision": "local"},
        description=spec.get("source") or f"Local task from {folder}",
        type=spec["type"],
        category=category,
        modalities=["text"],
        eval_splits=[spec["split"]],
        eval_langs=["eng-Latn"],
        main_score=spec["main_score"],
    )


def new_task(spec: dict, folder: Path):
    """An mteb task of `spec['type']` built from task.json's fields (no data yet)."""
    from mteb.abstasks.classification import AbsTaskClassification
    from mteb.abstasks.pair_classification import AbsTaskPairClassification
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.sts import AbsTaskSTS
    from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining

    base = {
        "STS": AbsTaskSTS,
        "PairClassification": AbsTaskPairClassification,
        "Classification": AbsTaskClassification,
        "Retrieval": AbsTaskRetrieval,
        "BitextMining": AbsTaskBitextMining,
    }[spec["type"]]
    cls = type(f"Local{base.__name__[3:]}_{spec['name']}", (base,), {"metadata": _metadata(spec, folder)})
    return cls()


def _known_task(spec: dict, folder: Path):
    import mteb

    try:
        task = mteb.get_task(spec["mteb_task"])
    except (KeyError, ValueError) as e:
        raise LocalTaskError(
            f"local task {folder}: mteb_task {spec['mteb_task']!r} is not an mteb task ({e})"
        ) from None
    if task.metadata.type != spec["type"]:
        raise LocalTaskError(
            f"local task {folder}: type {spec['type']} does not match {spec['mteb_task']}'s {task.metadata.type}"
        )
    if task.metadata.main_score != spec["main_score"]:
        raise LocalTaskError(
            f"local task {folder}: main_score {spec['main_score']} differs from {spec['mteb_task']}'s "
            f"{task.metadata.main_score}"
        )
    subsets = task.hf_subsets or ["default"]
    subset = spec.get("hf_subset")
    if subset and subset not in subsets:
        raise LocalTaskError(
            f"local task {folder}: hf_subset {subset!r} is not a subset of {spec['mteb_task']} "
            f"(it has {', '.join(subsets[:6])}{', ...' if len(subsets) > 6 else ''})"
        )
    # Without hf_subset the files hold the English part (MTEB(eng, v1) uses `en` / `en-en` subsets, as the paper's
    # 56-task runs, Wang et al., 2024, Table 1).
    subset = subset or next((s for s in ENGLISH_SUBSETS if s in subsets), subsets[0])
    task.hf_subsets = [subset]
    task.filter_eval_splits([spec["split"]])
    return task, subset


def retrieval_split(corpus: list[dict], queries: list[dict], qrels: dict[str, dict[str, int]]) -> dict:
    """One split of a retrieval task as mteb's AbsTaskRetrieval holds it, from BEIR-style rows."""
    corpus_ds = Dataset.from_dict(
        {
            "id": [str(r["_id"]) for r in corpus],
            "title": [r.get("title") or "" for r in corpus],
            "text": [r["text"] for r in corpus],
        }
    )
    kept = [q for q in queries if str(q["_id"]) in qrels]  # as mteb's loader: queries without qrels are dropped
    queries_ds = Dataset.from_dict({"id": [str(q["_id"]) for q in kept], "text": [q["text"] for q in kept]})
    return {"corpus": corpus_ds, "queries": queries_ds, "relevant_docs": qrels, "top_ranked": None}


def load_local_task(folder: str | Path):
    """Build the mteb task for a local folder, data loaded; raises LocalTaskError with one clear line."""
    folder = Path(folder)
    spec = read_task_json(folder)
    split, kind = spec["split"], spec["type"]
    if spec.get("mteb_task"):
        task, subset = _known_task(spec, folder)
    else:
        task, subset = new_task(spec, folder), "default"

    if kind == "BitextMining":
        # One sentence1/sentence2 dataset per subset (mteb's non-parallel layout; NTREX's Hub copy holds every
        # language as a column of one split): the same evaluator, the same pairs, the same F1.
        task.parallel_subsets = False
    if kind == "Retrieval":
        corpus = _jsonl(folder / "corpus.jsonl", ("_id", "text"))
        queries = _jsonl(folder / "queries.jsonl", ("_id", "text"))
        qrels = _qrels(folder / "qrels" / f"{split}.tsv")
        _check_qrels_documents(folder / "qrels" / f"{split}.tsv", qrels, corpus)
        task.dataset = {subset: {split: retrieval_split(corpus, queries, qrels)}}
    else:
        cols = COLUMNS[kind]
        splits = {split: _jsonl(folder / f"{split}.jsonl", cols)}
        if kind == "Classification":
            splits[getattr(task, "train_split", "train")] = _jsonl(folder / "train.jsonl", cols)
        rename = {}
        if kind == "Classification":
            rename = {"text": task.input_column_name, "label": task.label_column_name}
        elif kind == "PairClassification":
            rename = {
                "sentence1": task.input1_column_name,
                "sentence2": task.input2_column_name,
                "label": task.label_column_name,
            }
        elif kind == "STS":
            rename = {"sentence1": task.column_names[0], "sentence2": task.column_names[1]}
        task.dataset = {
            subset: DatasetDict(
                {
                    s: Dataset.from_dict({rename.get(c, c): [r[c] for r in rows] for c in cols})
                    for s, rows in splits.items()
                }
            )
        }
    task.data_loaded = True
    task.local_spec = {**spec, "folder": str(folder), "subset": subset}
    task.local_subsets = {subset: task.local_spec}  # more after `load_local_tasks` merges folders of one task
    return task


def load_local_tasks(folders: list[str | Path]) -> list:
    """The tasks of these folders; folders naming different `hf_subset`s of one mteb task become one task."""
    tasks, by_mteb_task = [], {}
    for folder in folders:
        task = load_local_task(folder)
        spec = task.local_spec
        into = by_mteb_task.get(spec["mteb_task"]) if spec.get("hf_subset") else None
        if into is None:
            tasks.append(task)
            if spec.get("hf_subset"):
                by_mteb_task[spec["mteb_task"]] = task
            continue
        subset, first = spec["subset"], next(iter(into.local_subsets.values()))
        if subset in into.local_subsets:
            raise LocalTaskError(
                f"local tasks {into.local_subsets[subset]['folder']} and {folder}: both hold subset {subset!r} "
                f"of {spec['mteb_task']}"
            )
        if spec["split"] != first["split"]:
            raise LocalTaskError(
                f"local tasks {first['folder']} and {folder}: subsets of {spec['mteb_task']} with different splits "
                f"({first['split']}, {spec['split']}); evaluate them in separate runs"
            )
        into.hf_subsets = [*into.hf_subsets, subset]
        into.dataset[subset] = task.dataset[subset]
        into.local_subsets[subset] = spec
    return tasks


def find_local_tasks(paths: list[str | Path]) -> list[Path]:
    """Each path is a task folder (has task.json) or a folder of task folders."""
    found = []
    for p in map(Path, paths):
        if (p / "task.json").is_file() or not p.is_dir():
            found.append(p)
        else:
            children = sorted(c for c in p.iterdir() if c.is_dir())
            if not children:
                raise LocalTaskError(f"local tasks {p}: neither a task folder (task.json) nor a folder of them")
            found.extend(children)
    return found
