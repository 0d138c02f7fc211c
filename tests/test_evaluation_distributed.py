"""Evaluation under `accelerate launch --num_processes 2` (CPU, gloo) equals one process, and rank 0 alone writes."""

from __future__ import annotations

import json
import re

import yaml
from helpers.evaluation import make_pair_task, make_retrieval_task, make_sts_task
from helpers.launch import launch

from synthembed.evaluation.sharding import deal, task_size


def test_deal_is_largest_first_to_the_least_loaded_rank():
    assert deal([1, 1, 1, 1, 1], 2) == [0, 1, 0, 1, 0]  # equal sizes: round-robin in selection order
    assert deal([5, 100, 7, 60, 40], 2) == [1, 0, 0, 1, 1]  # 100 + 7 | 60 + 40 + 5
    assert deal([3], 4) == [0]


def test_every_mteb_eng_v1_task_has_a_size_and_8_ranks_split_the_big_ones():
    import mteb

    tasks = list(mteb.get_benchmark("MTEB(eng, v1)").tasks)
    sizes = {t.metadata.name: task_size(t) for t in tasks}
    assert all(sizes.values()), [name for name, size in sizes.items() if not size]
    owner = dict(zip(sizes, deal(list(sizes.values()), 8)))
    big = ["MSMARCO", "FEVER", "ClimateFEVER", "HotpotQA", "DBPedia", "NQ"]  # millions of passages each
    assert len({owner[name] for name in big}) == 6


def result_files(output_dir) -> dict[str, str]:
    """mteb's files by name: each task's scores (its timings and date left out), model_meta and run_settings whole."""
    found = {}
    for path in sorted((output_dir / "results").rglob("*.json*")):
        text = path.read_text()
        found[path.name] = json.dumps(json.loads(text)["scores"]) if path.name.startswith("Tiny") else text
    return found


def test_two_processes_equal_one(minilm_dir, tmp_path):
    from synthembed.cli import evaluate

    tasks = tmp_path / "tasks"
    (
        make_sts_task(tasks / "TinySTS", n=16),
        make_retrieval_task(tasks / "TinyRetrieval"),
        make_pair_task(tasks / "TinyPairs"),
    )
    settings = {
        "model_name_or_path": str(minilm_dir),
        "local_tasks": [str(tasks)],
        "query_template": "e5",
        "default_instruction": "Retrieve semantically similar text",
        "show_progress_bar": False,
        "update_model_card": True,
    }
    config = tmp_path / "evaluate.yaml"
    config.write_text(yaml.safe_dump({**settings, "output_dir": str(tmp_path / "one")}))
    one = evaluate.main(["--config", str(config)])  # one process, in this one
    config.write_text(yaml.safe_dump({**settings, "output_dir": str(tmp_path / "two")}))
    proc, _ = launch("cpu_ddp.yaml", config, script="scripts/evaluate.py", timeout=240)
    logs = proc.stdout + proc.stderr
    shares = [int(n) for n in re.findall(r"Rank \d of 2 evaluates (\d) task", logs)]
    assert sorted(shares) == [1, 2], logs[-3000:]  # both ranks evaluated
    assert "terminate called" not in logs  # every rank left the process group before exiting

    two = json.loads((tmp_path / "two/summary.json").read_text())
    assert list(two["tasks"]) == list(one["tasks"]) == ["TinyPairs", "TinyRetrieval", "TinySTS"]
    assert two["tasks"] == one["tasks"] and two["categories"] == one["categories"]
    assert two["average"] == one["average"]
    written = result_files(tmp_path / "one")
    assert len(written) == 5 and result_files(tmp_path / "two") == written  # every mteb file, every metric
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*") if p.is_file()) == files
    summary_md = (tmp_path / "two/summary.md").read_text()
    assert summary_md == (tmp_path / "one/summary.md").read_text()
    card = (tmp_path / "two/README.md").read_text()
    assert f"{one['tasks']['TinySTS']:.2f}" in card
