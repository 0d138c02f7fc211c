"""Decontamination: drop rows that copy text of an evaluation set, one rule for generated and downloaded data.

A row is contaminated when one of its texts
- shares a word n-gram (n = 13, as in GPT-3's and the Open LLM decontamination) with a test text;
- contains a test text shorter than n words, but of n/2 words or more, whole (alignment-handbook's substring rule);
- or equals a test text of any length (after normalisation: STS and NLI sentences are often 4-6 words, and the official
  STS Benchmark train and test splits share such sentences).

Test texts are the evaluation splits of MTEB tasks (by name, through `mteb`, from its cache or the Hub) or of local
task folders (synthembed/evaluation/local_tasks.py). The generation gate (`decontamination_tasks` of
data_generation) and training (`decontamination_tasks` of the mixture, synthembed/data.py) both use this class.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from synthembed_common.config import ConfigError
from synthembed_common.text import normalize

logger = logging.getLogger(__name__)
_TOKEN = re.compile(r"\w+")
_NOT_TEXT = {"id", "_id", "label", "labels", "score", "lang", "title"}


TASKS_EXPECTED = "a non-empty list of MTEB task names or task folders, or null (off)"


def tasks_setting_ok(tasks) -> bool:
    """Whether `decontamination_tasks` (of the training mixture or of a generation config) is TASKS_EXPECTED."""
    return tasks is None or (isinstance(tasks, list) and bool(tasks) and all(isinstance(t, str) and t for t in tasks))


class Decontamination:
    """Word n-gram overlap with, or equality to, the test texts of MTEB tasks or local task folders."""

    def __init__(self, sources: list[str], n: int = 13):
        self.n, self.min_short = n, max(1, math.ceil(n / 2))
        self.grams: dict[str, str] = {}  # " ".join(n tokens) -> task
        self.short: dict[int, dict[str, str]] = {}  # length -> {" ".join(tokens): task} for texts under n tokens
        self.whole: dict[str, str] = {}  # " ".join(tokens) of every test text -> task
        # The first min_short tokens of every n-gram and short text: one lookup per row position rules out every
        # match starting there (almost all), instead of one join and lookup per length (a 250-word row: 0.23 ms,
        # not 1.0).
        self.heads: set[str] = set()
        self.test_texts: Counter = Counter()
        self.removed: Counter = Counter()
        for source in sources:
            for name, texts in load_test_texts(source):
                self.test_texts[name] += len(texts)
                self.removed[name] += 0
                for text in texts:
                    self._add(name, _TOKEN.findall(normalize(text)))

    def _add(self, task: str, tokens: list[str]) -> None:
        k = self.min_short
        if tokens:
            self.whole.setdefault(" ".join(tokens), task)
        if len(tokens) >= self.n:
            for i in range(len(tokens) - self.n + 1):
                self.grams.setdefault(" ".join(tokens[i : i + self.n]), task)
                self.heads.add(" ".join(tokens[i : i + k]))
        elif len(tokens) >= k:
            self.short.setdefault(len(tokens), {}).setdefault(" ".join(tokens), task)
            self.heads.add(" ".join(tokens[:k]))

    def match_texts(self, texts: Iterable[str | None]) -> str | None:
        """The task one of `texts` copies from, or None."""
        k, tables = self.min_short, [(self.n, self.grams), *self.short.items()]
        for text in texts:
            tokens = _TOKEN.findall(normalize(text or ""))
            task = self.whole.get(" ".join(tokens))
            if task:
                return task
            for i in range(len(tokens) - k + 1):
                if " ".join(tokens[i : i + k]) not in self.heads:
                    continue
                for length, table in tables:
                    task = i + length <= len(tokens) and table.get(" ".join(tokens[i : i + length]))
                    if task:
                        return task
        return None

    def count(self, texts: Iterable[str | None]) -> bool:
        """True (and counted against its task) when `texts` copy a test text."""
        task = self.match_texts(texts)
        if task:
            self.removed[task] += 1
        return bool(task)

    def report(self) -> dict:
        return {
            task: {"test_texts": self.test_texts[task], "rows_removed": self.removed[task]} for task in self.test_texts
        }


def load_test_texts(source: str) -> list[tuple[str, list[str]]]:
    """[(task name, its evaluation-split texts)] of a local task folder (or a folder of them) or an mteb task name."""
    try:
        if Path(source).exists():
            from synthembed.evaluation.local_tasks import find_local_tasks, load_local_task

            tasks = [load_local_task(folder) for folder in find_local_tasks([source])]
        else:
            import mteb

            tasks = [mteb.get_task(source)]
            tasks[0].load_data()  # from the datasets cache, or the Hub when online
        return [(task.metadata.name, _task_texts(task)) for task in tasks]
    except Exception as e:  # mteb raises KeyError/ValueError/ConnectionError/...; the user needs one line either way
        reason = e.args[0] if isinstance(e, KeyError) and e.args else e  # KeyError's str() adds quotes
        raise ConfigError(
            f"`decontamination_tasks` entry {source!r} could not be loaded ({reason}); give an mteb "
            "task name whose data is in the local cache, or a local task folder (task.json layout)"
        ) from None


def _task_texts(task) -> list[str]:
    """Texts of the evaluation splits of a loaded mteb task: {subset: {split: Dataset | retrieval parts}}."""
    splits, texts = set(task.metadata.eval_splits), []
    skip = _NOT_TEXT | {getattr(task, "label_column_name", "label")}
    for subset in task.dataset.values():
        for split, data in subset.items():
            if split not in splits:
                continue
            if isinstance(data, dict) and "queries" in data:  # retrieval: the queries and their relevant documents
                relevant = {doc for docs in (data.get("relevant_docs") or {}).values() for doc in docs}
                texts += [t for t in data["queries"]["text"] if isinstance(t, str)]
                corpus = data["corpus"]
                texts += [t for i, t in zip(corpus["id"], corpus["text"]) if i in relevant]
                continue
            for column in data.column_names:
                if column in skip:
                    continue
                for value in data[column]:
                    values = value if isinstance(value, list) else [value]
                    texts += [v for v in values if isinstance(v, str) and v.strip()]
    return texts
