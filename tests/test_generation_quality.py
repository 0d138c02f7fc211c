"""The quality gate (data_generation.quality): every rule rejects real bad examples and keeps good ones; a planted
MTEB test sentence is removed and reported per task; a paraphrase-level copy goes, distinct rows stay, also across
shards in merge_shards."""

from __future__ import annotations

import json
import sys
from collections import Counter

import pytest
from helpers.paths import EVALDATA_TASKS

from data_generation.config import GenerationConfig
from data_generation.parsing import Rejected, parse_brainstorm
from data_generation.quality import LANGUAGE_DETECTOR_MISSING, QualityGate
from synthembed_common.config import ConfigError


def _config(monkeypatch, **kwargs) -> GenerationConfig:
    monkeypatch.setenv("K", "x")
    base = dict(base_url="http://127.0.0.1:1/v1", api_key_env="K", model="m", output_dir="/nonexistent")
    return GenerationConfig(**{**base, **kwargs})


def _row(query, positive, negative=None, language="English", task_type="short-long", target=None) -> dict:
    return {
        "query": query,
        "positive": positive,
        "negative": negative,
        "task_type": task_type,
        "language": language,
        "source_language": language if target else None,
        "target_language": target,
    }


DOC = (
    "Regular handwashing with soap removes most germs from the skin. Health agencies advise washing for at least "
    "twenty seconds, especially before eating and after using the toilet, and drying the hands with a clean towel."
)


def test_tasks_and_fields_need_real_words(monkeypatch):
    gate, rejections = QualityGate(_config(monkeypatch, quality_language_check="off")), Counter()
    with pytest.raises(Rejected):  # the bare reply `"]["` is no list at all
        parse_brainstorm('"]["')
    junk = parse_brainstorm('["][", "1.", "- -", "Retrieve", "Find recipes that match a list of ingredients."]')
    assert junk[0] == "]["  # well-formed JSON, so parsing alone would keep it as a task
    kept = gate.filter_tasks({"short-long": junk, "long-long": ["][", "{}"]}, rejections)
    assert kept == {"short-long": ["Find recipes that match a list of ingredients."]}
    assert rejections == {"task_too_few_words": 6}
    rows = [
        _row("how long to wash hands", DOC, "Soap is made from fats."),
        _row("???", DOC, "Soap is made from fats."),
        _row("how long to wash hands", "12 34 56", "Soap is made from fats."),
        _row("how long to wash hands", DOC, "—"),
    ]
    assert gate.filter_rows(rows, rejections) == rows[:1]
    assert rejections["too_few_words"] == 3 and gate.report()["rules"]["too_few_words"] == 3


def test_query_positive_and_negative_must_differ(monkeypatch):
    gate, rejections = QualityGate(_config(monkeypatch, quality_language_check="off")), Counter()
    rows = [
        _row("A man is playing a guitar.", "A man plays the guitar.", "A woman is slicing onions.", task_type="sts"),
        _row("A man is playing a guitar.", "a man is  playing a GUITAR.", "A dog runs.", task_type="sts"),
        _row("A man is playing a guitar.", "A man plays the guitar.", "A MAN is playing a guitar.", task_type="sts"),
    ]
    assert gate.filter_rows(rows, rejections) == rows[:1]
    assert rejections == {"query_equals_positive": 1, "query_equals_negative": 1}


def test_language_check_rejects_text_in_another_language(monkeypatch):
    pytest.importorskip("lingua")
    gate, rejections = QualityGate(_config(monkeypatch)), Counter()
    german = "Regelmäßiges Händewaschen mit Seife entfernt die meisten Keime von der Haut."
    swahili = "Kunawa mikono mara kwa mara kwa sabuni huondoa vijidudu vingi kwenye ngozi yetu."
    french = "Se laver les mains régulièrement avec du savon élimine la plupart des germes de la peau."
    rows = [
        _row("Händewaschen wie lange", german, language="German"),
        _row("kunawa mikono", swahili, language="Swahili"),
        _row("Händewaschen wie lange", DOC, language="German"),  # the document came back in English
        _row(
            DOC,
            french,
            "Le savon est fabriqué à partir de graisses animales ou végétales.",
            "English",
            "bitext",
            "French",
        ),
        _row(DOC, french, DOC.replace("twenty", "thirty"), "English", "bitext", "French"),  # S3 not translated
        _row("ሰላም", "የእጅ መታጠብ በሳሙና ብዙ ጀርሞችን ከቆዳ ያስወግዳል እና ጤናን ይጠብቃል።", language="Amharic"),  # lingua lacks it
    ]
    kept = gate.filter_rows(rows, rejections)
    assert kept == [rows[0], rows[1], rows[3], rows[5]] and rejections == {"wrong_language": 2}
    report = gate.report()
    assert report["language_check"].startswith("lingua ") and report["language_unchecked_texts"] == {"Amharic": 1}


def test_language_check_is_skipped_and_said_so_without_a_detector(monkeypatch):
    monkeypatch.setitem(sys.modules, "lingua", None)  # `import lingua` raises ImportError, as where it is absent
    gate, rejections = QualityGate(_config(monkeypatch)), Counter()
    rows = [_row("Händewaschen wie lange", DOC, language="German")]
    assert gate.filter_rows(rows, rejections) == rows and not rejections
    assert gate.report()["language_check"] == LANGUAGE_DETECTOR_MISSING


def _sts_task(tmp_path):
    """The real STS Benchmark test set where ../shared has it, else a one-sentence stand-in of the same layout."""
    if (EVALDATA_TASKS / "STSBenchmark").is_dir():
        folder = EVALDATA_TASKS / "STSBenchmark"
    else:
        folder = tmp_path / "STSBenchmark"
        folder.mkdir()
        spec = {"name": "STSBenchmark", "type": "STS", "mteb_task": None, "main_score": "cosine_spearman"}
        (folder / "task.json").write_text(json.dumps(spec))
        line = {"sentence1": "A group of men play soccer on the beach.", "sentence2": "Two dogs run.", "score": 1.0}
        (folder / "test.jsonl").write_text(json.dumps(line) + "\n")
    first = json.loads((folder / "test.jsonl").read_text().splitlines()[1 if folder.parent == EVALDATA_TASKS else 0])
    return folder, first["sentence1"]


def _retrieval_task(tmp_path):
    folder = tmp_path / "HandRetrieval"
    (folder / "qrels").mkdir(parents=True)
    spec = {"name": "HandRetrieval", "type": "Retrieval", "mteb_task": None, "main_score": "ndcg_at_10"}
    (folder / "task.json").write_text(json.dumps(spec))
    corpus = [{"_id": "d1", "title": "", "text": DOC}, {"_id": "d2", "title": "", "text": "Unjudged: " + DOC[::-1]}]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "how long should I wash my hands"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return folder


def test_decontamination_removes_a_planted_mteb_test_sentence_reported_per_task(monkeypatch, tmp_path):
    sts, sentence = _sts_task(tmp_path)
    retrieval = _retrieval_task(tmp_path)
    config = _config(monkeypatch, quality_language_check="off", decontamination_tasks=[str(sts), str(retrieval)])
    gate, rejections = QualityGate(config), Counter()
    words = DOC.split()
    rows = [
        _row("beach sports", f"Photos from the weekend. {sentence.upper()} Everyone had fun.", task_type="sts"),
        _row("hygiene", "Intro text here. " + " ".join(words[5:18]) + " and more."),  # 13 words of a judged doc
        _row("hygiene", "Intro text here. " + " ".join(words[5:17]) + " and more."),  # 12 words: kept
        _row("odd", "Unjudged: " + DOC[::-1]),  # a corpus document no query is judged against: not a test text
        _row("beach sports", "A group of people played volleyball near the sea.", task_type="sts"),
    ]
    kept = gate.filter_rows(rows, rejections)
    assert kept == rows[2:] and rejections == {"contaminated": 2}
    decontamination = gate.report()["decontamination"]
    assert decontamination["STSBenchmark"]["rows_removed"] == 1 and decontamination["STSBenchmark"]["test_texts"] >= 2
    assert decontamination["HandRetrieval"] == {"test_texts": 2, "rows_removed": 1}  # the query + the judged doc
    with pytest.raises(ConfigError, match=r"^`decontamination_tasks` entry 'NoSuchTaskXyz' could not be loaded"):
        QualityGate(_config(monkeypatch, decontamination_tasks=["NoSuchTaskXyz"]))


PARAPHRASE = (
    "Regular hand-washing with soap removes most germs from your skin. Health agencies recommend washing for at "
    "least 20 seconds, especially before eating and after using the toilet, and drying hands with a clean towel."
)


def _near_dup_rows():
    distinct = (
        "Hand sanitiser with at least sixty percent alcohol is an alternative when soap and water are not at hand, "
        "but it does not remove every kind of germ and works poorly on visibly dirty hands."
    )
    return [
        _row("how long to wash hands", DOC, "Soap is made from fats and lye."),
        _row("How long to wash hands?", PARAPHRASE, "Soap is made from fats and lye."),
        _row("does hand sanitiser work", distinct, "Alcohol evaporates quickly."),
        _row("how long to wash hands", "Wash for twenty seconds.", "Soap is made from fats and lye."),
    ]


def test_near_duplicates_go_distinct_rows_stay(monkeypatch):
    gate, rejections = QualityGate(_config(monkeypatch, quality_language_check="off")), Counter()
    rows = _near_dup_rows()
    assert gate.filter_rows(rows, rejections) == [rows[0], rows[2], rows[3]]
    assert rejections == {"near_duplicate": 1}
    off = QualityGate(_config(monkeypatch, quality_language_check="off", near_dup_threshold=None))
    assert off.filter_rows(rows, Counter()) == rows


def test_merge_shards_removes_near_duplicates_across_shards(monkeypatch, tmp_path):
    from data_generation.accounting import Ledger
    from data_generation.merge import merge_shards
    from data_generation.output import write_outputs

    config = _config(monkeypatch, quality_language_check="off", output_dir=str(tmp_path), num_shards=2)
    rows = _near_dup_rows()
    extra = {"instruction": "t", "generator_model": "m", "placeholders": "{}", "prompt_version": "v"}
    shards = [[rows[0], rows[2]], [rows[1], rows[3]]]  # the paraphrase lands in the other shard
    for index, shard_rows in enumerate(shards):
        gate, rejections = QualityGate(config), Counter()
        kept = gate.filter_rows([{**r, **extra} for r in shard_rows], rejections)
        assert len(kept) == 2  # no near duplicate within a shard
        stats = {
            "prompt_version": "v",
            "requested_examples": {"short-long": 2},
            "num_rows": 2,
            "brainstorm": {"calls": 0, "unique_tasks": {}, "rejections": {}},
            "rejections": dict(rejections),
            "quality": gate.report(),
            "unfinished_requests": 0,
            "http_faults": {},
            "usage": Ledger().to_dict(),
        }
        write_outputs(tmp_path / f"shard-{index:05d}-of-00002", kept, stats, config.to_dict())
    merged, stats, merged_config = merge_shards(tmp_path)
    assert [r["positive"] for r in merged] == [rows[0]["positive"], rows[2]["positive"], rows[3]["positive"]]
    assert stats["rejections"] == {"near_duplicate": 1} and stats["quality"]["rules"] == {"near_duplicate": 1}
    card = write_outputs(tmp_path, merged, stats, merged_config) and (tmp_path / "README.md").read_text()
    assert "### Quality gate" in card and "| near_duplicate | 1 |" in card and "not configured" in card
