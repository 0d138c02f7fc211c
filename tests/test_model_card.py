"""render_model_card on a folder the real trainer and saver wrote: Hub-parsable metadata before and after
evaluation, training information and the learning curve read from the folder's settings (one source)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from helpers.launch import train_with_dev_sets
from huggingface_hub import ModelCard

from synthembed.evaluation.summary import build_summary
from synthembed.model_card import render_model_card
from synthembed.model_folder import read_settings, write_settings


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, tiny_mistral_dir):
    return train_with_dev_sets(tmp_path_factory.mktemp("trained"), tiny_mistral_dir)


@pytest.fixture
def model_dir(trained_dir, tmp_path):
    return shutil.copytree(trained_dir, tmp_path / "model")


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


def test_card_written_at_save_time(model_dir):
    card = ModelCard.load(model_dir / "README.md")
    assert card.data.library_name == "sentence-transformers" and card.data.eval_results is None
    assert card.data.base_model is None  # a local path is not Hub metadata; the text names it
    assert str(read_settings(model_dir).base_model) in card.text
    assert 'prompt_name="query"' in card.text and "Instruct: Given a web search query" in card.text
    assert "| global_step | 4 |" in card.text and "![Learning curve](learning_curve.png)" in card.text
    assert "Not evaluated yet" in card.text


def test_card_with_results_keeps_training_info(model_dir):
    settings = read_settings(model_dir)
    write_settings(model_dir, dataclasses.replace(settings, base_model="mistralai/Mistral-7B-v0.1",
                                                  datasets=["someone/synthetic-e5", "/local/file.jsonl"]))  # fmt: skip
    render_model_card(model_dir, model_name="someone/e5-repro")
    results = _results()
    card = ModelCard.load(render_model_card(model_dir, results=results))
    assert card.data.base_model == "mistralai/Mistral-7B-v0.1" and card.data.datasets == ["someone/synthetic-e5"]
    assert "| global_step | 4 |" in card.text and "![Learning curve](learning_curve.png)" in card.text
    parsed = {r.dataset_name: r for r in card.data.eval_results}
    assert len(parsed) == 3
    assert {r.metric_value for r in parsed.values()} == set(results["tasks"].values())
    assert parsed["MTEB AmazonCounterfactualClassification (en)"].dataset_config == "en"
    assert parsed["NFCorpus (local)"].dataset_type == "local/NFCorpus"
    assert card.data.model_name == "someone/e5-repro"  # kept from the first render
    assert (model_dir / "mteb_categories.png").is_file() and "| Retrieval | 1 |" in card.text


def test_card_for_a_model_trained_elsewhere(tmp_path):
    card = ModelCard.load(render_model_card(tmp_path, pooling="mean", results=_results()))
    assert card.data.base_model is None and "`mean`" in card.text and "Training" not in card.text
