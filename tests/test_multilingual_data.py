"""Multilingual training data: translated STS-B train rows with their English originals as the teacher's stand-ins
(multilingual knowledge distillation), built by scripts/prepare_multilingual_sts.py and read by the mixture."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from helpers.paths import REPO_ROOT, load_module

from synthembed.configs import DataArguments
from synthembed.data import load_mixture, text_id
from synthembed.evaluation.instructions import BITEXT_INSTRUCTION, STS_INSTRUCTION

ENGLISH = [
    ("A cat sleeps on the sofa.", "A cat is sleeping on a couch.", 4.6),
    ("A man plays a guitar.", "A man plays the guitar loudly.", 4.2),  # copies the test text below
    ("Two dogs run in a park.", "A child reads a book.", 0.4),
]


@pytest.fixture
def prepare():
    return load_module(REPO_ROOT / "scripts/prepare_multilingual_sts.py", "prepare_multilingual_sts")


def write_source(root, langs):
    (root / "data").mkdir(parents=True)
    for lang in ["en", *langs]:
        with open(root / f"data/stsb-{lang}-train.csv", "w", newline="") as f:
            rows = ENGLISH if lang == "en" else [(f"[{lang}] {a}", f"[{lang}] {b}", s) for a, b, s in ENGLISH]
            if lang == "fr":  # a translation copying a test text (the multilingual test sets are translations too)
                rows = [rows[0], rows[1], ("Deux chiens courent ensemble.", rows[2][1], rows[2][2])]
            csv.writer(f).writerows(rows)


def test_rows_drop_what_copies_a_test_text_in_english_or_translated(prepare, tmp_path):
    write_source(tmp_path / "src", prepare.LANGUAGES)
    task = tmp_path / "HandSTS"
    task.mkdir()
    (task / "task.json").write_text(
        json.dumps({"name": "HandSTS", "type": "STS", "main_score": "cosine_spearman", "split": "test"})
    )
    test = [
        {"sentence1": "a man plays a guitar", "sentence2": "x", "score": 1.0},
        {"sentence1": "Deux chiens courent ensemble", "sentence2": "y", "score": 1.0},
    ]
    (task / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    prepare.main(
        [
            "--source",
            str(tmp_path / "src"),
            "--output_dir",
            str(tmp_path / "out"),
            "--decontamination_tasks",
            str(task),
            "--parallel_per_language",
            "10",
        ]
    )
    sts = [json.loads(line) for line in (tmp_path / "out/sts.jsonl").read_text().splitlines()]
    parallel = [json.loads(line) for line in (tmp_path / "out/parallel.jsonl").read_text().splitlines()]
    source = json.loads((tmp_path / "out/source.json").read_text())
    # only the first pair scores >= 4 and copies nothing: one STS row per language, English originals for the teacher
    assert [(r["language"], r["query"], r["teacher_query"]) for r in sts] == [
        (lang, f"[{lang}] {ENGLISH[0][0]}", ENGLISH[0][0]) for lang in prepare.LANGUAGES
    ]
    assert all(r["instruction"] == STS_INSTRUCTION for r in sts)
    # parallel: sentences of the pairs left (pair 2 everywhere, pair 3 in French), teacher sees the English side
    assert all(r["teacher_positive"] == r["query"] and r["instruction"] == BITEXT_INSTRUCTION for r in parallel)
    assert len(parallel) == 4 * 8 + 2 and not any("man plays" in r["query"] for r in parallel)
    assert source["english_pairs_dropped"] == 1 and source["translated_pairs_dropped"] == 1
    assert source["commit"] == prepare.COMMIT and source["decontamination"]["HandSTS"]["rows_removed"] == 2


def test_the_shipped_rows_are_what_the_recipe_reads(tmp_path):
    """data/stsb-multi-mt as the gemma3-270m recipe's entries read it: the teacher's stand-ins kept per row."""
    folder = REPO_ROOT / "data/stsb-multi-mt"
    source = json.loads((folder / "source.json").read_text())
    entries = [{"path": str(folder / name), "name": name} for name in ("sts.jsonl", "parallel.jsonl")]
    rows = load_mixture(DataArguments(dataset_mixture=entries))
    assert len(rows) == sum(source["rows"].values())
    assert {"teacher_query", "teacher_positive"} <= set(rows.column_names)
    bitext = rows.filter(lambda r: r["instruction"] == BITEXT_INSTRUCTION)
    assert all(r["teacher_positive"] == r["query"] and r["teacher_query"] == "" for r in bitext.select(range(50)))
    assert source["split"].startswith("train") and {"SICK-R", "STSBenchmark"} <= set(source["decontamination"])


def test_teacher_caches_the_english_original_under_the_translation(minilm_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from synthembed.teacher import TeacherEmbeddings, training_texts

    path = tmp_path / "rows.jsonl"
    rows = [
        {
            "query": "Ein Hund bellt.",
            "positive": "Der Hund ist laut.",
            "teacher_query": "A dog barks.",
            "teacher_positive": "The dog is loud.",
        },
        {"query": "the cat", "positive": "a cat sleeps", "negative": "a car"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_mixture(DataArguments(dataset_mixture=[{"path": str(path)}]))
    queries, documents = training_texts(data, num_hard_negatives=1)
    cache = TeacherEmbeddings(str(minilm_dir), tmp_path / "cache", batch_size=2)
    cache.ensure(queries, documents, device="cpu")
    teacher = SentenceTransformer(str(minilm_dir), device="cpu")
    for text, stand_in, kind in [
        ("Ein Hund bellt.", "A dog barks.", "query"),
        ("the cat", "the cat", "query"),
        ("Der Hund ist laut.", "The dog is loud.", "document"),
        ("a car", "a car", "document"),
    ]:
        got = cache.lookup(torch.tensor([text_id(text)]), kind).numpy()
        np.testing.assert_allclose(got, teacher.encode([stand_in], normalize_embeddings=True), atol=1e-5)
