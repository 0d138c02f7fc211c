"""render_model_card: Hub-parsable metadata before and after evaluation; training info survives the evaluation."""

from __future__ import annotations

import json

from huggingface_hub import ModelCard

from synthembed.evaluation.summary import build_summary
from synthembed.model_card import render_model_card

CONFIG = {"pooling": "last_token", "normalize": True, "query_template": "Instruct: {instruction}\nQuery: {query}",
          "default_instruction": "Given a web search query, retrieve relevant passages that answer the query",
          "max_seq_length": 512, "base_model": "mistralai/Mistral-7B-v0.1"}  # fmt: skip


def _results():
    details = {
        "STSBenchmark": {"type": "STS", "mteb_task": "STSBenchmark", "main_score": "cosine_spearman", "split": "test",
                         "dataset": "mteb/stsbenchmark-sts", "revision": "b0fddb56ed78048fa8b90373c8a3cfc37b684831"},
        "AmazonCounterfactual": {"type": "Classification", "mteb_task": "AmazonCounterfactualClassification",
                                 "main_score": "accuracy", "split": "test", "subset": "en",
                                 "dataset": "mteb/amazon_counterfactual"},
        "NFCorpus": {"type": "Retrieval", "mteb_task": None, "main_score": "ndcg_at_10", "split": "test",
                     "dataset": "local/NFCorpus", "comparable": False},
    }  # fmt: skip
    return build_summary({"STSBenchmark": 0.8203, "AmazonCounterfactual": 0.6358, "NFCorpus": 0.2871}, details)


def test_card_before_evaluation(tmp_path):
    (tmp_path / "synthembed_config.json").write_text(json.dumps(CONFIG))
    path = render_model_card(
        tmp_path, base_model="mistralai/Mistral-7B-v0.1", pooling="last_token",
        training_summary={"learning_rate": 1e-4, "steps": 1000}, datasets=["someone/synthetic-e5"],
    )  # fmt: skip
    card = ModelCard.load(path)
    assert card.data.base_model == "mistralai/Mistral-7B-v0.1"
    assert card.data.library_name == "sentence-transformers" and card.data.eval_results is None
    assert 'prompt_name="query"' in card.text and "Instruct: Given a web search query" in card.text
    assert "Not evaluated yet" in card.text


def test_card_with_results_keeps_training_info(tmp_path):
    (tmp_path / "synthembed_config.json").write_text(json.dumps(CONFIG))
    (tmp_path / "training_summary.json").write_text(
        json.dumps({"training_summary": {"steps": 7}, "datasets": ["a/b"]})
    )
    render_model_card(tmp_path, base_model=None, pooling="last_token", model_name="someone/e5-repro")
    results = _results()
    path = render_model_card(tmp_path, base_model=None, pooling="last_token", results=results)
    card = ModelCard.load(path)
    assert card.data.to_dict()["training_summary"] == {"steps": 7} and card.data.datasets == ["a/b"]
    parsed = {r.dataset_name: r for r in card.data.eval_results}
    assert len(parsed) == 3
    assert {r.metric_value for r in parsed.values()} == set(results["tasks"].values())
    assert parsed["MTEB AmazonCounterfactualClassification (en)"].dataset_config == "en"
    assert parsed["NFCorpus (local)"].dataset_type == "local/NFCorpus"
    assert card.data.model_name == "someone/e5-repro"  # kept from the first render
    assert (tmp_path / "mteb_categories.png").is_file() and "| Retrieval | 1 |" in card.text


def test_local_path_base_model_is_not_metadata(tmp_path):
    card = ModelCard.load(render_model_card(tmp_path, base_model=str(tmp_path), pooling="mean"))
    assert card.data.base_model is None and str(tmp_path) in card.text
