"""Biomedical retrieval rows from PubMedQA's labelled set (scripts/prepare_pubmedqa.py): test questions never
written, rows copying an evaluation text dropped, provenance recorded; the shipped rows are what the recipe reads."""

from __future__ import annotations

import json

import pytest
from helpers.evaluation import make_query_task
from helpers.paths import REPO_ROOT, load_module

from synthembed.configs import DataArguments
from synthembed.data import load_mixture

ARTICLES = {
    "1": {
        "QUESTION": "Does coffee protect the liver?",
        "CONTEXTS": ["Coffee drinkers were followed.", "Less cirrhosis."],
        "MESHES": ["Coffee", "Humans", "Liver Cirrhosis"],
    },
    "2": {
        "QUESTION": "Is fish oil good for the heart?",
        "CONTEXTS": ["A trial of omega-3 supplements."],
        "MESHES": ["Fish Oils", "Humans"],
    },
    "3": {
        "QUESTION": "Do statins reduce breast cancer death?",
        "CONTEXTS": ["Cohort of patients in Finland."],
        "MESHES": ["Breast Neoplasms", "Humans"],
    },
}


@pytest.fixture
def prepare():
    return load_module(REPO_ROOT / "scripts/prepare_pubmedqa.py", "prepare_pubmedqa")


def test_test_questions_and_copies_of_evaluation_texts_are_left_out(prepare, tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "COMMON_TERM_SHARE", 0.5)  # of 3 articles: a term indexing 2 or 3 is not a keyword
    src = tmp_path / "src/data"
    src.mkdir(parents=True)
    (src / "ori_pqal.json").write_text(json.dumps(ARTICLES))
    (src / "test_ground_truth.json").write_text(json.dumps({"2": "yes"}))
    task = make_query_task(tmp_path / "HandRetrieval", ["do statins reduce breast cancer death", "liver cirrhosis"])
    out = tmp_path / "out"
    prepare.main(["--source", str(tmp_path / "src"), "--output_dir", str(out), "--decontamination_tasks", str(task)])
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    positive = "Coffee drinkers were followed. Less cirrhosis."
    row = {"query": "Does coffee protect the liver?", "positive": positive, "instruction": prepare.INSTRUCTION}
    assert rows == [{**row, "language": "en", "pmid": "1"}]
    # "Humans" indexes every article: not a keyword
    keywords = [json.loads(line) for line in (out / "keywords.jsonl").read_text().splitlines()]
    row = {"query": "Coffee, Liver Cirrhosis", "positive": positive, "instruction": prepare.KEYWORDS_INSTRUCTION}
    assert keywords == [{**row, "language": "en", "pmid": "1"}]
    # each specific term alone, lower-cased; "liver cirrhosis" copies the evaluation query below: dropped alone
    terms = [json.loads(line) for line in (out / "terms.jsonl").read_text().splitlines()]
    assert [(t["query"], t["positive"], t["pmid"]) for t in terms] == [("coffee", positive, "1")]
    source = json.loads((out / "source.json").read_text())
    assert source["commit"] == prepare.COMMIT and source["test_articles_left_out"] == 1
    assert source["rows_dropped"] == 1 and source["decontamination"]["HandRetrieval"]["rows_removed"] == 2


def test_the_dev_task_queries_test_articles_by_terms_no_training_row_uses(prepare, tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "COMMON_TERM_SHARE", 0.5)
    articles = {**ARTICLES, "4": {"QUESTION": "Is coffee bitter?", "CONTEXTS": ["Taste."], "MESHES": ["Coffee"]}}
    src = tmp_path / "src/data"
    src.mkdir(parents=True)
    (src / "ori_pqal.json").write_text(json.dumps(articles))
    (src / "test_ground_truth.json").write_text(json.dumps({"2": "yes", "4": "no"}))
    dev = tmp_path / "dev"
    labelled, test = prepare.read_articles(tmp_path / "src")
    stats = prepare.write_dev_task(labelled, test, prepare.MeshTerms(labelled), dev, training_queries={"coffee"})
    task = json.loads((dev / "task.json").read_text())
    assert task["type"] == "Retrieval" and task["split"] == "dev" and task["instruction"]
    # article 4's only term is a training query: no dev query; "Fish Oils" indexes article 2 alone
    assert [json.loads(q)["text"] for q in (dev / "queries.jsonl").read_text().splitlines()] == ["fish oils"]
    assert (dev / "qrels/dev.tsv").read_text().splitlines()[1:] == ["T0\t2\t1"]
    corpus = [json.loads(d) for d in (dev / "corpus.jsonl").read_text().splitlines()]
    assert [d["_id"] for d in corpus] == ["1", "2", "3", "4"] and corpus[0]["text"].startswith("Coffee drinkers")
    assert stats == {"queries": 1, "corpus": 4, "qrels": 1}


def test_a_bad_source_is_one_line(prepare, tmp_path):
    with pytest.raises(SystemExit, match="^error: .*ori_pqal.json"):
        prepare.main(
            ["--source", str(tmp_path), "--output_dir", str(tmp_path / "out"), "--decontamination_tasks", "x"]
        )
    assert not (tmp_path / "out").exists()


def test_the_shipped_rows_are_what_the_recipe_reads():
    folder = REPO_ROOT / "data/pubmedqa"
    source = json.loads((folder / "source.json").read_text())
    for name, count in (("train.jsonl", 500), ("keywords.jsonl", 500), ("terms.jsonl", 993)):
        rows = load_mixture(DataArguments(dataset_mixture=[{"path": str(folder / name), "name": name}]))
        assert len(rows) == source["rows"][name] == count
        assert set(rows["instruction"]) == {source["instructions"][name]}
    assert source["test_articles_left_out"] == 500 and "NFCorpus" in source["decontamination"]
