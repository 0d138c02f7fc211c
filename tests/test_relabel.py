"""Gecko-style relabeling (data_generation.relabel) against the scripted server, which ranks passages as the test
tells it: exactly the positives it is told to change change, the counts are in the statistics and the card, the
prompt is the documented one, and the selection rule (first ranked = positive, rank `negative_rank` = negative)."""

from __future__ import annotations

import json

import pytest
import yaml
from datasets import load_from_disk
from helpers.generation_server import TEST_KEY, TEST_KEY_ENV, ScriptedServer, write_config
from helpers.paths import REPO_ROOT, load_module
from helpers.scripted_server import ranking_prompt_parts

from data_generation.parsing import Rejected
from data_generation.relabel import merged_stats, parse_ranking, ranking_prompt, select

RELABEL = {"top_k": 4, "negative_rank": 3}


def digest(text: str) -> str:
    # the scripted replies: "<key> text <digest> for the <type> example: ..."
    return text.split(" text ")[1].split()[0]


def to_change(query: str) -> bool:
    return int(digest(query), 16) % 2 == 0  # about half of the queries


def scripted_ranker(query: str, passages: dict[str, str]) -> list[str]:
    """Rows told to change: another row's passage first; the rest: the own positive, then the own negative."""
    own = digest(query)
    theirs = [p for p, text in passages.items() if own not in text]
    if to_change(query):
        return theirs[:1] + [p for p in passages if p not in theirs[:1]]
    mine = sorted((p for p in passages if p not in theirs), key=lambda p: "hard_negative" in passages[p])
    return mine + theirs


def generate(tmp_path, name, minilm_dir, *extra, old_dialect=False):
    out = tmp_path / name
    with ScriptedServer(ranker=scripted_ranker) as server:
        settings = {f"relabel_{k}": v for k, v in RELABEL.items()}
        settings.update(relabel_enabled=True, reference_embedder=str(minilm_dir))
        if old_dialect:  # the nested mapping of the last release
            settings = {"relabel": {"enabled": True, "embedder": str(minilm_dir), **RELABEL}}
        config = write_config(tmp_path / f"{name}.yaml", server.base_url, out, **settings)
        overrides = ["--num_examples", "12", "--task_proportions", '{"short-long": 1}', *extra]
        script = load_module(REPO_ROOT / "scripts/generate.py", "script_generate")
        assert script.main(["--config", str(config), *overrides]) == 0
    generate.sent = len(server.records)
    return out


def test_relabeling_changes_the_positives_it_is_told_to(tmp_path, monkeypatch, minilm_dir):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    plain = load_from_disk(str(generate(tmp_path, "plain", minilm_dir, "--relabel_enabled", "false") / "dataset"))
    out = generate(tmp_path, "relabeled", minilm_dir)
    rows = load_from_disk(str(out / "dataset")).to_list()
    assert [r["query"] for r in rows] == plain["query"] and len(rows) == 12
    told = [to_change(r["query"]) for r in rows]
    assert 0 < sum(told) < 12
    for row, before, change in zip(rows, plain.to_list(), told):
        if change:  # another row's passage is the positive now
            assert row["positive"] != before["positive"] and digest(row["query"]) not in row["positive"]
        else:
            assert row["positive"] == before["positive"]

    stats = json.loads((out / "generation_stats.json").read_text())
    relabel = stats["relabel"]
    assert relabel["positive_changed"] == sum(told) and relabel["ranked"] == relabel["rows_considered"] == 12
    assert relabel["rejections"] == {} and relabel["unfinished"] == 0 and relabel["negative_rank"] == 3
    assert stats["usage"]["by_phase"]["relabel"]["requests"] == 12
    card = (out / "README.md").read_text()
    assert "LLM-checked positives" in card and f"| 12 | 12 | {sum(told)} |" in card
    generate(tmp_path, "relabeled", minilm_dir)  # a rerun: the same prompts, all found in the store
    assert generate.sent == 0 and load_from_disk(str(out / "dataset")).to_list() == rows
    # The old nested `relabel:` mapping still works for one release: the same settings (every prompt found in the
    # store, the same rows), a warning naming the new fields, and the saved config in the new dialect.
    with pytest.warns(FutureWarning, match="`relabel:` mapping is deprecated") as warned:
        generate(tmp_path, "relabeled", minilm_dir, old_dialect=True)
    assert generate.sent == 0 and load_from_disk(str(out / "dataset")).to_list() == rows
    (warning,) = [str(w.message) for w in warned if "deprecated" in str(w.message)]
    assert "relabel_enabled: True" in warning and f"reference_embedder: '{minilm_dir}'" in warning
    assert "relabel_top_k: 4" in warning and "relabel_negative_rank: 3" in warning
    saved = yaml.safe_load((out / "generation_config.yaml").read_text())
    assert saved["relabel"] is None and saved["relabel_top_k"] == 4 and saved["relabel_enabled"] is True

    # The prompts in the store: the documented text over the query's 4 nearest passages, its own positive among them;
    # and the selection rule on the server's ranking: rank 1 is the positive, rank 3 the negative.
    records = [json.loads(line) for line in (out / "requests.jsonl").open()]
    prompts = {r["request"]["messages"][-1]["content"]: r for r in records if r["phase"] == "relabel"}
    by_query = {ranking_prompt_parts(p)[0]: p for p in prompts}
    for row, before in zip(rows, plain.to_list()):
        prompt = by_query[row["query"]]
        query, passages = ranking_prompt_parts(prompt)
        assert prompt == ranking_prompt(row["instruction"], query, list(passages.items()))
        assert len(passages) == 4 and before["positive"] in passages.values()
        ranking = scripted_ranker(query, passages)
        assert (row["positive"], row["negative"]) == (passages[ranking[0]], passages[ranking[2]])


def test_the_ranking_prompt_and_the_selection_rule():
    prompt = ranking_prompt(
        "Retrieve recipes for a dish", "vegan lasagna", [("P1", "Pasta sheets ..."), ("P2", "Tofu")]
    )
    assert prompt == (
        "Rank the candidate passages for this retrieval task: Retrieve recipes for a dish\n\n"
        "Here is a query for this task and 2 candidate passages, each with an id.\n\n"
        "Query: vegan lasagna\n\n"
        "[P1] Pasta sheets ...\n\n[P2] Tofu\n\n"
        "Rank all 2 passages by how well they satisfy the query for this task, the most relevant first.\n\n"
        'Your output must always be a JSON object only, with the key "ranking": a list of every passage id exactly '
        'once, e.g. {"ranking": ["P1", "P2"]}. Do not explain yourself or output anything else.'
    )
    passages = {"P1": "a", "P2": "b", "P3": "c", "P4": "d"}
    ranking = parse_ranking('```json\n{"ranking": ["P3", "[P1]", "P4", "P2"]}\n```', list(passages))
    assert ranking == ["P3", "P1", "P4", "P2"]
    assert select(ranking, passages, negative_rank=3) == ("c", "d")
    assert select(ranking, passages, negative_rank=4) == ("c", "b")
    assert select(["P2", "P1"], {"P1": "a", "P2": "b"}, negative_rank=3) == ("b", "a")  # fewer: the last one
    for reply, reason in (
        ('{"ranking": ["P1", "P2", "P3"]}', "ranking_incomplete"),
        ('{"ranking": ["P1", "P1", "P2", "P3"]}', "ranking_incomplete"),
        ('{"ranking": ["P1", "P2", "P3", "P9"]}', "ranking_unknown_id"),
        ('{"order": ["P1"]}', "ranking_not_a_list"),
        ("P1 > P2", "not_json"),
    ):
        with pytest.raises(Rejected) as e:
            parse_ranking(reply, list(passages))
        assert e.value.reason == reason


def test_dry_run_costs_the_ranking_requests_and_bad_settings_fail(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    script = load_module(REPO_ROOT / "scripts/generate.py", "script_generate")
    config = write_config(tmp_path / "d.yaml", "http://127.0.0.1:9/v1", tmp_path / "dry", max_tokens=100)
    base = ["--config", str(config), "--dry_run", "true", "--task_proportions", '{"short-long": 1, "sts": 1}']
    plans = []
    for relabel in (["--relabel_enabled", "false"], ["--relabel_enabled", "true", "--relabel_top_k", "5"]):
        assert script.main([*base, *relabel]) == 0
        printed = capsys.readouterr().out
        plans.append(json.loads(printed[printed.index("{\n") :]))
    off, on = plans
    assert "relabel/short-long" not in off["requests"] and on["requests"]["relabel/short-long"] == 12
    assert "relabel/sts" not in on["requests"]  # STS is not among the default task types
    extra = on["total"]["prompt_tokens"] - off["total"]["prompt_tokens"]
    assert extra > 12 * 5 * 1500 // 4  # five passages of the assumed length per ranking prompt
    assert on["total"]["cost_usd"] > off["total"]["cost_usd"]
    for relabel, message in (
        (["--relabel_top_k", "1"], "`relabel_top_k` must be an integer >= 2, got 1"),
        (
            ["--relabel_top_k", "4", "--relabel_negative_rank", "1"],
            "`relabel_negative_rank` must be an integer in [2, relabel_top_k=4]",
        ),
        (["--relabel", '{"topk": 4}'], "`relabel` has unknown key(s) ['topk']"),
        (
            ["--relabel", '{"top_k": 4}', "--relabel_top_k", "6"],
            "`relabel.top_k` and `relabel_top_k` are both set, to 4 and 6; keep `relabel_top_k`",
        ),
    ):
        with pytest.raises(SystemExit) as exc:
            script.main([*base, *relabel])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and message in err[0], err


def test_shard_statistics_add_up():
    shard = {"embedder": "e", "top_k": 4, "negative_rank": 3, "task_types": ["short-long"], "rows_considered": 5}
    shard.update(ranked=4, positive_changed=2, negative_changed=3, unfinished=1, rejections={"ranking_incomplete": 1})
    merged = merged_stats([{"relabel": shard}, {"relabel": {**shard, "rejections": {}}}, {}])
    assert merged["rows_considered"] == 10 and merged["positive_changed"] == 4 and merged["top_k"] == 4
    assert merged["rejections"] == {"ranking_incomplete": 1} and merged_stats([{}]) is None
