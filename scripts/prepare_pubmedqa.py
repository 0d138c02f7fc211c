"""Biomedical retrieval rows from PubMedQA's expert-labelled set (pubmedqa/pubmedqa, Jin et al., 2019), test
questions left out.

Each of the 1,000 labelled PubMed articles gives its question (the article's title, phrased as a question) as the
query and its abstract without the conclusion (PubMedQA's "contexts") as the positive, with an instruction in the
style of the paper's Table 14 (Wang et al., 2024); in-batch negatives only. The 500 questions of PubMedQA's test split
(`data/test_ground_truth.json`) are never written, and a row is dropped when a text copies a text of
`--decontamination_tasks` (synthembed/decontamination.py). Writes `train.jsonl` and `source.json` (repository, commit,
paths, licence, counts).

    python scripts/prepare_pubmedqa.py --output_dir data/pubmedqa \\
        --decontamination_tasks ../shared/evaldata/tasks NFCorpus SciFact TRECCOVID ...

`--source` is a local clone of the repository at the pinned commit; without it the files are downloaded from GitHub.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = "pubmedqa/pubmedqa"
COMMIT = "1cbae8e92f72f20c8d3747cbb3bf5bc53554d997"
LABELLED, TEST = "data/ori_pqal.json", "data/test_ground_truth.json"
INSTRUCTION = "Given a biomedical question, retrieve the PubMed abstract that answers it"


def build(source: Path | None, tasks: list[str]) -> tuple[list[dict], dict]:
    from synthembed.decontamination import Decontamination
    from synthembed_common.pinned_data import read_pinned

    labelled = json.loads(read_pinned(REPO, COMMIT, LABELLED, source))
    test = set(json.loads(read_pinned(REPO, COMMIT, TEST, source)))
    decontamination = Decontamination(tasks)
    rows, dropped = [], 0
    for pmid, article in sorted(labelled.items()):
        if pmid in test:
            continue
        query, positive = article["QUESTION"].strip(), " ".join(c.strip() for c in article["CONTEXTS"])
        if decontamination.count([query, positive]):
            dropped += 1
            continue
        rows.append({"query": query, "positive": positive, "instruction": INSTRUCTION, "language": "en"})
        rows[-1]["source"] = f"pubmed:{pmid}"
    stats = {
        "labelled_articles": len(labelled),
        "test_articles_left_out": len(test & set(labelled)),
        "rows_dropped": dropped,
        "decontamination": decontamination.report(),
        "rows": {"train.jsonl": len(rows)},
    }
    return rows, stats


def main(argv=None) -> None:
    from synthembed_common.pinned_data import pinned_data_parser, write_data_folder

    parser = pinned_data_parser(__doc__, REPO, "data/pubmedqa")
    args = parser.parse_args(argv)
    from synthembed_common.config import ConfigError

    try:
        rows, stats = build(args.source, args.decontamination_tasks)
    except (ConfigError, OSError, KeyError, ValueError) as e:
        sys.exit(f"error: {e}")
    provenance = {
        "repository": f"https://github.com/{REPO}",
        "commit": COMMIT,
        "paths": [LABELLED, TEST],
        "split": "PQA-L (expert-labelled) minus its 500 test questions (never the test split)",
        "licence": "MIT (the repository's LICENSE); abstracts from PubMed",
        "instruction": INSTRUCTION,
        **stats,
    }
    write_data_folder(args.output_dir, {"train.jsonl": rows}, provenance)
    print(json.dumps(stats["rows"]), f"-> {args.output_dir}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
