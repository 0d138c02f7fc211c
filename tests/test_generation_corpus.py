"""Corpus-grounded generation and translation of a labeled set, against the scripted server over real HTTP, with the
real reference embedder (all-MiniLM-L6-v2, embedded package) mining negatives and checking back-translations.

The corpus is tests/fixtures/corpus: five short documents written for these tests (.md and .txt, one in a subfolder).
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import time
from pathlib import Path

import pytest
from datasets import load_from_disk
from helpers.generation_server import (
    TEST_KEY,
    TEST_KEY_ENV,
    ScriptedServer,
    child_env,
    generate_cmd,
    request_hash,
    write_config,
)
from helpers.launch import losses, train_module, write_recipe
from helpers.paths import REPO_ROOT, load_module

from data_generation.output import COLUMNS

CORPUS = REPO_ROOT / "tests" / "fixtures" / "corpus"
DOCUMENTS = {p.relative_to(CORPUS).as_posix(): p.read_text() for p in sorted(CORPUS.rglob("*.*"))}


def run_main(config: Path, *extra: str) -> int:
    return load_module(REPO_ROOT / "scripts" / "generate.py", "script_generate").main(
        ["--config", str(config), *extra]
    )


def corpus_config(path: Path, base_url: str, out: Path, minilm_dir: Path, **overrides) -> Path:
    settings = dict(mode="corpus", corpus_path=str(CORPUS), reference_embedder=str(minilm_dir), chunk_tokens=64)
    return write_config(path, base_url, out, **{**settings, "num_examples": 100, **overrides})


def store_lines(path: Path) -> int:
    return sum(line.endswith("}") for line in path.read_text().splitlines())


def test_corpus_rows_are_chunks_resume_after_sigkill_and_train(tmp_path, monkeypatch, capfd, minilm_dir):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    with ScriptedServer(latency=0.2) as server:
        config = corpus_config(tmp_path / "a.yaml", server.base_url, killed, minilm_dir, max_concurrency=2)
        proc = subprocess.Popen(
            generate_cmd(config), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        store = killed / "requests.jsonl"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (store.exists() and store_lines(store) >= 4):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stored = [json.loads(line) for line in store.read_text().splitlines() if line.endswith("}")]
        assert not (killed / "dataset").exists()
        capfd.readouterr()
        assert run_main(config) == 0  # the restart
        assert "will not be re-sent" in capfd.readouterr().out
    completed = server.completed()
    for record in stored:  # nothing stored before the kill was asked again
        request = record["request"]
        assert completed[request_hash(request["model"], request["messages"], request["params"]["seed"])] == 1
    with ScriptedServer() as server:
        assert run_main(corpus_config(tmp_path / "b.yaml", server.base_url, reference, minilm_dir)) == 0
    rows = load_from_disk(str(killed / "dataset")).to_list()
    assert rows == load_from_disk(str(reference / "dataset")).to_list()  # negatives mined again, identically
    stats = json.loads((killed / "generation_stats.json").read_text())
    chunks = stats["corpus"]["chunks"]
    assert 4 <= len(stored) < chunks, "the kill did not land mid-run"
    assert stats["corpus"]["documents"] == len(DOCUMENTS) == 5 and stats["requested_examples"] == {
        "short-long": chunks
    }
    assert len(rows) == chunks and stats["rejections"] == {} and stats["usage"]["total"]["requests"] == chunks
    assert set(rows[0]) == set(COLUMNS)
    for row in rows:
        provenance = json.loads(row["placeholders"])
        document = DOCUMENTS[provenance["document"]]
        assert row["positive"] in document and len(row["positive"].split()) >= 10  # a chunk of the named document
        # The scripted server asks about the passage's first words: the chunk was what the prompt carried.
        assert row["query"] == "what is said about " + " ".join(row["positive"].split()[:8])
        assert row["instruction"].startswith("Retrieve passages on subject ") and row["task_type"] == "short-long"
        assert row["negative"] not in document and any(row["negative"] in d for d in DOCUMENTS.values())
        assert provenance["language"] == row["language"] == "English" and {"query_type", "chunk"} <= set(provenance)
    assert {json.loads(r["placeholders"])["document"] for r in rows} == set(DOCUMENTS)
    assert stats["corpus"]["negatives"] == {"mined": chunks}
    card = (killed / "README.md").read_text()
    assert "`mode: corpus`" in card and f"{chunks} chunks" in card and "Brainstorm calls" not in card

    # A short training run on the output: MiniLM, mean pooling, two steps.
    recipe = write_recipe(
        tmp_path,
        minilm_dir,
        dataset_mixture=[{"path": str(killed / "dataset"), "name": "corpus"}],
        pooling="mean",
        use_lora=False,
        max_steps=2,
        save_strategy="no",
        activation_checkpointing=False,
        max_seq_length=96,
    )
    train_module().main(["--config", str(recipe)])
    curve = losses(tmp_path / "out")
    assert len(curve) == 2 and all(math.isfinite(x) and x > 0 for x in curve)


def write_labeled(path: Path) -> list[dict]:
    topics = ["sourdough starters", "lighthouse lenses", "waggle dances", "spring tides", "chain oil", "brake pads"]
    rows = [
        {
            "query": f"how do {topic} work",
            "positive": f"A short explanation of {topic}, written for a general reader with examples.",
            "negative": f"A note on something else entirely, not {topic}." if i % 2 == 0 else None,
            "instruction": "Given a question, retrieve passages that answer it",
        }
        for i, topic in enumerate(topics)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_translation_keeps_labels_and_drops_failed_back_translations(tmp_path, monkeypatch, capsys, minilm_dir):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    source = write_labeled(tmp_path / "labeled.jsonl")
    out, languages = tmp_path / "translated", ["German", "French"]
    settings = dict(mode="translate", translate_path=str(tmp_path / "labeled.jsonl"), target_languages=languages)
    with ScriptedServer(faults={"mistranslate": 0.2}) as server:
        config = write_config(
            tmp_path / "t.yaml", server.base_url, out, reference_embedder=str(minilm_dir), **settings
        )
        assert run_main(config, "--dry_run", "true") == 0
        printed = capsys.readouterr().out
        assert json.loads(printed[printed.index("{\n") :])["requests"] == {
            "back_translate/short-long": 12,
            "translate/short-long": 12,
        }
        assert run_main(config) == 0
        sent = len(server.records)
        assert run_main(config) == 0 and len(server.records) == sent  # a rerun is answered from the store
    mistranslated = sum(r["fault"] == "mistranslate" for r in server.records)
    stats = json.loads((out / "generation_stats.json").read_text())
    check = stats["translation"]["back_translation"]
    rows = load_from_disk(str(out / "dataset")).to_list()
    assert mistranslated >= 1 and check["below_threshold"] >= 1, "the seed no longer exercises the check"
    assert check["checked"] == 12 and len(rows) == check["kept"] == 12 - check["below_threshold"]
    assert stats["rejections"] == {"back_translation_below_threshold": check["below_threshold"]}
    for row in rows:  # labels in their roles, each text translated, the instruction kept in English
        original = source[json.loads(row["placeholders"])["source_row"]]
        tag = f"[{row['language']}] "
        assert row["query"] == tag + original["query"] and row["positive"] == tag + original["positive"]
        assert row["negative"] == (original["negative"] and tag + original["negative"])
        assert row["instruction"] == original["instruction"] and row["prompt_version"] == "synthembed-translate/1"
        assert json.loads(row["placeholders"])["back_translation_similarity"] >= 0.8
    assert {r["language"] for r in rows} == set(languages)
    assert "Back-translation check" in (out / "README.md").read_text()


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        (["--mode", "corpus"], "`corpus_path` must be a folder of .txt/.md files or a dataset"),
        (["--mode", "corpus", "--corpus_path", "no/such/folder/"], "`corpus_path` must be a folder"),
        (["--mode", "corpus", "--corpus_path", "CORPUS", "--chunk_overlap", "256"], "`chunk_overlap` must be in [0,"),
        (["--mode", "corpus", "--corpus_path", "ROWS", "--corpus_text_column", "body"], "`corpus_text_column` 'body'"),
        (["--mode", "translate", "--translate_path", "ROWS"], "`target_languages` must be a non-empty list"),
        (["--mode", "translate", "--translate_path", "ROWS", "--target_languages", "English"], "other than"),
        (["--mode", "corpus", "--corpus_path", "CORPUS", "--stage", "brainstorm"], "`stage` must be all in mode"),
        # a malformed JSON line: the file, its 1-based line and what is wrong (pyarrow said "row 10")
        (["--mode", "corpus", "--corpus_path", "BROKEN"], "broken.jsonl: line 11: not valid JSON (Expecting value at"),
        (
            ["--mode", "translate", "--translate_path", "BROKEN", "--target_languages", "German"],
            "broken.jsonl: line 11: not valid JSON (Expecting value at column 51)",
        ),
    ],
)
def test_bad_corpus_or_translation_settings_fail_with_one_line(tmp_path, monkeypatch, capsys, override, needle):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    write_labeled(tmp_path / "rows.jsonl")
    lines = [json.dumps({"text": f"document {i}", "query": f"q{i}", "positive": f"p{i}"}) for i in range(12)]
    lines[10] = '{"text": "document 10", "query": "q", "positive": p}'  # an unquoted string
    (tmp_path / "broken.jsonl").write_text("\n".join(lines) + "\n")
    paths = {"CORPUS": str(CORPUS), "ROWS": str(tmp_path / "rows.jsonl"), "BROKEN": str(tmp_path / "broken.jsonl")}
    out = tmp_path / "never"
    config = write_config(tmp_path / "bad.yaml", "http://127.0.0.1:9/v1", out)
    with pytest.raises(SystemExit) as exit_info:
        run_main(config, *[paths.get(a, a) for a in override])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # (datasets' progress bars)
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert lines[0].count(paths["BROKEN"]) <= 1  # the file is named once
    assert not out.exists()
