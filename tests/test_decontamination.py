"""One decontamination rule for generated and downloaded training data (synthembed/decontamination.py)."""

from __future__ import annotations

import json
import logging

import pytest

from synthembed.configs import DataArguments
from synthembed.data import load_mixture
from synthembed.decontamination import Decontamination
from synthembed_common.config import ConfigError

LONG = "the quick brown fox jumps over the lazy dog while the farmer sleeps under an old oak tree"


@pytest.fixture
def sts_task(tmp_path):
    folder = tmp_path / "HandSTS"
    folder.mkdir()
    spec = {"name": "HandSTS", "type": "STS", "main_score": "cosine_spearman", "split": "test"}
    (folder / "task.json").write_text(json.dumps(spec))
    rows = [
        {"sentence1": "A man plays a guitar.", "sentence2": "Two dogs run.", "score": 3.0},
        {"sentence1": LONG, "sentence2": "A woman is slicing an onion today.", "score": 1.0},
    ]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_rule_ngram_contained_and_equal_texts(sts_task):
    d = Decontamination([str(sts_task)])
    assert d.match_texts(["Two DOGS run!"]) == "HandSTS"  # 3 words: only equality can catch it
    assert d.match_texts(["Two dogs run fast."]) is None  # a short test text inside a longer one: not under n/2 words
    assert d.match_texts(["Look: a woman is slicing an onion today, again."]) == "HandSTS"  # 7 words whole
    assert d.match_texts(["Yesterday " + " ".join(LONG.split()[2:15]) + " indeed"]) == "HandSTS"  # a 13-gram
    assert d.match_texts(["Yesterday " + " ".join(LONG.split()[2:14]) + " indeed"]) is None  # 12 words only
    assert d.match_texts([None, "unrelated text"]) is None


def test_training_mixture_drops_rows_copying_test_texts_and_logs_them(sts_task, tmp_path, caplog):
    rows = [
        {"query": "two dogs run", "positive": "Animals move."},  # query equals a test sentence
        {"query": "A cat sleeps.", "positive": "A feline rests.", "negative": "A man plays a guitar"},  # negative
        {"query": "A cat sleeps.", "positive": "A kitten naps."},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    entry = {"path": str(path), "name": "hand"}
    with caplog.at_level(logging.INFO, logger="synthembed.data"):
        kept = load_mixture(DataArguments(dataset_mixture=[entry], decontamination_tasks=[str(sts_task)]))
    assert kept["positive"] == ["A kitten naps."]
    assert "dataset hand: 2 rows copy evaluation texts, dropped ({'HandSTS': 2})" in caplog.text
    assert len(load_mixture(DataArguments(dataset_mixture=[entry]))) == 3  # off by default


@pytest.mark.parametrize("tasks", [["", "x"], "STSBenchmark", [3], []])  # [] too: null turns it off
def test_decontamination_tasks_must_be_a_list_of_names(tasks, tmp_path):
    (tmp_path / "x.jsonl").write_text('{"query": "q", "positive": "p"}\n')
    with pytest.raises(
        ConfigError,
        match="`decontamination_tasks` must be a non-empty list of MTEB task names or task folders, or null",
    ):
        DataArguments(dataset_mixture=[{"path": str(tmp_path / "x.jsonl")}], decontamination_tasks=tasks)


def test_a_task_that_cannot_load_is_one_line_naming_the_field(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"query": "q", "positive": "p"}\n')
    entry = {"path": str(tmp_path / "x.jsonl")}
    with pytest.raises(ConfigError, match="`decontamination_tasks` entry 'NoSuchTaskXYZ' could not be loaded"):
        load_mixture(DataArguments(dataset_mixture=[entry], decontamination_tasks=["NoSuchTaskXYZ"]))
