"""Personalized passkey retrieval (Wang et al., 2024, §5.2): generated deterministically, scored by mteb as top-1
accuracy, equal to a brute-force nearest-document count."""

from __future__ import annotations

import logging
import re

import pytest
import yaml

from synthembed.evaluation.passkey import CANDIDATES, QUERIES, passkey_data, passkey_task, warn_if_cut


def test_documents_hide_one_key_each_at_varying_positions(minilm_dir):
    from transformers import AutoTokenizer

    corpus, queries, qrels = passkey_data(256)
    assert (corpus, queries, qrels) == passkey_data(256)  # deterministic
    assert passkey_data(512)[0] != corpus
    assert len(corpus) == CANDIDATES and len(queries) == len(qrels) == QUERIES
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir))
    offsets = set()
    for query in queries:
        name = re.fullmatch(r"what is the pass key for (.+)\?", query["text"]).group(1)
        (doc_id,) = qrels[query["_id"]]
        text = next(d["text"] for d in corpus if d["_id"] == doc_id)
        key = re.search(rf"{name}'s pass key is (\d+)\. Remember it\. \1 is the pass key for {name}\.", text)
        assert key and sum(name in d["text"] for d in corpus) == 1  # one document names the person
        offsets.add(key.start())
        assert 0.85 * 256 < len(tokenizer(text, add_special_tokens=False)["input_ids"]) < 1.1 * 256
    assert len(offsets) >= 8  # the key sits anywhere in the filler (10 places at this length)


def brute_force_accuracy(model, length: int) -> float:
    corpus, queries, qrels = passkey_data(length)
    scores = model.similarity(model.encode([q["text"] for q in queries]), model.encode([d["text"] for d in corpus]))
    best = [corpus[int(i)]["_id"] for i in scores.argmax(dim=1)]
    return sum(doc in qrels[q["_id"]] for q, doc in zip(queries, best)) / len(queries)


def test_scores_equal_a_brute_force_reference(minilm_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from synthembed.cli import evaluate

    config = tmp_path / "evaluate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(minilm_dir),
                "tasks": ["Passkey56", "Passkey80"],
                "output_dir": str(tmp_path / "out"),
                "show_progress_bar": False,
                "update_model_card": False,  # the card's chart alone costs ~9 s here; test_evaluation_cli covers it
            }
        )
    )
    summary = evaluate.main(["--config", str(config)])
    model = SentenceTransformer(str(minilm_dir), device="cpu")
    expected = {f"Passkey{n}": round(100 * brute_force_accuracy(model, n), 2) for n in (56, 80)}
    assert summary["tasks"] == expected
    assert any(0 < score < 100 for score in expected.values())  # a score that tells lengths and models apart
    assert summary["categories"] == {"Passkey": round(sum(expected.values()) / 2, 2)}
    assert summary["details"]["Passkey56"]["main_score"] == "accuracy"
    assert not summary["details"]["Passkey56"]["comparable"]
    assert "| Passkey80 | Passkey | accuracy |" in (tmp_path / "out/summary.md").read_text()


def test_bad_length_and_cut_documents(caplog):
    from synthembed.evaluation.runner import TaskSelectionError, resolve_tasks

    with pytest.raises(TaskSelectionError, match="passkey length must be >= 54 tokens, got Passkey10"):
        resolve_tasks(["Passkey10"])
    assert [t.metadata.name for t in resolve_tasks(["Passkey"])][::7] == ["Passkey256", "Passkey32768"]
    with caplog.at_level(logging.WARNING):
        warn_if_cut([passkey_task(128)], 64)
    assert "cut at max_seq_length 64" in caplog.text
