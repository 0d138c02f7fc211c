"""Multilingual training rows from the machine-translated STS Benchmark *train* split (PhilipMay/stsb-multi-mt).

Writes, for the nine languages of the multilingual dev sets (de es fr it nl pl pt ru zh):

- `sts.jsonl`: translated train pairs scored >= 4 of 5 as (query, positive) in one language, with the paper's STS
  instruction (Wang et al., 2024, Table 15), and their English originals as `teacher_query` / `teacher_positive`;
- `parallel.jsonl`: English sentence -> its translation, with the paper's bitext instruction, the English sentence as
  `teacher_positive`: a distillation teacher (English) sees the source for both sides, so the student learns to map a
  translation where the teacher puts its source (multilingual knowledge distillation, Reimers & Gurevych, 2020);
- `source.json`: provenance (repository, commit, paths, licence), counts, and what decontamination dropped.

Never the dev or test splits. The official STS Benchmark splits share sentences, and a translation of a shared
sentence is a test sentence of the multilingual test sets too, so a row is dropped when its *English* original or
its translation copies a text of `--decontamination_tasks` (synthembed/decontamination.py).

    python scripts/prepare_multilingual_sts.py --output_dir data/stsb-multi-mt \
        --decontamination_tasks ../shared/evaldata/tasks STSBenchmark SICK-R STS17 ...

`--source` is a local clone of the repository (its `data/stsb-<lang>-train.csv`); without it the files are downloaded
from GitHub at the pinned commit.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from pathlib import Path

REPO = "PhilipMay/stsb-multi-mt"
COMMIT = "30de0dec4ee199b7f42351d3f1a0b19592955385"
LANGUAGES = "de es fr it nl pl pt ru zh".split()
POSITIVE_MIN = 4.0  # as the recipe's English STS-B pairs (min_score 0.8 of 1)


def read_train(source: Path | None, lang: str) -> list[tuple[str, str, float]]:
    """(sentence1, sentence2, score) rows of `data/stsb-<lang>-train.csv` (csv with quoting; rows aligned across
    languages)."""
    from synthembed_common.pinned_data import read_pinned

    path = f"data/stsb-{lang}-train.csv"
    text = read_pinned(REPO, COMMIT, path, source)
    rows = []
    for i, fields in enumerate(csv.reader(io.StringIO(text)), 1):
        if len(fields) != 3:
            sys.exit(f"error: {path}:{i}: expected sentence1,sentence2,score")
        rows.append((fields[0], fields[1], float(fields[2])))
    return rows


def build(source, tasks: list[str], parallel_per_language: int, seed: int) -> tuple[dict[str, list[dict]], dict]:
    from synthembed.decontamination import Decontamination
    from synthembed.evaluation.instructions import BITEXT_INSTRUCTION, STS_INSTRUCTION

    decontamination = Decontamination(tasks)
    english = read_train(source, "en")
    clean = [i for i, (s1, s2, _) in enumerate(english) if not decontamination.count([s1, s2])]
    dropped_english = len(english) - len(clean)
    sts, parallel, dropped_translated = [], [], 0
    for lang in LANGUAGES:
        translated = read_train(source, lang)
        if len(translated) != len(english):
            sys.exit(f"error: {lang}: {len(translated)} train rows, English has {len(english)}; they must align")
        rows = [i for i in clean if not decontamination.count(translated[i][:2])]
        dropped_translated += len(clean) - len(rows)
        for i in rows:
            (e1, e2, score), (t1, t2, _) = english[i], translated[i]
            if score >= POSITIVE_MIN and t1 != t2:
                sts.append({"query": t1, "positive": t2, "teacher_query": e1, "teacher_positive": e2})
                sts[-1] |= {"instruction": STS_INSTRUCTION, "language": lang}
        pairs = sorted({(english[i][k], translated[i][k]) for i in rows for k in (0, 1)})
        for e, t in random.Random(f"{seed}-{lang}").sample(pairs, min(parallel_per_language, len(pairs))):
            parallel.append({"query": e, "positive": t, "teacher_positive": e})
            parallel[-1] |= {"instruction": BITEXT_INSTRUCTION, "language": lang}
    stats = {
        "english_train_pairs": len(english),
        "english_pairs_dropped": dropped_english,
        "translated_pairs_dropped": dropped_translated,
        "decontamination": decontamination.report(),
        "rows": {"sts.jsonl": len(sts), "parallel.jsonl": len(parallel)},
    }
    return {"sts.jsonl": sts, "parallel.jsonl": parallel}, stats


def main(argv=None) -> None:
    from synthembed_common.pinned_data import pinned_data_parser, write_data_folder

    parser = pinned_data_parser(__doc__, REPO, "data/stsb-multi-mt")
    parser.add_argument("--parallel_per_language", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    from synthembed_common.config import ConfigError

    try:
        files, stats = build(args.source, args.decontamination_tasks, args.parallel_per_language, args.seed)
    except (ConfigError, OSError) as e:
        sys.exit(f"error: {e}")
    provenance = {
        "repository": f"https://github.com/{REPO}",
        "commit": COMMIT,
        "paths": [f"data/stsb-{lang}-train.csv" for lang in ["en", *LANGUAGES]],
        "split": "train (never dev or test)",
        "licence": "as the STS Benchmark: scores CC BY-SA 4.0, sentences under their sources' terms (LICENSE in the "
        "repository; data/stsbenchmark/LICENSE.txt here); translations by DeepL (the repository's README)",
        "positive_min_score": POSITIVE_MIN,
        "parallel_per_language": args.parallel_per_language,
        "seed": args.seed,
        **stats,
    }
    write_data_folder(args.output_dir, files, provenance)
    print(json.dumps(stats["rows"]), f"-> {args.output_dir}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
