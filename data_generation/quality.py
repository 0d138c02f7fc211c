"""The quality gate: rules a parsed reply must pass beyond its JSON shape, each rejection counted by rule.

Beyond the paper, which keeps every well-formed, non-duplicate example (Wang et al., 2024, §3.1). In order:

- `task_too_few_words` (brainstorm): a task needs `quality_min_task_words` words (runs of 2+ letters, any script),
  so a reply such as `["]["]` yields no task; `too_few_words`: each query / positive / negative needs
  `quality_min_field_words`.
- `query_equals_positive`, `query_equals_negative`: normalised equality (positive = negative is a parsing reject).
- `wrong_language`: a text of `quality_language_min_chars`+ letters that lingua (optional:
  `pip install lingua-language-detector`) finds clearly in another language than the row's `language` (bitext: S1
  in the source, S2/S3 in the target language). Without lingua the rule is skipped and the stats say so.
- `contaminated`: the row shares a word n-gram (`decontamination_ngram`, 13 as in GPT-3's and the Open LLM
  decontamination) with a test text of `decontamination_tasks`; a test text shorter than n words (n/2 at least) must
  appear whole, alignment-handbook's substring rule. Counted per task.
- `near_duplicate`: MinHash-LSH (datasketch) Jaccard estimate of character 5-grams (of the words, punctuation dropped) of
  `near_dup_threshold` or more with an earlier row of the run (merge_shards applies it again across shards).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from pathlib import Path

from data_generation.parsing import normalize
from synthembed_common.config import ConfigError
from synthembed_common.languages import to_iso_code

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W\d_]{2,}")  # 2+ letters: "][", "1.", "-" are no words
_TOKEN = re.compile(r"\w+")
FIELDS = ("query", "positive", "negative")
# Names of our table that lingua splits (Norwegian: Bokmal and Nynorsk).
_LINGUA_ALIASES = {"no": ("nb", "nn")}
# lingua's confidence of the expected language below which a text detected as another language is rejected.
_LANGUAGE_CONFIDENCE = 0.25
LANGUAGE_DETECTOR_MISSING = "skipped: lingua is not installed (pip install lingua-language-detector)"


def words(text: str | None) -> list[str]:
    return _WORD.findall(text or "")


class NearDuplicates:
    """Near-duplicate rows by MinHash-LSH over character 5-grams of the normalised row text (first one kept)."""

    NUM_PERM, SHINGLE, CHUNK = 128, 5, 4096

    def __init__(self, threshold: float, on: str = "row"):
        from datasketch import MinHashLSH

        self.threshold, self.on = threshold, on
        self.lsh = MinHashLSH(threshold=threshold, num_perm=self.NUM_PERM)
        self.signatures: list = []  # kept rows' MinHash values (uint32: 512 bytes a row), to verify LSH candidates
        self.count = 0

    def _shingles(self, row: dict) -> list[bytes]:
        parts = [row["query"]] if self.on == "query" else [row[f] or "" for f in FIELDS]
        text = " ".join(_TOKEN.findall(normalize(" ".join(parts))))  # punctuation and spacing do not count
        k = self.SHINGLE
        return list({text[i : i + k].encode() for i in range(max(1, len(text) - k + 1))})

    def filter(self, rows: list[dict]) -> list[dict]:
        from datasketch import MinHash

        kept = []
        for start in range(0, len(rows), self.CHUNK):  # bulk hashing, bounded memory
            chunk = rows[start : start + self.CHUNK]
            hashes = MinHash.bulk([self._shingles(r) for r in chunk], num_perm=self.NUM_PERM)
            for row, minhash in zip(chunk, hashes):
                values = minhash.hashvalues.astype("uint32")  # datasketch keeps them below 2**32
                # LSH only proposes candidates; a row is dropped when the Jaccard estimate itself passes
                if any((self.signatures[i] == values).mean() >= self.threshold for i in self.lsh.query(minhash)):
                    self.count += 1
                    continue
                self.lsh.insert(len(self.signatures), minhash)
                self.signatures.append(values)
                kept.append(row)
        return kept


class LanguageCheck:
    """lingua over the languages of the rows (plus English, the prompts' language and the usual drift)."""

    def __init__(self, min_chars: int):
        self.min_chars = min_chars
        self.detector = None
        self.unchecked: Counter = Counter()
        try:
            import lingua
        except ImportError:
            self.status = LANGUAGE_DETECTOR_MISSING
            self.lingua = None
        else:
            self.lingua, self.status = lingua, f"lingua {_version('lingua-language-detector')}"

    def _languages(self, name: str | None) -> set:
        code = to_iso_code(name)
        found = set()
        for c in _LINGUA_ALIASES.get(code, (code,)) if code else ():
            try:
                found.add(self.lingua.Language.from_iso_code_639_1(self.lingua.IsoCode639_1.from_str(c)))
            except ValueError:
                pass
        return found

    def prepare(self, rows: list[dict]) -> None:
        if self.lingua is None:
            return
        names = {r["language"] for r in rows} | {r["target_language"] for r in rows} | {"English"}
        languages = set().union(*(self._languages(n) for n in names if n))
        if len(languages) >= 2:
            self.detector = self.lingua.LanguageDetectorBuilder.from_languages(*languages).build()

    def wrong(self, row: dict) -> bool:
        if self.detector is None:
            return False
        target = row["target_language"] or row["language"]
        for name, text in zip((row["language"], target, target), (row[f] for f in FIELDS)):
            if text is None or sum(map(len, words(text))) < self.min_chars:
                continue
            expected = self._languages(name)
            if not expected:
                self.unchecked[name] += 1
                continue
            detected = self.detector.detect_language_of(text)
            if detected is not None and detected not in expected:
                if max(self.detector.compute_language_confidence(text, e) for e in expected) < _LANGUAGE_CONFIDENCE:
                    return True
        return False


class Decontamination:
    """Word n-gram overlap with the test texts of MTEB tasks (by name, through mteb) or local task folders."""

    def __init__(self, sources: list[str], n: int):
        self.n, self.min_short = n, max(1, math.ceil(n / 2))
        self.grams: dict[str, str] = {}  # " ".join(n tokens) -> task
        self.short: dict[int, dict[str, str]] = {}  # length -> {" ".join(tokens): task} for texts under n tokens
        self.test_texts: Counter = Counter()
        self.removed: Counter = Counter()
        for source in sources:
            for name, texts in load_test_texts(source):
                self.test_texts[name] += len(texts)
                self.removed[name] += 0
                for text in texts:
                    self._add(name, _TOKEN.findall(normalize(text)))

    def _add(self, task: str, tokens: list[str]) -> None:
        if len(tokens) >= self.n:
            for i in range(len(tokens) - self.n + 1):
                self.grams.setdefault(" ".join(tokens[i : i + self.n]), task)
        elif len(tokens) >= self.min_short:
            self.short.setdefault(len(tokens), {}).setdefault(" ".join(tokens), task)

    def match(self, row: dict) -> str | None:
        """The task a row copies from, or None."""
        for text in (row[f] for f in FIELDS):
            tokens = _TOKEN.findall(normalize(text or ""))
            for length, table in [(self.n, self.grams), *self.short.items()]:
                for i in range(len(tokens) - length + 1):
                    task = table.get(" ".join(tokens[i : i + length]))
                    if task:
                        return task
        return None


def load_test_texts(source: str) -> list[tuple[str, list[str]]]:
    """[(task name, its evaluation-split texts)] of a local task folder (or a folder of them) or an mteb task name."""
    try:
        if Path(source).exists():
            from synthembed.evaluation.local_tasks import find_local_tasks, load_local_task

            tasks = [load_local_task(folder) for folder in find_local_tasks([source])]
        else:
            import mteb

            tasks = [mteb.get_task(source)]
            tasks[0].load_data()  # offline: from the datasets cache
        return [(task.metadata.name, _task_texts(task)) for task in tasks]
    except Exception as e:  # mteb raises KeyError/ValueError/ConnectionError/...; the user needs one line either way
        reason = e.args[0] if isinstance(e, KeyError) and e.args else e  # KeyError's str() adds quotes
        raise ConfigError(
            f"`decontamination_tasks` entry {source!r} could not be loaded ({reason}); give an mteb "
            "task name whose data is in the local cache, or a local task folder (task.json layout)"
        ) from None


_NOT_TEXT = {"id", "_id", "label", "labels", "score", "lang", "title"}


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


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


class QualityGate:
    """The rules of the module docstring over one run; `report()` is the `quality` part of the statistics."""

    def __init__(self, config):
        self.config = config
        self.rules: Counter = Counter()
        self.language = LanguageCheck(config.quality_language_min_chars)
        if config.quality_language_check == "off":
            self.language.lingua, self.language.status = None, "off"
        sources = config.decontamination_tasks or []
        self.decontamination = Decontamination(sources, config.decontamination_ngram) if sources else None
        threshold = config.near_dup_threshold
        self.near = NearDuplicates(threshold, config.dedup_on) if threshold else None

    def _reject(self, reason: str, rejections: Counter) -> None:
        self.rules[reason] += 1
        rejections[reason] += 1

    def filter_tasks(self, tasks: dict[str, list[str]], rejections: Counter) -> dict[str, list[str]]:
        minimum, kept = self.config.quality_min_task_words, {}
        for task_type, listed in tasks.items():
            kept[task_type] = [t for t in listed if len(words(t)) >= minimum]
            for _ in range(len(listed) - len(kept[task_type])):
                self._reject("task_too_few_words", rejections)
        return {t: v for t, v in kept.items() if v}

    def _reason(self, row: dict) -> str | None:
        minimum = self.config.quality_min_field_words
        if any(row[f] is not None and len(words(row[f])) < minimum for f in FIELDS):
            return "too_few_words"
        query = normalize(row["query"])
        if query == normalize(row["positive"]):
            return "query_equals_positive"
        if row["negative"] is not None and query == normalize(row["negative"]):
            return "query_equals_negative"
        if self.language.wrong(row):
            return "wrong_language"
        if self.decontamination is not None:
            task = self.decontamination.match(row)
            if task:
                self.decontamination.removed[task] += 1
                return "contaminated"
        return None

    def filter_rows(self, rows: list[dict], rejections: Counter) -> list[dict]:
        self.language.prepare(rows)
        kept = []
        for row in rows:
            reason = self._reason(row)
            if reason:
                self._reject(reason, rejections)
            else:
                kept.append(row)
        if self.near is not None:
            before = self.near.count
            kept = self.near.filter(kept)
            for _ in range(self.near.count - before):
                self._reject("near_duplicate", rejections)
        return kept

    def report(self) -> dict:
        decontamination = None
        if self.decontamination is not None:
            d = self.decontamination
            decontamination = {
                task: {"test_texts": d.test_texts[task], "rows_removed": d.removed[task]}
                for task in sorted(d.test_texts)
            }
        return {
            "rules": dict(sorted(self.rules.items())),
            "language_check": self.language.status,
            "language_unchecked_texts": dict(sorted(self.language.unchecked.items())),
            "near_dup_threshold": self.config.near_dup_threshold,
            "decontamination_ngram": self.config.decontamination_ngram,
            "decontamination": decontamination,
        }


def merge_reports(reports: list[dict], cross_near_duplicates: int) -> dict:
    """One `quality` report for merged shards: counts summed, near duplicates across shards added."""
    merged = {**reports[0], "rules": Counter(), "language_unchecked_texts": Counter()}
    decontamination: dict = {}
    for report in reports:
        merged["rules"].update(report["rules"])
        merged["language_unchecked_texts"].update(report["language_unchecked_texts"])
        for task, counts in (report.get("decontamination") or {}).items():
            entry = decontamination.setdefault(task, {"test_texts": counts["test_texts"], "rows_removed": 0})
            entry["rows_removed"] += counts["rows_removed"]
    if cross_near_duplicates:
        merged["rules"]["near_duplicate"] += cross_near_duplicates
    merged["rules"] = dict(sorted(merged["rules"].items()))
    merged["language_unchecked_texts"] = dict(sorted(merged["language_unchecked_texts"].items()))
    merged["decontamination"] = decontamination or reports[0].get("decontamination")
    return merged
