"""The exact strings a trained (query_template) model receives under the E5 protocol (Wang et al., 2024, §4.2; the official unilm e5 scripts)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.evaluation import make_retrieval_task, make_sts_task, save_trained_like_model

from synthembed.evaluation.encoder import E5ProtocolEncoder
from synthembed.evaluation.runner import evaluate_model


@pytest.fixture(scope="module")
def trained_dir(tiny_mistral_dir, tmp_path_factory):
    return save_trained_like_model(tiny_mistral_dir, tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="module")
def recorded(trained_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    tasks = [make_retrieval_task(root / "SciFact", name="SciFact"), make_sts_task(root / "STSBenchmark", n=6)]
    encoder = E5ProtocolEncoder(trained_dir, batch_size=4)
    encoder.record_inputs = []
    summary = evaluate_model(
        trained_dir, local_tasks=[str(t) for t in tasks], output_dir=root / "out", encoder=encoder, batch_size=4
    )
    return encoder, summary


def test_retrieval_instruction_on_queries_only(recorded):
    encoder, _ = recorded
    calls = [(kind, texts) for task, kind, texts in encoder.record_inputs if task == "SciFact"]
    queries = [t for kind, texts in calls if kind == "query" for t in texts]
    documents = [t for kind, texts in calls if kind == "document" for t in texts]
    instruction = "Given a scientific claim, retrieve documents that support or refute the claim"
    assert sorted(queries) == sorted(
        [
            f"Instruct: {instruction}\nQuery: how much protein should a female eat",
            f"Instruct: {instruction}\nQuery: what do embeddings do",
        ]
    )
    # corpus: "{title} {text}".strip(), no instruction (unilm e5/mteb_beir_eval.py)
    assert sorted(documents) == sorted(
        [
            "Protein Women need about 46 grams of protein a day.",
            "The fox jumps over the dog.",
            "Embeddings Vectors map meaning.",
        ]
    )


def test_sts_instruction_on_every_input(recorded):
    encoder, _ = recorded
    texts = [t for task, _, batch in encoder.record_inputs if task == "TinySTS" for t in batch]
    assert texts and len(texts) == 12  # 6 pairs, both sides
    assert all(t.startswith("Instruct: Retrieve semantically similar text.\nQuery: ") for t in texts)
    assert {t.split("\nQuery: ", 1)[1] for t in texts} >= {"a cat sits here", "the cat is there"}


def test_outputs_and_protocol_summary(recorded, trained_dir):
    _, summary = recorded
    assert summary["protocol"] == "e5-instruction"
    assert set(summary["tasks"]) == {"SciFact", "TinySTS"}
    assert summary["details"]["SciFact"]["comparable"] is False  # local task without mteb_task


def test_normalization_per_task_type(trained_dir):
    encoder = E5ProtocolEncoder(trained_dir, batch_size=4)
    assert encoder.model.max_seq_length == 512
    assert not encoder.normalizes("Classification") and encoder.normalizes("STS") and encoder.normalizes("Retrieval")

    class Meta:
        name, type = "Banking77Classification", "Classification"

    batch = [{"text": ["some banking question", "another one"]}]
    raw = encoder.encode(batch, task_metadata=Meta, hf_split="test", hf_subset="default")
    Meta.type, Meta.name = "STS", "STSBenchmark"
    normed = encoder.encode(batch, task_metadata=Meta, hf_split="test", hf_subset="default")
    assert np.allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)


def test_plain_model_gets_no_instruction(minilm_dir):
    encoder = E5ProtocolEncoder(minilm_dir)
    assert encoder.template is None
    assert encoder.prepare(["x"], "STSBenchmark", "STS", None) == ["x"]


def test_reranking_candidates_and_quora_option(trained_dir):
    from mteb.types import PromptType

    encoder = E5ProtocolEncoder(trained_dir, batch_size=4)
    prefix = "Instruct: Retrieve duplicate questions from AskUbuntu forum\nQuery: "
    assert encoder.prepare(["cand"], "AskUbuntuDupQuestions", "Reranking", PromptType.document) == [prefix + "cand"]
    assert encoder.prepare(["doc"], "QuoraRetrieval", "Retrieval", PromptType.document) == ["doc"]  # script default
    encoder.doc_as_query = True
    assert encoder.prepare(["doc"], "QuoraRetrieval", "Retrieval", PromptType.document)[0].endswith("\nQuery: doc")
    assert encoder.prepare(["doc"], "NQ", "Retrieval", PromptType.document) == ["doc"]


def test_local_task_without_instruction_uses_model_default(trained_dir, tmp_path):
    from helpers.evaluation import DEFAULT_INSTRUCTION

    task = make_retrieval_task(tmp_path / "MyRetrieval", name="MyRetrieval")
    encoder = E5ProtocolEncoder(trained_dir, batch_size=4)
    encoder.record_inputs = []
    evaluate_model(trained_dir, local_tasks=[str(task)], output_dir=tmp_path / "out", encoder=encoder, batch_size=4)
    queries = [t for _, kind, texts in encoder.record_inputs if kind == "query" for t in texts]
    assert queries and all(q.startswith(f"Instruct: {DEFAULT_INSTRUCTION}\nQuery: ") for q in queries)


def test_evaluating_leaves_autograd_on(recorded):
    """An in-process evaluation (e.g. between training runs) must not switch gradients off for the process."""
    import torch

    assert torch.is_grad_enabled()
