"""Multilingual local tasks: BitextMining with mteb's own evaluator, and each folder's `hf_subset` kept as the MTEB
subset and language, several subsets of one mteb task in one run (issue 20, item 6)."""

from __future__ import annotations

import json

import pytest
from helpers.evaluation import make_bitext_task, make_multilingual_sts_task, make_sts_task

from synthembed.evaluation.local_tasks import LocalTaskError, load_local_tasks


def test_ntrex_bitext_reproduces_published_minilm_f1(minilm_dir, evaldata_tasks, tmp_path):
    """all-MiniLM-L6-v2 on NTREX deu→eng: MTEB's published F1 (task.json `reference`), to 2 decimals."""
    from synthembed.cli import evaluate

    folder = evaldata_tasks / "NTREX-deu-eng"
    published = json.loads((folder / "task.json").read_text())["reference"]["all-MiniLM-L6-v2"]
    argv = ["--model_name_or_path", minilm_dir, "--local_tasks", folder, "--output_dir", tmp_path / "out"]
    summary = evaluate.main([*map(str, argv), "--batch_size", "64", "--show_progress_bar", "false"])
    assert summary["tasks"] == {"NTREXBitextMining (deu_Latn-eng_Latn)": pytest.approx(published, abs=0.005)}
    assert published == 39.05


@pytest.fixture(scope="module")
def multilingual_run(minilm_dir, tmp_path_factory):
    """Two STSBMulti-dev-like folders and two NTREX-like folders (two subsets of each of two mteb tasks), one run."""
    from synthembed.cli import evaluate

    root = tmp_path_factory.mktemp("multilingual")
    folders = [
        make_multilingual_sts_task(root / "tasks" / "STSBMulti-dev-de", "deu", "de"),
        make_multilingual_sts_task(root / "tasks" / "STSBMulti-dev-fr", "fra", "fr"),
        make_bitext_task(root / "tasks" / "NTREX-deu-eng", "deu", "deu_Latn-eng_Latn"),
        make_bitext_task(root / "tasks" / "NTREX-fra-eng", "fra", "fra_Latn-eng_Latn"),
    ]
    out = root / "out"
    argv = ["--model_name_or_path", minilm_dir, "--output_dir", out, "--local_tasks", *folders]
    return evaluate.main([*map(str, argv), "--show_progress_bar", "false"]), out


def test_each_folder_scored_under_its_own_subset_and_language(multilingual_run):
    summary, _ = multilingual_run
    expected = {
        "STSBenchmarkMultilingualSTS (de)": ("de", ["deu-Latn"], "STSBMulti-dev-de", "dev"),
        "STSBenchmarkMultilingualSTS (fr)": ("fr", ["fra-Latn"], "STSBMulti-dev-fr", "dev"),
        "NTREXBitextMining (deu_Latn-eng_Latn)": (
            "deu_Latn-eng_Latn",
            ["deu-Latn", "eng-Latn"],
            "NTREX-deu-eng",
            "test",
        ),
        "NTREXBitextMining (fra_Latn-eng_Latn)": (
            "fra_Latn-eng_Latn",
            ["fra-Latn", "eng-Latn"],
            "NTREX-fra-eng",
            "test",
        ),
    }
    assert set(summary["tasks"]) == set(expected)
    for name, (subset, languages, folder, split) in expected.items():
        d = summary["details"][name]
        assert (d["subset"], d["languages"], d["folder"], d["split"]) == (subset, languages, folder, split)
    assert summary["categories"].keys() == {"STS", "BitextMining"}
    # six parallel sentences: MiniLM pairs a few German/French ones with their English (not all: it is English-only)
    assert 0 < summary["tasks"]["NTREXBitextMining (fra_Latn-eng_Latn)"] <= 100


def test_mteb_result_files_keep_both_subsets(multilingual_run):
    _, out = multilingual_run
    for task, split, subsets in [
        ("STSBenchmarkMultilingualSTS", "dev", {"de": ["deu-Latn"], "fr": ["fra-Latn"]}),
        (
            "NTREXBitextMining",
            "test",
            {"deu_Latn-eng_Latn": ["deu-Latn", "eng-Latn"], "fra_Latn-eng_Latn": ["fra-Latn", "eng-Latn"]},
        ),
    ]:
        (path,) = (out / "results").rglob(f"{task}.json")
        scores = json.loads(path.read_text())["scores"][split]
        assert {s["hf_subset"]: s["languages"] for s in scores} == subsets


def test_card_and_subset_averages_name_the_subsets(multilingual_run):
    from synthembed.evaluation.summary import paper_score, subset_scores
    from synthembed.model_card import eval_results

    summary, out = multilingual_run
    names = {r.dataset_name: r.dataset_config for r in eval_results(summary)}
    assert names["MTEB STSBenchmarkMultilingualSTS (de)"] == "de"
    assert names["MTEB NTREXBitextMining (fra_Latn-eng_Latn)"] == "fra_Latn-eng_Latn"
    sts = subset_scores(summary, "STSBenchmarkMultilingualSTS", skip=("en",))
    assert sts == {
        "de": summary["tasks"]["STSBenchmarkMultilingualSTS (de)"],
        "fr": summary["tasks"]["STSBenchmarkMultilingualSTS (fr)"],
    }
    assert set(subset_scores(summary, "NTREXBitextMining")) == {"deu_Latn-eng_Latn", "fra_Latn-eng_Latn"}
    # the paper's STS17 figure is its en-en subset: no figure for another subset
    assert paper_score("STS17 (de-en)", {"mteb_task": "STS17", "subset": "de-en"}) is None
    assert paper_score("STS17", {"mteb_task": "STS17", "subset": "en-en"}) == 91.8
    assert "| STSBenchmarkMultilingualSTS (de) | STS |" in (out / "summary.md").read_text()


def test_subset_folders_that_cannot_be_merged(tmp_path):
    de = make_multilingual_sts_task(tmp_path / "a", "deu", "de")
    again = make_multilingual_sts_task(tmp_path / "b", "deu", "de")
    with pytest.raises(LocalTaskError, match="both hold subset 'de' of STSBenchmarkMultilingualSTS"):
        load_local_tasks([de, again])
    test_split = make_multilingual_sts_task(tmp_path / "c", "fra", "fr")
    spec = json.loads((test_split / "task.json").read_text())
    (test_split / "task.json").write_text(json.dumps({**spec, "split": "test"}))
    (test_split / "dev.jsonl").rename(test_split / "test.jsonl")
    with pytest.raises(LocalTaskError, match="different splits"):
        load_local_tasks([de, test_split])


def test_bad_hf_subset(tmp_path):
    folder = make_multilingual_sts_task(tmp_path / "x", "deu", "xx")
    with pytest.raises(LocalTaskError, match="hf_subset 'xx' is not a subset of STSBenchmarkMultilingualSTS"):
        load_local_tasks([folder])
    own = make_sts_task(tmp_path / "own")
    spec = json.loads((own / "task.json").read_text())
    (own / "task.json").write_text(json.dumps({**spec, "hf_subset": "de"}))
    with pytest.raises(LocalTaskError, match="hf_subset needs mteb_task"):
        load_local_tasks([own])


def test_folder_without_hf_subset_keeps_the_english_subset(tmp_path):
    """The STS17 / AmazonCounterfactual copies of MTEB(eng, v1): no hf_subset, the English subset, one plain name."""
    from synthembed.evaluation.runner import score_names

    (task,) = load_local_tasks([make_sts_task(tmp_path / "STS17", name="STS17", mteb_task="STS17")])
    assert task.hf_subsets == ["en-en"] and score_names(task) == [("STS17", None)]
