"""The public half of the paper's "full data": every labelled set loaded with its Hub configs, mapped onto seam 1,
sampled at the paper's ratio, and mined for hard negatives where it has none (Wang et al., 2024, Appendix A and
Table 14).

A source is one recipe entry (recipes/e5-mistral-7b-instruct/prepare_data.yaml):
  name, path (Hub id or local folder/file), split, columns (query/positive/negative → the set's column names),
  config_name (one Hub config; with `languages`, a template such as "{language}-triplet" loaded once per language),
  languages, language (the one language of a monolingual set), fraction (the paper's sampling ratio),
  instruction or instructions (Table 14; two instructions split the sampled rows in halves), task_type.

Output rows (seam 1, see DESIGN.md): query, positive, negative (list of texts, empty where none), instruction,
task_type, language, source.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from datasets import Dataset, concatenate_datasets

from synthembed.data import DataError, load_one, sample_fraction, to_schema
from synthembed_common.config import first_line
from synthembed_common.seam1 import PUBLIC_COLUMNS, features

logger = logging.getLogger(__name__)

SOURCE_KEYS = {"name", "path", "split", "columns", "config_name", "languages", "language", "fraction"}
SOURCE_KEYS |= {"instruction", "instructions", "task_type", "data_dir"}
SEAM1_FEATURES = features(PUBLIC_COLUMNS, negative_list=True)


def check_source(where: str, entry: Any) -> None:
    """Raise DataError naming the first field of a recipe entry that cannot work."""
    if not isinstance(entry, dict) or not entry.get("path") or not entry.get("name"):
        raise DataError(f"`{where}` must be a mapping with a `name` and a `path`, got {entry!r}")
    unknown = set(entry) - SOURCE_KEYS
    if unknown:
        raise DataError(f"`{where}` has unknown key(s) {sorted(unknown)}; expected some of {sorted(SOURCE_KEYS)}")
    fraction = entry.get("fraction", 1.0)
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or fraction <= 0:
        raise DataError(f"`{where}.fraction` must be a number > 0, got {fraction!r}")
    if "languages" in entry and "{language}" not in str(entry.get("config_name", "")):
        raise DataError(f"`{where}.config_name` must hold {{language}} when `languages` is set")
    if not entry.get("instruction") and not entry.get("instructions"):
        raise DataError(f"`{where}` needs an `instruction` (or `instructions`): Table 14 has one for every set")


def instructions_of(entry: dict) -> list[str]:
    return list(entry.get("instructions") or [entry["instruction"]])


def load_source(entry: dict[str, Any], num_proc: int | None = None) -> Dataset:
    """The whole split of one source in seam 1 (every language config concatenated), before sampling."""
    parts = []
    for language in entry.get("languages") or [entry.get("language", "en")]:
        load = {"path": entry["path"], "split": entry.get("split", "train"), "data_dir": entry.get("data_dir")}
        if entry.get("config_name"):
            load["config_name"] = str(entry["config_name"]).format(language=language)
        try:
            ds = load_one(load, num_proc)
        except DataError:
            raise
        except Exception as e:  # datasets' own errors (no such config, split, file) name no source
            where = load.get("config_name") or load["path"]
            raise DataError(f"source {entry['name']!r} ({where}): {first_line(e, innermost=True)}") from e
        mapped = {"columns": entry.get("columns", {}), "instruction": instructions_of(entry)[0]}
        ds = to_schema(ds, mapped, entry["name"], num_proc)
        task_type = entry.get("task_type", "short-long")
        ds = ds.map(
            lambda row, task_type=task_type, language=language: {
                "negative": row["negatives"],
                "task_type": task_type,
                "language": language,
            },
            remove_columns=["negatives"],
            desc=f"language {entry['name']}",
        )
        parts.append(ds.select_columns(list(PUBLIC_COLUMNS)).cast(SEAM1_FEATURES))
    return concatenate_datasets(parts)


def sample_source(ds: Dataset, entry: dict[str, Any], seed: int) -> Dataset:
    """The paper's sampling ratio, then the instructions: with two, a seeded half of the rows gets each."""
    if entry.get("fraction", 1.0) != 1.0:
        ds = sample_fraction(ds, float(entry["fraction"]), seed)
    instructions = instructions_of(entry)
    if len(instructions) == 1 or len(ds) == 0:
        return ds
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed + 1)).tolist()
    share = {row: rank * len(instructions) // len(ds) for rank, row in enumerate(order)}
    return ds.map(lambda row, i: {"instruction": instructions[share[i]]}, with_indices=True, desc="instructions")


def corpus_of(ds: Dataset, language: str) -> list[str]:
    """The set's own passages, pooled across the split: every positive and existing negative of one language."""
    texts: dict[str, None] = {}
    for row in ds.filter(lambda r: r["language"] == language, desc=f"corpus {language}"):
        texts.update(dict.fromkeys([row["positive"], *row["negative"]]))
    return list(texts)


def summary_line(entry: dict, full_rows: int, sampled: Dataset) -> dict:
    missing = sum(1 for negatives in sampled["negative"] if not negatives)
    languages = entry.get("languages") or [entry.get("language", "en")]
    return {
        "source": entry["name"],
        "rows": full_rows,
        "fraction": float(entry.get("fraction", 1.0)),
        "sampled": len(sampled),
        "without_negative": missing,
        "languages": len(languages),
        "instructions": instructions_of(entry),
    }


def format_summary(lines: list[dict]) -> str:
    """The dry run's table: rows per source and the sampling ratio of Table 14."""
    head = f"{'source':<18}{'rows':>10}{'ratio':>7}{'sampled':>10}{'no neg.':>9}{'langs':>6}  instruction(s)"
    body = [
        f"{x['source']:<18}{x['rows']:>10}{x['fraction']:>7g}{x['sampled']:>10}{x['without_negative']:>9}"
        f"{x['languages']:>6}  {' | '.join(x['instructions'])}"
        for x in lines
    ]
    total = f"{'total':<18}{sum(x['rows'] for x in lines):>10}{'':>7}{sum(x['sampled'] for x in lines):>10}"
    return "\n".join([head, *body, total])
