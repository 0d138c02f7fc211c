#!/usr/bin/env python
"""Client CPU of the generation quality gate (data_generation.quality) per row, on real LLM-generated rows.

The throughput benchmark's scripted replies are in no language, so the language rule is timed here, on rows a real
LLM wrote: `llm-e5` (gemini-1.5-flash with the paper's short-long prompt; English, Vietnamese, German, French; ~250-
word documents), `llm-pairs` (gpt-3.5-turbo questions over 10-K chunks; long positives, no negative) and `nli`
(sentence triplets). Each row's `language` is what lingua finds in its positive (set before timing). For every data
set the gate's `filter_rows` is timed with one more rule switched on at a time, so each line's increment is that
rule's cost:

- words: the word minimums and query != positive / negative (always on);
- + language (run): lingua over the languages of the rows (and English), as a run with those languages builds it;
- + language (all): lingua over all its 75 languages, as a 93-language run builds it;
- + decontamination: 13-gram overlap with the test texts of --decontamination_tasks;
- + near-dup: MinHash-LSH at 0.7 (the defaults: the full gate).

The detector's models load lazily on first use (seconds, once per run): a warm-up pass runs before each timing.

    python benchmarks/generation_gate.py [--traindata ../shared/traindata] [--decontamination_tasks ../shared/evaldata/tasks]
        [--datasets llm-e5 llm-pairs nli]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from data_generation.config import GenerationConfig
from data_generation.quality import FIELDS, QualityGate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import SHARED  # noqa: E402 (benchmarks are scripts, not a package)

DATASETS = ("llm-e5", "llm-pairs", "nli")


def load_rows(folder: Path) -> list[dict]:
    """The data set's rows with `language` from lingua (on the positive, over the data's own languages)."""
    import lingua

    rows = [json.loads(line) for line in (folder / "train.jsonl").read_text().splitlines()]
    detector = lingua.LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
    found = Counter(detector.detect_language_of(r["positive"]) for r in rows)
    languages = [language for language, count in found.items() if language and count >= 5]
    languages = set(languages) | {lingua.Language.ENGLISH}
    detector = lingua.LanguageDetectorBuilder.from_languages(*languages).build() if len(languages) > 1 else None
    for row in rows:
        language = detector.detect_language_of(row["positive"]) if detector else lingua.Language.ENGLISH
        row["language"], row["target_language"] = language.name.title(), None
    return rows


def gate_ms_per_row(rows: list[dict], all_languages: bool, **settings) -> float:
    config = GenerationConfig(
        base_url="http://127.0.0.1:1/v1", api_key_env="BENCH_KEY", model="m", output_dir="/nonexistent", **settings
    )
    if all_languages:  # a 93-language run: every language lingua knows is among the rows' languages
        import lingua

        names = [{"language": x.name.title(), "target_language": None} for x in lingua.Language.all()]
    timed = None
    for _ in range(2):  # the first pass is a warm-up: lingua loads its models lazily
        gate = QualityGate(config)
        if all_languages:
            prepare = gate.language.prepare
            gate.language.prepare = lambda rows, prepare=prepare, names=names: prepare(rows + names)
        start = time.process_time()
        kept = gate.filter_rows(rows, Counter())
        timed = time.process_time() - start
    assert len(kept) >= len(rows) // 2, gate.report()["rules"]  # a gate that drops most real rows is misconfigured
    return 1000 * timed / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traindata", type=Path, default=SHARED / "traindata")
    parser.add_argument("--decontamination_tasks", nargs="+", default=[str(SHARED / "evaldata" / "tasks")])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), help="folders of --traindata to time")
    args = parser.parse_args()
    os.environ.setdefault("BENCH_KEY", "x")  # the config wants a key; the gate sends nothing
    off = {"quality_language_check": "off", "near_dup_threshold": None}
    language = {**off, "quality_language_check": "auto"}
    steps = [
        ("words", False, off),
        ("+ language (run)", False, language),
        ("+ language (all)", True, language),
        ("+ decontamination", True, {**language, "decontamination_tasks": args.decontamination_tasks}),
        ("+ near-dup (full)", True, {"decontamination_tasks": args.decontamination_tasks}),
    ]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; gate CPU ms per row (time.process_time)")
    print(f"{'data':>10} {'rows':>6} {'words/row':>9} " + " ".join(f"{name:>18}" for name, _, _ in steps))
    for name in args.datasets:
        rows = load_rows(args.traindata / name)
        length = sum(len(" ".join(r[f] or "" for f in FIELDS).split()) for r in rows)
        figures = [gate_ms_per_row(rows, all_languages, **settings) for _, all_languages, settings in steps]
        print(f"{name:>10} {len(rows):>6} {length / len(rows):>9.0f} " + " ".join(f"{x:>18.3f}" for x in figures))


if __name__ == "__main__":
    main()
