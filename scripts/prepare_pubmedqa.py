"""Biomedical retrieval rows from PubMedQA's expert-labelled set (pubmedqa/pubmedqa, Jin et al., 2019), test
questions left out.

Each of the 1,000 labelled PubMed articles gives its question (the article's title, phrased as a question) as the
query and its abstract without the conclusion (PubMedQA's "contexts") as the positive, with an instruction in the
style of the paper's Table 14 (Wang et al., 2024); in-batch negatives only (`train.jsonl`). A second view of the same
articles (`keywords.jsonl`) makes keyword queries, the style of short topical search queries (NFCorpus's "deafness",
"dha"): the article's MeSH index terms, those indexing more than 5 % of the labelled articles left out (check tags and
study designs such as "Humans", "Female", "Retrospective Studies"), joined by commas, against the same abstract. A
third view (`terms.jsonl`) is the shortest search: the article's `TERMS_PER_ARTICLE` rarest specific terms, each alone
and lower-cased as typed into a search box ("appendicitis"), one row each; articles sharing a term share its query, so
train it with `mask_false_negatives` (a query's other positives are then not its negatives). The 500 questions of
PubMedQA's test split (`data/test_ground_truth.json`) are never written, and an article is dropped when a text copies
a text of `--decontamination_tasks` (synthembed/decontamination.py). Writes `train.jsonl`, `keywords.jsonl`,
`terms.jsonl` and `source.json` (repository, commit, paths, licence, counts).

`--dev_dir` also writes a biomedical retrieval dev set, a local task folder for `scripts/evaluate.py --local_tasks`:
the test articles' rarest specific terms as queries (as `terms.jsonl` makes them; none is a training query), every
labelled article indexed by the term relevant, the 1,000 abstracts as the corpus, NFCorpus's E5 instruction. Keyword
search into research abstracts, as NFCorpus is, without NFCorpus's test split: the split to choose biomedical data
on. Never trained on.

    python scripts/prepare_pubmedqa.py --output_dir data/pubmedqa \\
        --decontamination_tasks ../shared/evaldata/tasks NFCorpus SciFact TRECCOVID ...

`--source` is a local clone of the repository at the pinned commit; without it the files are downloaded from GitHub.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

REPO = "pubmedqa/pubmedqa"
COMMIT = "1cbae8e92f72f20c8d3747cbb3bf5bc53554d997"
LABELLED, TEST = "data/ori_pqal.json", "data/test_ground_truth.json"
INSTRUCTION = "Given a biomedical question, retrieve the PubMed abstract that answers it"
KEYWORDS_INSTRUCTION = "Given biomedical keywords, retrieve a PubMed abstract about them"
TERMS_PER_ARTICLE = 2
COMMON_TERM_SHARE = 0.05  # a MeSH term indexing more of the labelled articles says nothing about one article


def read_articles(source: Path | None) -> tuple[dict[str, dict], set[str]]:
    """The labelled articles by PMID, and the PMIDs of the test split."""
    from synthembed_common.pinned_data import read_pinned

    labelled = json.loads(read_pinned(REPO, COMMIT, LABELLED, source))
    return labelled, set(json.loads(read_pinned(REPO, COMMIT, TEST, source)))


class MeshTerms:
    """The labelled articles' MeSH terms: how many articles each indexes, and the common ones left out."""

    def __init__(self, labelled: dict[str, dict]):
        self.counts = Counter(term for article in labelled.values() for term in article.get("MESHES", []))
        self.common = {term for term, n in self.counts.items() if n > COMMON_TERM_SHARE * len(labelled)}

    def specific(self, article: dict) -> list[str]:
        return [term for term in article.get("MESHES", []) if term not in self.common]

    def rarest(self, article: dict) -> list[str]:
        """The article's `TERMS_PER_ARTICLE` rarest specific terms, as indexed (not lower-cased)."""
        return sorted(set(self.specific(article)), key=lambda term: (self.counts[term], term))[:TERMS_PER_ARTICLE]


def abstract(article: dict) -> str:
    """The abstract without its conclusion (PubMedQA's contexts): the positive, and the dev set's document."""
    return " ".join(c.strip() for c in article["CONTEXTS"])


def build(
    labelled: dict[str, dict], test: set[str], mesh: MeshTerms, tasks: list[str]
) -> tuple[dict[str, list[dict]], dict]:
    """The rows of each file to write (file name → rows) and the counts for source.json."""
    from synthembed.decontamination import Decontamination

    decontamination = Decontamination(tasks)
    rows, keyword_rows, term_rows, dropped = [], [], [], 0
    for pmid, article in sorted(labelled.items()):
        if pmid in test:
            continue
        query, positive = article["QUESTION"].strip(), abstract(article)
        keywords = ", ".join(mesh.specific(article))
        if decontamination.count([query, positive, keywords]):
            dropped += 1
            continue
        rarest = [t.lower() for t in mesh.rarest(article)]
        terms = [t for t in rarest if not decontamination.count([t])]  # a copy is dropped alone
        views = [(rows, query, INSTRUCTION), (keyword_rows, keywords, KEYWORDS_INSTRUCTION)]
        views += [(term_rows, term, KEYWORDS_INSTRUCTION) for term in terms]
        for texts, q, instruction in views:
            if q:  # the PMID under `pmid`, not `source`: that column names the dataset (batch_sampling: by_source)
                texts.append(
                    {"query": q, "positive": positive, "instruction": instruction, "language": "en", "pmid": pmid}
                )
    stats = {
        "labelled_articles": len(labelled),
        "test_articles_left_out": len(test & set(labelled)),
        "rows_dropped": dropped,
        "decontamination": decontamination.report(),
        "mesh_terms_left_out": sorted(mesh.common),
        "rows": {"train.jsonl": len(rows), "keywords.jsonl": len(keyword_rows), "terms.jsonl": len(term_rows)},
    }
    return {"train.jsonl": rows, "keywords.jsonl": keyword_rows, "terms.jsonl": term_rows}, stats


def write_dev_task(
    labelled: dict[str, dict], test: set[str], mesh: MeshTerms, output_dir: Path, training_queries: set[str]
) -> dict:
    """The dev retrieval task (module docstring) in `output_dir`, replaced whole; returns its counts."""
    from synthembed.evaluation.instructions import get_instruction
    from synthembed_common.files import write_dir_atomic

    queries = {}  # lower-cased term → the articles it indexes
    for pmid in sorted(test & set(labelled)):
        for term in mesh.rarest(labelled[pmid]):
            if term.lower() not in training_queries:
                queries[term.lower()] = sorted(p for p, a in labelled.items() if term in a.get("MESHES", []))
    corpus = [{"_id": p, "title": "", "text": abstract(a)} for p, a in labelled.items()]
    task = {
        "name": "PubMedQA-terms-dev",
        "type": "Retrieval",
        "main_score": "ndcg_at_10",
        "split": "dev",
        "instruction": get_instruction("NFCorpus", "Retrieval"),
        "source": f"https://github.com/{REPO} at {COMMIT}: PQA-L test articles' MeSH terms (scripts/prepare_pubmedqa.py)",
    }

    def write(folder: Path) -> None:
        (folder / "qrels").mkdir()
        (folder / "task.json").write_text(json.dumps(task, indent=1) + "\n")
        lines = [json.dumps({"_id": f"T{i}", "text": q}) for i, q in enumerate(queries)]
        (folder / "queries.jsonl").write_text("".join(line + "\n" for line in lines))
        (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
        qrels = [f"T{i}\t{p}\t1" for i, q in enumerate(queries) for p in queries[q]]
        (folder / "qrels/dev.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(r + "\n" for r in qrels))

    write_dir_atomic(output_dir, write)
    return {"queries": len(queries), "corpus": len(corpus), "qrels": sum(map(len, queries.values()))}


def main(argv=None) -> None:
    from synthembed_common.pinned_data import pinned_data_parser, write_data_folder

    parser = pinned_data_parser(__doc__, REPO, "data/pubmedqa")
    parser.add_argument("--dev_dir", type=Path, default=None, help="Also write the dev retrieval task here.")
    args = parser.parse_args(argv)
    from synthembed_common.config import ConfigError

    try:
        labelled, test = read_articles(args.source)  # once: both outputs come from the same download
        mesh = MeshTerms(labelled)
        files, stats = build(labelled, test, mesh, args.decontamination_tasks)
    except (ConfigError, OSError, KeyError, ValueError) as e:
        sys.exit(f"error: {e}")
    provenance = {
        "repository": f"https://github.com/{REPO}",
        "commit": COMMIT,
        "paths": [LABELLED, TEST],
        "split": "PQA-L (expert-labelled) minus its 500 test questions (never the test split)",
        "licence": "MIT (the repository's LICENSE); abstracts from PubMed",
        "instructions": {
            "train.jsonl": INSTRUCTION,
            **dict.fromkeys(["keywords.jsonl", "terms.jsonl"], KEYWORDS_INSTRUCTION),
        },
        **stats,
    }
    write_data_folder(args.output_dir, files, provenance)
    print(json.dumps(stats["rows"]), f"-> {args.output_dir}")
    if args.dev_dir is not None:
        training_queries = {r["query"] for r in files["terms.jsonl"]}
        print(json.dumps(write_dev_task(labelled, test, mesh, args.dev_dir, training_queries)), f"-> {args.dev_dir}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
