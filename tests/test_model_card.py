"""render_model_card on a folder the real trainer and saver wrote (trained on a seam-1 dataset with a language column):
Hub metadata that claims only what something shows (license, language, datasets, model-index), training information
and the learning curve from the folder's settings, and the push of card and mteb results to a loopback Hub."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import yaml
from helpers.evaluation import make_sts_task
from helpers.hub_server import LoopbackHub
from helpers.launch import ROWS, train_with_dev_sets
from huggingface_hub import ModelCard

from synthembed.card_facts import GEMMA_TERMS, with_card_facts
from synthembed.evaluation.summary import build_summary
from synthembed.model_card import render_model_card
from synthembed.model_folder import CONFIG_NAME, read_settings, write_settings

# (language, source_language, target_language) per row: three languages, a bitext pair, a name without a code.
LANGUAGES = [("English", None, None)] * 5 + [("Chinese", None, None)] * 3 + [("Swahili", None, None)] * 2
LANGUAGES += [("French", "French", "German"), ("Klingon", None, None)]


def seam1_dataset(path):
    """The rows of helpers.launch, as data_generation writes a dataset (all seam-1 columns)."""
    from data_generation.output import to_dataset

    rows = []
    for i, row in enumerate(ROWS):
        language, source, target = LANGUAGES[i % len(LANGUAGES)]
        languages = {"language": language, "source_language": source, "target_language": target}
        provenance = {"generator_model": "scripted", "placeholders": "{}", "prompt_version": "test"}
        rows.append({**row, **languages, **provenance})
    to_dataset(rows).save_to_disk(str(path))
    return path


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, tiny_mistral_dir):
    tmp = tmp_path_factory.mktemp("trained")
    data = seam1_dataset(tmp / "synthetic" / "dataset")
    return train_with_dev_sets(tmp, tiny_mistral_dir, dataset_mixture=[{"path": str(data), "name": "synthetic"}])


@pytest.fixture
def model_dir(trained_dir, tmp_path):
    return shutil.copytree(trained_dir, tmp_path / "model")


def _results():
    stsb = {
        "type": "STS",
        "mteb_task": "STSBenchmark",
        "main_score": "cosine_spearman",
        "split": "test",
        "dataset": "mteb/stsbenchmark-sts",
        "revision": "b0fddb56ed78048fa8b90373c8a3cfc37b684831",
    }
    amazon = {
        "type": "Classification",
        "mteb_task": "AmazonCounterfactualClassification",
        "main_score": "accuracy",
        "split": "test",
        "subset": "en",
        "dataset": "mteb/amazon_counterfactual",
    }
    nfcorpus = {
        "type": "Retrieval",
        "mteb_task": None,
        "main_score": "ndcg_at_10",
        "split": "test",
        "dataset": "local/NFCorpus",
        "local": True,
        "comparable": False,
    }
    details = {"STSBenchmark": stsb, "AmazonCounterfactual": amazon, "NFCorpus": nfcorpus}
    return build_summary({"STSBenchmark": 0.8203, "AmazonCounterfactual": 0.6358, "NFCorpus": 0.2871}, details)


def _set(model_dir, **changes):
    """Change the folder's settings as the saver writes them: with the card's facts found now."""
    write_settings(model_dir, with_card_facts(dataclasses.replace(read_settings(model_dir), **changes)))


def test_card_written_at_save_time(model_dir):
    card = ModelCard.load(model_dir / "README.md")
    settings = read_settings(model_dir)
    assert card.data.library_name == "sentence-transformers" and card.data.eval_results is None
    assert card.data.base_model is None  # a local path is not Hub metadata; the text names it
    assert str(settings.base_model) in card.text
    # No license anywhere in the tiny base model: none claimed, and the text says whose applies.
    assert card.data.license is None and "not recorded; the weights derive from" in card.text
    # The languages of the rows the model was trained on, most rows first; the bitext target is one of them.
    assert card.data.language == ["en", "zh", "sw", "fr", "de"]
    assert "Klingon" in card.text and "left out" in card.text
    assert card.data.datasets is None and f"`{settings.datasets[0]}` (local)" in card.text
    assert 'prompt_name="query"' in card.text and "Instruct: Given a web search query" in card.text
    assert "| global_step | 4 |" in card.text and "![Learning curve](learning_curve.png)" in card.text
    assert "Not evaluated yet" in card.text


def test_card_with_results_keeps_training_info(model_dir):
    _set(model_dir, base_model="mistralai/Mistral-7B-v0.1", datasets=["someone/synthetic-e5", "/local/file.jsonl"])
    render_model_card(model_dir, model_name="someone/e5-repro")
    results = _results()
    card = ModelCard.load(render_model_card(model_dir, results=results))
    assert card.data.base_model == "mistralai/Mistral-7B-v0.1" and card.data.datasets == ["someone/synthetic-e5"]
    assert card.data.license is None  # the Hub id's card is not in the cache: no claim
    assert card.data.language is None and "`/local/file.jsonl` (local) | not recorded" in card.text
    assert "| global_step | 4 |" in card.text and "![Learning curve](learning_curve.png)" in card.text
    # model-index as e5-mistral-7b-instruct's card has it, for the comparable tasks only; the local task is in the
    # text, marked.
    parsed = {r.dataset_name: r for r in card.data.eval_results}
    assert set(parsed) == {"MTEB STSBenchmark", "MTEB AmazonCounterfactualClassification (en)"}
    stsb, amazon = parsed["MTEB STSBenchmark"], parsed["MTEB AmazonCounterfactualClassification (en)"]
    assert (stsb.task_type, stsb.metric_type, stsb.metric_value) == ("STS", "cosine_spearman", 82.03)
    assert stsb.dataset_type == "mteb/stsbenchmark-sts" and stsb.source_name == "MTEB"
    assert (amazon.task_type, amazon.dataset_config, amazon.metric_type) == ("Classification", "en", "accuracy")
    assert "| NFCorpus (local) | Retrieval |" in card.text and "left out of the model-index" in card.text
    assert card.data.model_name == "someone/e5-repro"  # kept from the first render
    assert (model_dir / "mteb_categories.png").is_file() and "| Retrieval | 1 |" in card.text


def test_facts_found_where_training_ran_survive_a_render_elsewhere(model_dir, tmp_path):
    data = shutil.copytree(read_settings(model_dir).datasets[0], tmp_path / "data")
    _set(model_dir, datasets=[str(data)], base_model=str(data))  # a "base" without a card: no license
    recorded = read_settings(model_dir).card_facts  # by the saver
    assert recorded["datasets"][str(data)]["languages"] == ["en", "zh", "sw", "fr", "de"]
    shutil.rmtree(data)  # evaluation on another machine: the training data's path does not resolve there
    card = ModelCard.load(render_model_card(model_dir, results=_results()))
    assert card.data.language == ["en", "zh", "sw", "fr", "de"] and "(from the rows' language columns)" in card.text


def test_the_card_reads_the_settings_and_never_writes_them(model_dir):
    """The trainer's synthembed_config.json is the saver's file: a render (here of a folder saved before facts were
    recorded, whose facts it finds for itself) leaves it byte for byte as it was."""
    settings_file = model_dir / CONFIG_NAME
    write_settings(model_dir, dataclasses.replace(read_settings(model_dir), card_facts=None))
    before = settings_file.read_bytes()
    card = ModelCard.load(render_model_card(model_dir, results=_results()))
    assert settings_file.read_bytes() == before
    assert card.data.language == ["en", "zh", "sw", "fr", "de"]


def test_the_card_says_where_instructions_go(model_dir):
    """A folder trained with `instruct_symmetric_tasks: false` says its STS and bitext inputs are bare."""
    card = ModelCard.load(render_model_card(model_dir))
    assert "**Query format:**" in card.text and "**Symmetric tasks**" not in card.text
    write_settings(model_dir, dataclasses.replace(read_settings(model_dir), instruct_symmetric_tasks=False))
    card = ModelCard.load(render_model_card(model_dir))
    assert "**Symmetric tasks** (STS, pair classification, summarization, bitext mining): both texts are embedded" in (
        card.text
    )


def _cache_file(cache, repo_type, repo_id, filename, text):
    repo = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text("c" * 40)
    (repo / "snapshots" / ("c" * 40)).mkdir(parents=True, exist_ok=True)
    (repo / "snapshots" / ("c" * 40) / filename).write_text(text)


def test_license_and_language_from_what_shows_them(model_dir, gemma_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    # A Gemma base (the embedded Gemma-3-270M folder: no card, a gemma3_text config): the Gemma terms.
    _set(model_dir, base_model=str(gemma_dir))
    card = ModelCard.load(render_model_card(model_dir))
    assert (card.data.license, card.data.license_link) == ("gemma", GEMMA_TERMS)
    assert "from a Gemma base model (gemma3_text)" in card.text

    # A local base folder with a card: its front matter.
    base = tmp_path / "base"
    base.mkdir()
    (base / "README.md").write_text("---\nlicense: other\nlicense_name: acme-research\nlicense_link: LICENSE\n---\n")
    _set(model_dir, base_model=str(base))
    card = ModelCard.load(render_model_card(model_dir))
    # its license_link is a file of that folder, not of this repo: no link
    assert (card.data.license, card.data.license_name, card.data.license_link) == ("other", "acme-research", None)

    # Hub ids whose cards a download left in the Hub cache: the base model's license, the dataset card's languages.
    cache = tmp_path / "hub-cache"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    _cache_file(cache, "model", "acme/base-7b", "README.md", "---\nlicense: other\nlicense_link: LICENSE\n---\n")
    _cache_file(cache, "dataset", "acme/nli", "README.md", "---\nlanguage:\n- en\n---\n# nli\n")
    _set(model_dir, base_model="acme/base-7b", datasets=["acme/nli", "acme/not-cached"])
    card = ModelCard.load(render_model_card(model_dir))
    assert card.data.base_model == "acme/base-7b" and card.data.license == "other"
    assert card.data.license_link == "https://huggingface.co/acme/base-7b/blob/main/LICENSE"
    assert card.data.datasets == ["acme/nli", "acme/not-cached"] and card.data.language == ["en"]
    assert "(from its dataset card (Hub cache))" in card.text

    # The recipe's own statement wins over what the card would read.
    _set(model_dir, license="apache-2.0", language=["en", "de"])
    card = ModelCard.load(render_model_card(model_dir))
    assert (card.data.license, card.data.language) == ("apache-2.0", ["en", "de"])
    assert "(from the training recipe)" in card.text


def test_card_for_a_model_trained_elsewhere(tmp_path):
    card = ModelCard.load(render_model_card(tmp_path, pooling="mean", results=_results()))
    assert card.data.base_model is None and "`mean`" in card.text and "Training" not in card.text
    assert card.data.license is None and card.data.language is None


def test_push_sends_card_and_mteb_eval_results(model_dir, tmp_path, monkeypatch):
    """Real mteb results (a local copy of STSBenchmark, comparable; a task of one's own, not) pushed in one commit."""
    import huggingface_hub.constants

    from synthembed.evaluation.runner import evaluate_model
    from synthembed.hub import LOCAL_COPY_NOTE, push_card_and_results

    tasks = [make_sts_task(tmp_path / "TinySTS"), make_sts_task(tmp_path / "STSB", "STSB", mteb_task="STSBenchmark")]
    out = tmp_path / "eval"
    summary = evaluate_model(model_dir, local_tasks=[str(t) for t in tasks], output_dir=out, batch_size=8)
    render_model_card(model_dir, results=summary, model_name="someone/e5-repro")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with LoopbackHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token")
        push_card_and_results("someone/e5-repro", model_dir, out)
    assert hub.commits == ["models/someone/e5-repro"]
    assert all(auth == "Bearer hf_test_token" for _, path, auth in hub.calls if "/commit/" in path)
    files = hub.files
    assert {"README.md", "mteb_categories.png", ".eval_results/STSBenchmark.yaml"} <= set(files)
    assert not any(p.startswith(".eval_results/") and "TinySTS" in p for p in files)
    entries = yaml.safe_load(files[".eval_results/STSBenchmark.yaml"])
    assert {e["dataset"]["task_id"] for e in entries} == {"STSBenchmark_default_test", "STSBenchmark"}
    for entry in entries:
        assert entry["dataset"]["id"] == "mteb/stsbenchmark-sts" and entry["source"]["user"] == "someone"
        assert entry["value"] == pytest.approx(summary["tasks"]["STSBenchmark"], abs=0.01)
        assert LOCAL_COPY_NOTE in entry["notes"] and "MTEB v" in entry["notes"]
    assert {"eval_results/summary.json", "eval_results/summary.md"} <= set(files)
    assert any(p.startswith("eval_results/results/") and p.endswith("TinySTS.json") for p in files)
    card = ModelCard(files["README.md"].decode())
    assert [r.dataset_name for r in card.data.eval_results] == ["MTEB STSBenchmark"]
    assert "| TinySTS (local) |" in card.text and card.data.language == ["en", "zh", "sw", "fr", "de"]
