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
    mode = override[override.index("--mode") + 1]  # the recipe's mode: it holds no synthetic-only setting
    config = write_config(tmp_path / "bad.yaml", "http://127.0.0.1:9/v1", out, mode=mode)
    with pytest.raises(SystemExit) as exit_info:
        run_main(config, *[paths.get(a, a) for a in override])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # (datasets' progress bars)
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert lines[0].count(paths["BROKEN"]) <= 1  # the file is named once
    assert not out.exists()


@pytest.mark.parametrize(
    ("mode", "settings", "needle"),
    [
        (
            "synthetic",
            {"translate_path": "rows.jsonl"},
            "`translate_path` is a setting of mode translate, not of mode synthetic",
        ),
        ("synthetic", {"chunk_tokens": 64}, "`chunk_tokens` is a setting of mode corpus, not of mode synthetic"),
        (
            "corpus",
            {"tasks_per_brainstorm": 5},
            "`tasks_per_brainstorm` is a setting of mode synthetic, not of mode corpus",
        ),
        ("corpus", {"back_translation_threshold": 0.5}, "`back_translation_threshold` is a setting of mode translate"),
        # relabeling has no meaning for translated rows: they keep the vetted labels of translate_path
        (
            "translate",
            {"relabel_enabled": True},
            "`relabel_enabled` is a setting of mode synthetic or corpus, not of mode translate",
        ),
        ("translate", {"relabel": {"enabled": True}}, "`relabel_enabled` is a setting of mode synthetic or corpus"),
    ],
)
def test_a_setting_the_mode_cannot_use_is_refused_with_one_line(tmp_path, monkeypatch, capsys, mode, settings, needle):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    write_labeled(tmp_path / "rows.jsonl")
    inputs = {
        "synthetic": {},
        "corpus": {"corpus_path": str(CORPUS)},
        "translate": {"translate_path": str(tmp_path / "rows.jsonl"), "target_languages": ["German"]},
    }[mode]
    out = tmp_path / "never"
    config = write_config(tmp_path / "bad.yaml", "http://127.0.0.1:9/v1", out, mode=mode, **inputs, **settings)
    with pytest.raises(SystemExit) as exit_info:
        run_main(config)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert not out.exists()


# Documents of a few hundred characters; the first is in the corpus three times, twice lightly edited (near duplicates:
# the same query, nearly the same positive, and with `negative_range_max: 1` the same mined negative).
HARBOUR = (
    "The old harbour was dredged in the spring so that the fishing boats could come in at any state of the tide. "
    "Before the work, skippers waited outside the breakwater for hours, and the auction hall opened late whenever "
    "the catch was held up. The council paid for a new crane, widened the slipway and laid fresh timber along the "
    "eastern quay. Visitors still come for the painted sheds and the smell of tar, but it is a working place again."
)
OTHERS = [
    "Copper kettles were polished with salt and vinegar until they shone like a new penny on the kitchen shelf. "
    "Brass fittings took longer: a paste of flour, salt and lemon juice, left for an hour and rinsed with warm water.",
    "The night train to the coast stops at every village, and the conductor knows most passengers by name. In "
    "winter the carriages are heated by a coal stove, and the guard sells tea from an urn near the luggage van.",
    "A chess clock has two faces; pressing your button stops your time and starts your opponent's clock. Blitz "
    "games give each player five minutes, so the clock decides as many games as the moves on the board do.",
    "Moss grows thickest on the shaded side of a wall, where the stones stay damp through the summer. Lichens, "
    "slower still, can take decades to cover a gravestone, which is why they are used to date old stonework.",
    "Grafting joins a cutting from one apple tree onto the roots of another, which decides the tree's final "
    "height. Growers cut the scion wood in winter, keep it cold and damp, and join the two in early spring.",
]


def test_a_sharded_corpus_run_is_deduplicated_within_and_across_shards_alike(tmp_path, monkeypatch, minilm_dir):
    """A document and its two edits are chunks 0, 1 and 2: of two shards, the edit in chunk 2 shares shard 0
    with the original, the one in chunk 1 is in shard 1. The whole run and the sharded, merged run drop both edits,
    as near duplicates, and keep the same rows."""
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    edits = HARBOUR.replace("widened the slipway", "lengthened the slipway"), HARBOUR.replace("sheds", "huts")
    texts = [HARBOUR, edits[0], edits[1], *OTHERS]
    for name, text in zip("abcdefgh", texts):  # sorted by name: chunk i is document i
        (corpus / f"{name}.txt").write_text(text)
    settings = dict(mode="corpus", corpus_path=str(corpus), reference_embedder=str(minilm_dir), chunk_tokens=256)
    settings.update(negative_range_max=1)  # the nearest candidate (the edits score too close to the positive)
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    with ScriptedServer() as server:
        assert run_main(write_config(tmp_path / "w.yaml", server.base_url, whole, **settings)) == 0
        config = write_config(tmp_path / "s.yaml", server.base_url, sharded, **settings)
        for i in range(2):
            assert run_main(config, "--num_shards", "2", "--shard_index", str(i)) == 0
    merge = load_module(REPO_ROOT / "scripts" / "merge_shards.py", "script_merge_shards")
    assert merge.main(["--output_dir", str(sharded)]) == 0
    one, merged = (json.loads((d / "generation_stats.json").read_text()) for d in (whole, sharded))
    assert one["corpus"]["chunks"] == len(texts) == one["requested_examples"]["short-long"]
    assert one["rejections"] == {"near_duplicate": 2} == one["quality"]["rules"], one["rejections"]
    assert merged["rejections"] == one["rejections"] and merged["quality"]["rules"] == one["quality"]["rules"]
    rows = {out: load_from_disk(str(out / "dataset")).to_list() for out in (whole, sharded)}
    assert sorted(r["positive"] for r in rows[whole]) == sorted([HARBOUR, *OTHERS])
    assert sorted(map(str, rows[whole])) == sorted(map(str, rows[sharded]))  # the same rows, in shard order
    assert merged["corpus"]["requested_chunks"] == len(texts) and merged["corpus"]["chunks"] == len(texts)
    card = (sharded / "README.md").read_text()
    assert "`mode: corpus`" in card and f"{len(texts)} chunks" in card and "| near_duplicate | 2 |" in card
