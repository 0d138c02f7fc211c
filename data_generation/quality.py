"""The quality gate: rules a parsed reply must pass beyond its JSON shape, each rejection counted by rule.

Beyond the paper, which keeps every well-formed, non-duplicate example (Wang et al., 2024, §3.1). In order:

- `task_too_few_words` (brainstorm): a task needs `quality_min_task_words` words (runs of 2+ letters, any script),
  so a reply such as `["]["]` yields no task; `too_few_words`: each query / positive / negative needs
  `quality_min_field_words`.
- `query_equals_positive`, `query_equals_negative`: normalised equality (positive = negative is a parsing reject).
- `wrong_language`: a text of `quality_language_min_chars`+ letters that lingua (optional:
  `pip install lingua-language-detector`) finds clearly in another language than the row's `language` (bitext: S1
  in the source, S2/S3 in the target language): a fast low-accuracy pass over its first characters, and for a text
  it doubts, full accuracy over the whole text. Without lingua the rule is skipped and the stats say so.
- `contaminated`: a text of the row copies a test text of `decontamination_tasks` (synthembed/decontamination.py: a
  shared word n-gram, n = `decontamination_ngram`, a shorter test text contained whole, or equality). Counted per task.
- `near_duplicate`: MinHash-LSH (datasketch) Jaccard estimate of character 5-grams (of the words, punctuation dropped;
  each field's apart, so a text counts by its role) of `near_dup_threshold` or more with an earlier row of the run in
  the same language(s) (merge_shards applies it again across shards). A row and its translation are not duplicates,
  however many names and numbers they share, nor two rows that share two texts in swapped roles.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from itertools import islice

from synthembed.decontamination import Decontamination
from synthembed_common.languages import to_iso_code
from synthembed_common.text import normalize

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W\d_]{2,}")  # 2+ letters: "][", "1.", "-" are no words
_TOKEN = re.compile(r"\w+")
FIELDS = ("query", "positive", "negative")
# Names of our table that lingua splits (Norwegian: Bokmal and Nynorsk).
_LINGUA_ALIASES = {"no": ("nb", "nn")}
# lingua's confidence of the expected language below which a text detected as another language is rejected.
_LANGUAGE_CONFIDENCE = 0.25
# Characters the fast language pass reads. lingua's cost grows with the text and the run's languages: a 250-word text
# against all its 75 languages takes 2.3 ms, its first 150 characters in low-accuracy mode 0.4 ms. On real rows
# (benchmarks/generation_gate.py data) 100, 150 and 300 characters gave the same verdicts as the whole text.
_LANGUAGE_SAMPLE_CHARS = 150
LANGUAGE_DETECTOR_MISSING = "skipped: lingua is not installed (pip install lingua-language-detector)"


def has_words(text: str | None, minimum: int) -> bool:
    """At least `minimum` words; reads no further than the last one needed (documents are long)."""
    return minimum <= 0 or next(islice(_WORD.finditer(text or ""), minimum - 1, None), None) is not None


def has_letters(text: str, minimum: int) -> bool:
    """At least `minimum` letters in words, read as far as needed."""
    count = 0
    for match in _WORD.finditer(text):
        count += match.end() - match.start()
        if count >= minimum:
            return True
    return minimum <= 0


class NearDuplicates:
    """Near-duplicate rows by MinHash-LSH over character 5-grams of the normalised fields, role by role (first one
    kept), compared with the earlier rows of the same `language` and `target_language` only.

    The 5-grams are hashed and permuted in numpy (a polynomial over code points, then datasketch's 32-bit `affine32`
    permutations); datasketch's own path (sha1 per 5-gram, 64-bit modulo) cost 1.46 ms per 250-word row, this
    0.5 ms. datasketch keeps the LSH index."""

    NUM_PERM, SHINGLE = 128, 5

    def __init__(self, threshold: float, on: str = "row"):
        from datasketch import MinHash, MinHashLSH

        self.threshold, self.on = threshold, on
        self.lsh = MinHashLSH(threshold=threshold, num_perm=self.NUM_PERM)
        self.permutations = MinHash(num_perm=self.NUM_PERM, seed=1, scheme="affine32").permutations
        self.signatures: list = []  # kept rows' MinHash values (uint32: 512 bytes a row), to verify LSH candidates
        self.languages: list = []  # kept rows' (language, target_language)
        self.count = 0

    def _shingles(self, row: dict):
        """32-bit hashes of the character 5-grams of each field (a field shorter than 5: the whole text), each field's
        hashes salted with its role, so a text that is one row's positive and another's negative (corpus rows mine
        their negatives among the positives) is not shared between them."""
        import numpy as np

        fields = ("query",) if self.on == "query" else FIELDS
        parts = [self._field_shingles(row[f], role) for role, f in enumerate(fields) if row[f]]
        return np.concatenate(parts) if parts else self._field_shingles("", 0)

    def _field_shingles(self, text: str, role: int):
        import numpy as np

        text = " ".join(_TOKEN.findall(normalize(text)))  # punctuation and spacing do not count
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        n = max(1, len(points) - self.SHINGLE + 1)
        hashes = np.zeros(n, dtype=np.uint64)
        for j in range(min(self.SHINGLE, len(points))):  # wraps modulo 2**64, as a hash may
            hashes = hashes * np.uint64(0x100000001B3) + points[j : j + n]
        hashes += np.uint64(role * 0x9E3779B97F4A7C15 % 2**64)  # the role: the query's salt is 0
        return _fmix32((hashes ^ (hashes >> np.uint64(29))).astype(np.uint32))  # repeats: the minimum stays

    def filter(self, rows: list[dict]) -> list[dict]:
        from datasketch import LeanMinHash

        kept = []
        for row in rows:
            values = self._signature(self._shingles(row))
            minhash = LeanMinHash(seed=1, hashvalues=values, scheme="affine32")
            language = (row["language"], row["target_language"])
            # LSH only proposes candidates; a row is dropped when the Jaccard estimate itself passes
            candidates = (i for i in self.lsh.query(minhash) if self.languages[i] == language)
            if any((self.signatures[i] == values).mean() >= self.threshold for i in candidates):
                self.count += 1
                continue
            self.lsh.insert(len(self.signatures), minhash)
            self.signatures.append(values)
            self.languages.append(language)
            kept.append(row)
        return kept

    def _signature(self, shingles):
        """MinHash values under datasketch's affine32 permutations, in one numpy step (its `update_batch` calls a
        Python hash function per 5-gram: 0.24 ms of a 250-word row)."""
        import numpy as np

        a, b = self.permutations
        permuted = np.multiply.outer(shingles, a)  # uint32: wraps modulo 2**32, as the scheme's permutations do
        permuted += b  # in place: a temporary (n, 128) array less, a third of the time
        return permuted.min(axis=0)


def _fmix32(values):
    """MurmurHash3's finalizer (what datasketch's affine32 scheme applies before its permutations)."""
    import numpy as np

    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


class LanguageCheck:
    """lingua over the languages of the rows (plus English, the prompts' language and the usual drift)."""

    def __init__(self, min_chars: int):
        self.min_chars = min_chars
        self.detector = self.confirmer = None
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
            build = self.lingua.LanguageDetectorBuilder.from_languages
            self.detector = build(*languages).with_low_accuracy_mode().build()
            self.confirmer = build(*languages).build()

    def wrong(self, row: dict) -> bool:
        if self.detector is None:
            return False
        target = row["target_language"] or row["language"]
        for name, text in zip((row["language"], target, target), (row[f] for f in FIELDS)):
            if text is None or not has_letters(text, self.min_chars):
                continue
            expected = self._languages(name)
            if not expected:
                self.unchecked[name] += 1
                continue
            # Fast pass: trigrams of the first characters (most rows are in their language). Only a text it calls
            # another language pays for the verdict: full accuracy over the whole text.
            allowed = expected | {None}  # None: lingua cannot tell
            if self.detector.detect_language_of(text[:_LANGUAGE_SAMPLE_CHARS]) not in allowed:
                if self.confirmer.detect_language_of(text) not in allowed:
                    confidence = max(self.confirmer.compute_language_confidence(text, e) for e in expected)
                    if confidence < _LANGUAGE_CONFIDENCE:
                        return True
        return False


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
            kept[task_type] = [t for t in listed if has_words(t, minimum)]
            for _ in range(len(listed) - len(kept[task_type])):
                self._reject("task_too_few_words", rejections)
        return {t: v for t, v in kept.items() if v}

    def _reason(self, row: dict) -> str | None:
        minimum = self.config.quality_min_field_words
        if any(row[f] is not None and not has_words(row[f], minimum) for f in FIELDS):
            return "too_few_words"
        query = normalize(row["query"])
        if query == normalize(row["positive"]):
            return "query_equals_positive"
        if row["negative"] is not None and query == normalize(row["negative"]):
            return "query_equals_negative"
        if self.language.wrong(row):
            return "wrong_language"
        if self.decontamination is not None:
            if self.decontamination.count(row[f] for f in FIELDS):
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
            decontamination = dict(sorted(self.decontamination.report().items()))
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
