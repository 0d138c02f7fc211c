"""Hard-negative mining with the real all-MiniLM-L6-v2 on CPU."""

from __future__ import annotations

import json
import subprocess
import sys

from datasets import Dataset, load_from_disk
from helpers.paths import REPO_ROOT

TOPICS = ["cats", "rockets", "bread", "volcanoes", "chess", "jazz", "tides", "bees"]


def seam1_row(i: int, topic: str, k: int) -> dict:
    """Question k about a topic; only the first of each topic's three rows comes with a hard negative."""
    return {
        "query": f"question {k} about {topic}",
        "positive": f"A passage number {k} explaining {topic}.",
        "negative": f"An unrelated note {i}-{k} on {topic}" if k == 0 else None,
        "instruction": "Retrieve passages",
        "task_type": "short-short" if k else "short-long",
    }


def seam1_rows() -> list[dict]:
    return [seam1_row(i, topic, k) for i, topic in enumerate(TOPICS) for k in range(3)]


def mine(dataset_path, model_dir, output_dir, *extra) -> subprocess.CompletedProcess:
    paths = [
        "--dataset_path",
        str(dataset_path),
        "--model_name_or_path",
        str(model_dir),
        "--output_dir",
        str(output_dir),
    ]
    cmd = [sys.executable, str(REPO_ROOT / "scripts/mine_hard_negatives.py"), *paths, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_mining_fills_only_missing_negatives_from_the_rank_window(tmp_path, minilm_dir):
    data = tmp_path / "seam1"
    Dataset.from_list(seam1_rows()).save_to_disk(str(data))
    out = tmp_path / "mined"
    proc = mine(data, minilm_dir, out, "--range_min", "1", "--range_max", "5", "--positive_fraction", "null")
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads((out / "mining_stats.json").read_text())
    assert stats["mined"] == 16 and stats["rows"] == 24
    before, after = seam1_rows(), load_from_disk(str(out / "dataset")).to_list()
    assert [r["query"] for r in after] == [r["query"] for r in before]
    assert set(after[0]) == set(before[0])  # every column kept
    for b, a in zip(before, after):
        if b["negative"]:
            assert a["negative"] == b["negative"]  # existing negatives untouched
        else:
            assert a["negative"] and a["negative"] != a["positive"]
    # rank window [1, 5): the mined negative is close to the query (same topic) but not its own positive. A topic has
    # 3 texts besides the positive, so about 3 of the 4 window ranks share it: ~12 of 16 random picks (random text
    # drawn: ~2 of 16)
    same_topic = sum(a["query"].split()[-1] in a["negative"] for b, a in zip(before, after) if not b["negative"])
    assert same_topic >= 9


def test_mining_bad_input_is_one_line(tmp_path, minilm_dir):
    proc = mine(tmp_path / "x", minilm_dir, tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "dataset_path" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_positive_aware_filter_drops_a_near_copy_of_the_positive(minilm_dir):
    """NV-Retriever's filter: the unlabelled near-copy of the positive tops the ranking, and is dropped at 0.95."""
    from sentence_transformers import SentenceTransformer

    from synthembed.mining import MiningWindow, mine_negatives

    model = SentenceTransformer(str(minilm_dir), device="cpu")
    rows = Dataset.from_list(
        [{"query": "how tall is the eiffel tower", "positive": "The Eiffel Tower is 330 metres tall."}]
    )
    # query scores with MiniLM: positive 0.91, the near-copy 0.88 (above 0.95 × 0.91 = 0.86: dropped by the filter),
    # the tower's city 0.77, bananas -0.02
    corpus = [
        "The Eiffel Tower is 330 metres tall.",
        "The Eiffel Tower stands 330 metres tall.",
        "Bananas are yellow.",
    ]
    corpus.append("The Eiffel Tower is in Paris.")
    window = dict(range_min=0, range_max=4, sampling="top")
    unfiltered, _ = mine_negatives(rows, model, corpus=corpus, window=MiningWindow(positive_fraction=None, **window))
    filtered, _ = mine_negatives(rows, model, corpus=corpus, window=MiningWindow(positive_fraction=0.95, **window))
    assert unfiltered[0]["negative"] == "The Eiffel Tower stands 330 metres tall."
    assert filtered[0]["negative"] == "The Eiffel Tower is in Paris."


def test_every_mining_command_takes_one_window_with_one_set_of_defaults_and_checks(capsys):
    """synthembed-mine and synthembed-prepare-data declared the window twice, with other defaults (range_min 10 and
    no filter against 0 and 0.95): both now take MiningWindow's fields, and a bad window is the same one line."""
    import dataclasses

    import pytest

    from synthembed.cli.mine import MiningArguments
    from synthembed.cli.prepare_public_data import PrepareArguments
    from synthembed.mining import MiningWindow
    from synthembed_common.config import parse_config

    window = {f.name: f for f in dataclasses.fields(MiningWindow)}
    for cls in (MiningArguments, PrepareArguments):
        assert {f.name: f for f in dataclasses.fields(cls) if f.name in window} == window, cls.__name__
    required = {
        MiningArguments: ["--dataset_path", "d", "--output_dir", "o", "--model_name_or_path", "m"],
        PrepareArguments: ["--sources", '[{"name": "x"}]'],
    }
    for cls, argv in required.items():
        with pytest.raises(SystemExit) as exit_info:
            parse_config([cls], [*argv, "--range_min", "5", "--range_max", "5"], description="")
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and err.count("\n") == 0 and "`range_min`/`range_max`" in err, err
    with pytest.raises(ValueError, match="positive_fraction"):
        MiningWindow(positive_fraction=1.5)
