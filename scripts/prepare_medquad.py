"""Consumer-health topic rows from MedQuAD's MedlinePlus Health Topics (abachaa/MedQuAD, Ben Abacha & Demner-Fushman,
2019): a topic's name, as typed into a search box, against the topic's summary.

MedlinePlus writes one plain-language summary per health topic ("A1C is a blood test for type 2 diabetes and
prediabetes..."). Each of the 981 topics gives its focus ("A1C") and each synonym MedQuAD annotates ("HbA1C",
"Glycohemoglobin"), lower-cased, as queries of the summary: short topical searches like NFCorpus's ("deafness",
"energy drinks"), on lay health topics, which PubMedQA's research abstracts do not cover. Queries sharing a summary
share a positive, so train it with `mask_false_negatives`. A row is dropped when a text copies a text of
`--decontamination_tasks` (synthembed/decontamination.py; a query alone when only it copies one). MedQuAD has no
test split; its answers from the three copyrighted MedlinePlus collections were removed by its authors and are not
used. Writes `topics.jsonl` and `source.json` (repository, commit, folder, licence, counts).

    python scripts/prepare_medquad.py --output_dir data/medquad \\
        --decontamination_tasks ../shared/evaldata/tasks NFCorpus SciFact TRECCOVID ...

`--source` is a local clone of the repository at the pinned commit; without it GitHub's archive of that commit is
downloaded.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = "abachaa/MedQuAD"
COMMIT = "577bd37b96c02d1833b2c9eed2de9f96964e96cb"
FOLDER = "4_MPlus_Health_Topics_QA"
INSTRUCTION = "Given a health topic, retrieve a passage about it"
SUMMARY_PREFIX = "Summary :"  # how some of MedQuAD's answers begin: a heading, not text


def topic(xml: str) -> tuple[list[str], str]:
    """A topic document's queries (focus, then synonyms; lower-cased, unique, in order) and its summary."""
    document = ET.fromstring(xml)
    names = [document.findtext("Focus", "")] + [s.text or "" for s in document.iterfind(".//Synonyms/Synonym")]
    queries = list(dict.fromkeys(" ".join(n.split()).lower() for n in names if n.strip()))
    answer = " ".join(document.findtext(".//QAPair/Answer", "").split())
    return queries, answer.removeprefix(SUMMARY_PREFIX).strip()


def build(source: Path | None, tasks: list[str]) -> tuple[dict[str, list[dict]], dict]:
    """The rows to write (file name → rows) and the counts for source.json."""
    from synthembed.decontamination import Decontamination
    from synthembed_common.pinned_data import read_pinned_folder

    documents = read_pinned_folder(REPO, COMMIT, FOLDER, source)
    if not documents:
        raise ValueError(f"no files in {FOLDER} of {source or REPO}")
    decontamination = Decontamination(tasks)
    rows, dropped = [], 0
    for name, xml in documents.items():
        queries, summary = topic(xml)
        if not summary or decontamination.count([summary]):
            dropped += 1
            continue
        for query in queries:
            if not decontamination.count([query]):  # a query copying an evaluation text is dropped alone
                rows.append(
                    {"query": query, "positive": summary, "instruction": INSTRUCTION, "language": "en", "topic": name}
                )
    stats = {
        "topics": len(documents),
        "topics_dropped": dropped,
        "decontamination": decontamination.report(),
        "rows": {"topics.jsonl": len(rows)},
    }
    return {"topics.jsonl": rows}, stats


def main(argv=None) -> None:
    from synthembed_common.pinned_data import pinned_data_parser, write_data_folder

    parser = pinned_data_parser(__doc__, REPO, "data/medquad")
    args = parser.parse_args(argv)
    from synthembed_common.config import ConfigError

    try:
        files, stats = build(args.source, args.decontamination_tasks)
    except (ConfigError, OSError, KeyError, ValueError, ET.ParseError) as e:
        sys.exit(f"error: {e}")
    provenance = {
        "repository": f"https://github.com/{REPO}",
        "commit": COMMIT,
        "paths": [f"{FOLDER}/*.xml"],
        "split": "MedlinePlus Health Topics (MedQuAD has no test split; its LiveQA test questions are not used)",
        "licence": "CC BY 4.0 (the repository's readme); summaries from MedlinePlus (NLM)",
        "instructions": {"topics.jsonl": INSTRUCTION},
        **stats,
    }
    write_data_folder(args.output_dir, files, provenance)
    print(json.dumps(stats["rows"]), f"-> {args.output_dir}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
