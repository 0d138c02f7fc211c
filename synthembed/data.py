"""Training data: a mixture of datasets mapped onto one schema, and a collator that tokenizes for the contrastive loss.

Schema after loading (seam 1 plus bookkeeping): `query`, `positive`, `negatives` (list, may be empty),
`instruction`, `source` (which mixture entry, or the row's own `source`: a prepared mixture keeps its sets apart),
`task_type`, `pair_score` (a graded pair's score; NaN for the rest), `distill_weight` (the entry's weight of the
distillation term; NaN: the global one).

Gradient accumulation does NOT add in-batch negatives: each micro-batch is its own contrastive problem. The batch the
loss sees is per_device_train_batch_size × number of processes (Wang et al., 2024, section 4.2: 2048); for the paper's
2048 on fewer GPUs use GradCache (`grad_cache: true`), not accumulation.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
from collections import Counter
from typing import Any

import torch
from datasets import Dataset, DatasetDict, concatenate_datasets, load_dataset, load_from_disk

from synthembed.configs import STS_COLUMNS, TEACHER_COLUMNS, DataArguments
from synthembed.decontamination import Decontamination
from synthembed.evaluation.instructions import STS_INSTRUCTION  # the paper's (Table 15), on both sides
from synthembed.model_folder import QueryTemplate
from synthembed_common.config import first_line

logger = logging.getLogger(__name__)

FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
TEXT_FORMATS = ("json", "csv")


class DataError(ValueError):
    """A dataset cannot be trained on as given (unreadable, empty, a missing column, a row without text); the message
    names the dataset, and the row or column."""


def check_utf8(path: str) -> None:
    """Raise DataError naming the line of the first byte that is not UTF-8 (readers would fail late, or garble)."""
    decoder, line, offset = codecs.getincrementaldecoder("utf-8")(), 1, 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                line += chunk[: e.start].count(b"\n")
                raise DataError(f"{path}: not UTF-8 text (line {line}, byte {offset + e.start})") from None
            line, offset = line + chunk.count(b"\n"), offset + len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text (truncated character at the end)") from None


def load_one(entry: dict[str, Any], num_proc: int | None = None) -> Dataset:
    """One dataset entry: a save_to_disk folder, a local jsonl/json/parquet/csv/arrow file, or a Hub id."""
    path, split = os.path.expanduser(str(entry["path"])), entry.get("split", "train")
    if os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, f)) for f in ("dataset_info.json", "dataset_dict.json", "state.json")
    ):
        loaded = load_from_disk(path)
        if isinstance(loaded, DatasetDict):
            if split not in loaded:
                raise DataError(f"{path}: no split {split!r} (splits: {', '.join(loaded)})")
            loaded = loaded[split]
        return loaded
    if os.path.isfile(path):
        builder = FORMATS.get(os.path.splitext(path)[1], "json")
        if os.path.getsize(path) == 0:
            raise DataError(f"{path}: the file is empty")
        if builder in TEXT_FORMATS:
            check_utf8(path)
        try:
            return load_dataset(builder, data_files={split: path}, split=split, num_proc=num_proc)
        except Exception as e:  # datasets wraps the reader's error (pyarrow, json, csv) in its own
            where = _json_error(path) if builder == "json" else None
            raise DataError(where or f"{path}: cannot be read as {builder} ({first_line(e, innermost=True)})") from e
    return load_dataset(path, entry.get("config_name"), data_dir=entry.get("data_dir"), split=split, num_proc=num_proc)


def _json_error(path: str) -> str | None:
    """The first line Python's json parser refuses, 1-based (pyarrow names a 0-based row of its block, and what
    it says is often wrong: "Invalid encoding" for a bad escape); None if it finds nothing."""
    with open(path, encoding="utf-8") as f:
        lines = enumerate(f, 1)
        if not path.endswith(".jsonl"):  # a .json file: one document, or JSON Lines if its first line is whole
            first, text = next(lines, (1, ""))[1], f.read()
            try:
                json.loads(first + text)
                return None
            except json.JSONDecodeError as e:
                whole = e
            try:
                json.loads(first)
            except json.JSONDecodeError:
                return f"{path}: line {whole.lineno}: not valid JSON ({whole.msg} at column {whole.colno})"
            lines = enumerate((first, *text.splitlines(keepends=True)), 1)
        for number, line in lines:
            try:
                if line.strip():
                    json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as e:
                return f"{path}: line {number}: not valid JSON ({e.msg} at column {e.colno})"
    return None


def to_schema(ds: Dataset, entry: dict[str, Any], source: str, num_proc: int | None = None) -> Dataset:
    """Rename the entry's columns onto query/positive/negative/instruction and keep only the schema.

    Every row needs a non-empty `query` and `positive`; a column the entry's `columns` names must exist.
    """
    if len(ds) == 0:
        raise DataError(f"dataset {source!r} has no rows")
    columns = {c: c for c in ("query", "positive", "negative", "instruction", *TEACHER_COLUMNS)}
    columns.update(entry.get("columns", {}))
    for role in ("query", "positive", *(c for c in entry.get("columns", {}) if c != "score")):
        if columns[role] not in ds.column_names:
            raise DataError(
                f"dataset {source!r} has no column {columns[role]!r} for `{role}` (columns: {', '.join(ds.column_names)})"
            )
    default_instruction = entry.get("instruction", "")
    score = entry.get("columns", {}).get("score", "score")
    for key in ("min_score", "graded"):
        if key in entry and entry[key] is not False and score not in ds.column_names:
            raise DataError(
                f"dataset {source!r} has no column {score!r} for `{key}` (columns: {', '.join(ds.column_names)})"
            )
    if "min_score" in entry:  # graded pairs: low scores are unrelated sentences, not positives (recipes/gemma3-270m)
        ds = ds.filter(lambda row: float(row[score]) >= entry["min_score"], desc=f"min_score {source}")
        if len(ds) == 0:
            raise DataError(f"dataset {source!r}: no row scored >= min_score {entry['min_score']}")

    def convert(row, index):
        for role in ("query", "positive"):
            text = row[columns[role]]
            if role == "positive" and isinstance(text, list):  # sets listing several positives: the first
                text = row[columns[role]] = text[0] if text else None
            if not isinstance(text, str) or not text.strip():
                what = "missing" if text is None else "empty" if isinstance(text, str) else type(text).__name__
                raise DataError(f"dataset {source!r} row {index}: `{role}` (column {columns[role]!r}) is {what}")
        negative = row.get(columns["negative"])
        negatives = [n for n in (negative if isinstance(negative, list) else [negative]) if n]
        instruction = row.get(columns["instruction"]) or default_instruction
        pair_score = float("nan")  # not graded: the pair is a positive of InfoNCE
        if entry.get("graded"):
            pair_score = row[score]
            if isinstance(pair_score, bool) or not isinstance(pair_score, (int, float)) or pair_score != pair_score:
                raise DataError(f"dataset {source!r} row {index}: `score` (column {score!r}) must be a number")
        return {
            "query": row[columns["query"]],
            "positive": row[columns["positive"]],
            "negatives": negatives,
            "instruction": instruction,
            "source": row.get("source") or source,
            "task_type": row.get("task_type") or entry.get("task_type") or source,
            "pair_score": float(pair_score),  # graded pairs (`graded: true`): the loss ranks their cosines by it
            # the entry's weight of the distillation term (NaN: the global `distill_weight`)
            "distill_weight": float(entry.get("distill_weight", float("nan"))),
            # what a distillation teacher encodes in place of the query / positive ("" = the text itself): the
            # English source of a translation, so the student maps both to the teacher's embedding of the source
            **{f"teacher_{role}": row.get(columns[f"teacher_{role}"]) or "" for role in ("query", "positive")},
        }

    return ds.map(
        convert, with_indices=True, remove_columns=ds.column_names, desc=f"schema {source}", num_proc=num_proc
    )


def sample_fraction(ds: Dataset, fraction: float, seed: int) -> Dataset:
    """The paper's sampling ratio: keep round(fraction × rows), drawn without repetition while fraction ≤ 1."""
    n = round(len(ds) * fraction)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed)).tolist()
    picks = (order * (n // len(ds) + 1))[:n] if len(ds) else []
    return ds.select(picks)


def entry_name(entry: dict[str, Any], i: int) -> str:
    return entry.get("name") or os.path.basename(str(entry["path"]).rstrip("/")) or f"dataset{i}"


def with_task_type_prefixes(ds: Dataset, prefixes: dict[str, str], source: str, task_type: str | None = None):
    """The paper's "w/ task type prefix" ablation (Table 5): every row's instruction becomes the prefix of its task
    type (or of `task_type`, for STS dev pairs). A task type without a prefix is an error, not a silent bare query."""
    types = {task_type} if task_type else set(ds.unique("task_type"))
    if types - set(prefixes):
        raise DataError(
            f"dataset {source!r}: task type(s) {sorted(types - set(prefixes))} have no prefix in `task_type_prefixes` "
            f"(listed: {sorted(prefixes)}; a dataset_mixture entry can set `task_type`)"
        )
    return ds.map(lambda row: {"instruction": prefixes[task_type or row["task_type"]]}, desc=f"prefixes {source}")


def without_instructions(ds: Dataset, source: str) -> Dataset:
    """Rows of a symmetric task encoded bare (`instruct_symmetric_tasks: false`): both texts of one kind."""
    return ds.map(lambda row: {"instruction": ""}, desc=f"bare {source}")


def load_mixture(data_args: DataArguments, seed: int = 42) -> Dataset:
    parts = []
    tasks = data_args.decontamination_tasks
    decontamination = Decontamination(tasks) if tasks else None  # first: a task that cannot load fails early
    for i, entry in enumerate(data_args.dataset_mixture):
        source = entry_name(entry, i)
        ds = to_schema(load_one(entry, data_args.dataset_num_proc), entry, source, data_args.dataset_num_proc)
        if decontamination is not None:
            ds = decontaminated(ds, decontamination, source)
        if data_args.task_type_prefixes is not None:
            ds = with_task_type_prefixes(ds, data_args.task_type_prefixes, source)
        if entry.get("symmetric") and not data_args.instruct_symmetric_tasks:
            ds = without_instructions(ds, source)
        if entry.get("fraction", 1.0) != 1.0:
            ds = sample_fraction(ds, float(entry["fraction"]), seed + i)
        logger.info("dataset %s: %d rows", source, len(ds))
        parts.append(ds)
    return concatenate_datasets(parts).shuffle(seed=seed)


def decontaminated(ds: Dataset, decontamination: Decontamination, source: str) -> Dataset:
    """`ds` without the rows whose query, positive or a negative copies a test text; the drops logged per task."""
    before = Counter(decontamination.removed)
    keep = [not decontamination.count([q, p, *n]) for q, p, n in zip(ds["query"], ds["positive"], ds["negatives"])]
    dropped = {t: c for t, c in (decontamination.removed - before).items() if c}
    if dropped:
        logger.info("dataset %s: %d rows copy evaluation texts, dropped (%s)", source, sum(dropped.values()), dropped)
        ds = ds.select([i for i, k in enumerate(keep) if k])
    return ds


def sts_schema(ds: Dataset, entry: dict[str, Any], source: str) -> Dataset:
    """STS pairs: sentence1, sentence2, score (any scale: Spearman only ranks), instruction (both sides)."""
    columns = {c: c for c in STS_COLUMNS} | entry.get("columns", {})
    instruction = entry.get("instruction", STS_INSTRUCTION)
    if len(ds) == 0:
        raise DataError(f"dev set {source!r} has no rows")
    for role, column in columns.items():
        if column not in ds.column_names:
            raise DataError(
                f"dev set {source!r} has no column {column!r} for `{role}` (columns: {', '.join(ds.column_names)})"
            )
    ds = ds.select_columns([columns[c] for c in STS_COLUMNS])
    ds = ds.rename_columns({columns[c]: c for c in STS_COLUMNS if columns[c] != c})
    return ds.map(lambda row: {"score": float(row["score"]), "instruction": instruction}, desc=f"schema {source}")


def load_eval_datasets(data_args: DataArguments, seed: int = 42) -> dict[str, Dataset]:
    """The dev sets by name; each holds STS pairs or training-shaped rows (see DataArguments.eval_datasets)."""
    out = {}
    for i, entry in enumerate(data_args.eval_datasets):
        name = entry_name(entry, i)
        ds = load_one({"split": "validation", **entry}, data_args.dataset_num_proc)
        mapped = entry.get("columns", {})
        is_sts = "score" in mapped or "score" in ds.column_names  # STS pairs; else training-shaped rows
        ds = sts_schema(ds, entry, name) if is_sts else to_schema(ds, entry, name)
        if data_args.task_type_prefixes is not None:
            ds = with_task_type_prefixes(ds, data_args.task_type_prefixes, name, "sts" if is_sts else None)
        if is_sts and not data_args.instruct_symmetric_tasks:
            ds = without_instructions(ds, name)
        if entry.get("max_rows") and len(ds) > entry["max_rows"]:
            ds = ds.shuffle(seed=seed).select(range(int(entry["max_rows"])))
        if "score" in ds.column_names:  # similar lengths in one eval batch pad less (Spearman ignores the order)
            lengths = [len(a) + len(b) for a, b in zip(ds["sentence1"], ds["sentence2"])]
            ds = ds.select(sorted(range(len(ds)), key=lengths.__getitem__))
        out[name] = ds
    return out


def text_id(text: str) -> int:
    """A stable 63-bit id of a normalized text, for masking duplicate positives among the candidates."""
    digest = hashlib.blake2b(" ".join(text.lower().split()).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class EOSTokenizer:
    """Tokenizes with exactly one EOS at the end of every text, whatever the tokenizer's own flags.

    The paper appends [EOS] to every query and document and pools its last-layer vector (Wang et al., 2024,
    section 3.2).

    Text is truncated to max_length - 1 tokens (special tokens such as BOS included), any EOS the tokenizer added is
    dropped, and `eos_token_id` is appended with attention 1. With `append_eos=False` (mean/cls pooling) it is a plain
    truncating tokenizer. Padding is dynamic, on the tokenizer's side.
    """

    def __init__(self, tokenizer, max_length: int, append_eos: bool, pad_to_multiple_of: int | None = 8):
        if append_eos and tokenizer.eos_token_id is None:
            raise ValueError("last_token pooling needs a tokenizer with an eos_token")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer, self.max_length, self.append_eos = tokenizer, max_length, append_eos
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        tok = self.tokenizer
        if not self.append_eos:
            return tok(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        eos = tok.eos_token_id
        ids = tok(texts, truncation=True, max_length=self.max_length, return_attention_mask=False)["input_ids"]
        rows = []
        for row in ids:
            if row and row[-1] == eos:
                row = row[:-1]
            rows.append({"input_ids": row[: self.max_length - 1] + [eos]})
        return tok.pad(rows, padding=True, pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")


class ContrastiveCollator:
    """rows → {"query": features [B], "documents": features [B positives, then M negatives], ids for masking, with
    `graded` the pairs' scores [B] (NaN where a row is not a graded pair), and with `distill_weights` each row's
    weight of the distillation term [B] (NaN: the global `distill_weight`)}.

    Instructions go on the query side only. STS dev rows (sentence1, sentence2, score) become {"sentence1": features,
    "sentence2": features, "score": [B]}, the instruction on both sides, as the paper evaluates STS."""

    def __init__(
        self,
        text_tokenizer: EOSTokenizer,
        query_template: str,
        num_hard_negatives: int = 1,
        graded: bool = False,
        distill_weights: bool = False,
    ):
        self.tokenize, self.template = text_tokenizer, QueryTemplate(query_template)
        self.num_hard_negatives = num_hard_negatives
        # With graded pairs in the mixture every batch carries `pair_scores` (NaN: not graded), so that every process
        # takes part in the loss's gather of them whatever rows its batch drew.
        self.graded, self.distill_weights = graded, distill_weights

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if "score" in rows[0]:
            return {
                side: self.tokenize([self.template.apply(r["instruction"], r[side]) for r in rows])
                for side in ("sentence1", "sentence2")
            } | {"score": torch.tensor([r["score"] for r in rows], dtype=torch.float32)}
        queries = [self.template.apply(r["instruction"], r["query"]) for r in rows]
        positives = [r["positive"] for r in rows]
        kept = [r["negatives"][: self.num_hard_negatives] for r in rows]
        negatives = [n for row in kept for n in row]
        per_row = {}
        for wanted, key, column in (
            (self.graded, "pair_scores", "pair_score"),
            (self.distill_weights, "distill_weights", "distill_weight"),
        ):
            if wanted:
                per_row[key] = torch.tensor([r.get(column, float("nan")) for r in rows], dtype=torch.float32)
        return per_row | {
            "query": self.tokenize(queries),
            "documents": self.tokenize(positives + negatives),
            "query_ids": torch.tensor([text_id(r["query"]) for r in rows], dtype=torch.long),  # the bare query
            "positive_ids": torch.tensor([text_id(t) for t in positives], dtype=torch.long),
            "negative_ids": torch.tensor([text_id(t) for t in negatives], dtype=torch.long),
            "negative_owners": torch.tensor([i for i, row in enumerate(kept) for _ in row], dtype=torch.long),
        }


class HomogeneousBatchSampler(torch.utils.data.Sampler):
    """Indices in blocks of one global batch (per-device batch × processes), each block from one group.

    accelerate hands consecutive per-device batches to consecutive processes, so every process's share of a global
    step comes from the same dataset or task type (as LLM2Vec and FlagEmbedding do against easy negatives). A group's
    remainder below one batch is left out of the epoch, as `drop_last` would; a group smaller than one batch fills
    its one block by repeating its rows (dropped, it would never train: 219 rows at a batch of 256), which
    `mask_false_negatives` keeps from acting as each other's negatives.
    """

    def __init__(self, groups: list[str], global_batch_size: int, seed: int = 42):
        self.groups, self.global_batch_size, self.seed, self.epoch = groups, global_batch_size, seed, 0

    def _blocks(self) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        by_group: dict[str, list[int]] = {}
        for i, name in enumerate(self.groups):
            by_group.setdefault(name, []).append(i)
        blocks = []
        for name in sorted(by_group):
            idx = by_group[name]
            idx = [idx[j] for j in torch.randperm(len(idx), generator=g).tolist()]
            if len(idx) < self.global_batch_size:
                idx = (idx * -(-self.global_batch_size // len(idx)))[: self.global_batch_size]
            usable = len(idx) - len(idx) % self.global_batch_size  # a partial block would mix groups
            blocks += [idx[s : s + self.global_batch_size] for s in range(0, usable, self.global_batch_size)]
        return [blocks[j] for j in torch.randperm(len(blocks), generator=g).tolist()]

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __iter__(self):
        for block in self._blocks():
            yield from block

    def __len__(self) -> int:
        return sum(len(b) for b in self._blocks())
