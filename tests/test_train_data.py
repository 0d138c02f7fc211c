"""Bad training data fails with one `error:` line and exit status 2, before a model is loaded or anything written."""

from __future__ import annotations

import json

import pytest
from helpers.launch import train_module, write_recipe

GOOD = {"query": "how tall is the tower", "positive": "The tower is 300 m tall.", "negative": "Bread needs yeast."}


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def train_in_process(recipe, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_module().main(["--config", str(recipe)])
    return exit_info.value.code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def bad_data_recipes(tmp_path):
    """{case: (dataset_mixture or eval_datasets settings, the words the error line must hold)}."""
    missing = write_rows(tmp_path / "missing.jsonl", [GOOD, {"query": "q", "negative": "n"}, GOOD])
    blank = write_rows(tmp_path / "blank.jsonl", [GOOD, GOOD, {**GOOD, "query": "  "}])
    null = write_rows(tmp_path / "null.jsonl", [{**GOOD, "positive": None}])
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(json.dumps(GOOD).encode() + b'\n{"query": "caf\xe9", "positive": "p"}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("query,positive\n")
    good = write_rows(tmp_path / "good.jsonl", [GOOD] * 8)
    sts = write_rows(tmp_path / "sts.jsonl", [{"sentence1": "a", "sentence2": "b", "score": 1.0}] * 4)
    words = write_rows(tmp_path / "words.jsonl", [{**GOOD, "score": "high"}])
    return {
        "missing positive": ({"dataset_mixture": [{"path": str(missing)}]}, "row 1: `positive`", "missing"),
        "empty query": ({"dataset_mixture": [{"path": str(blank)}]}, "row 2: `query`", "empty"),
        "null positive": ({"dataset_mixture": [{"path": str(null)}]}, "row 0: `positive`", "missing"),
        "not utf-8": ({"dataset_mixture": [{"path": str(latin1)}]}, "latin1.jsonl: not UTF-8", "line 2"),
        "empty file": ({"dataset_mixture": [{"path": str(empty)}]}, "empty.jsonl", "empty"),
        "no rows": ({"dataset_mixture": [{"path": str(header_only)}]}, "header.csv", "no"),
        "mapped column missing": (
            {"dataset_mixture": [{"path": str(good), "columns": {"negative": "hard_negative"}}]},
            "no column 'hard_negative' for `negative`",
            "columns: query, positive, negative",
        ),
        "mapped query missing": (
            {"dataset_mixture": [{"path": str(good), "columns": {"query": "question"}}]},
            "no column 'question' for `query`",
            "good",
        ),
        "graded without a score": (
            {"dataset_mixture": [{"path": str(good), "graded": True}]},
            "no column 'score' for `graded`",
            "good",
        ),
        "graded score not a number": (
            {"dataset_mixture": [{"path": str(words), "graded": True}]},
            "row 0: `score`",
            "a number",
        ),
        "dev set column missing": (
            {
                "dataset_mixture": [{"path": str(good)}],
                "eval_datasets": [{"path": str(sts), "columns": {"score": "label"}}],
                "eval_strategy": "steps",
                "eval_steps": 2,
            },
            "no column",
            "label",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing positive",
        "empty query",
        "null positive",
        "not utf-8",
        "empty file",
        "no rows",
        "mapped column missing",
        "mapped query missing",
        "graded without a score",
        "graded score not a number",
        "dev set column missing",
    ],
)
def test_bad_data_fails_with_one_line(tmp_path, tiny_mistral_dir, capsys, case):
    settings, *expected = bad_data_recipes(tmp_path)[case]
    recipe = write_recipe(tmp_path, tiny_mistral_dir, **settings)
    code, lines = train_in_process(recipe, capsys)
    assert code == 2
    errors = [line for line in lines if "error" in line.lower() or "Traceback" in line]
    assert len(errors) == 1 and errors[0].startswith("error: ") and lines[-1] == errors[0], lines  # (progress bars)
    for words in expected:
        assert words in errors[0], errors[0]
    assert not (tmp_path / "out").exists()


def test_dataset_num_proc_maps_in_several_processes(tmp_path):
    from synthembed.configs import DataArguments
    from synthembed.data import DataError, load_mixture

    rows = [{**GOOD, "query": f"question {i}"} for i in range(40)]
    mixture = [{"path": str(write_rows(tmp_path / "rows.jsonl", rows)), "name": "rows"}]
    loaded = load_mixture(DataArguments(dataset_mixture=mixture, dataset_num_proc=2), seed=1)
    assert sorted(loaded["query"]) == sorted(r["query"] for r in rows) and set(loaded["source"]) == {"rows"}

    rows[30]["positive"] = ""
    mixture = [{"path": str(write_rows(tmp_path / "bad.jsonl", rows))}]
    with pytest.raises(DataError, match=r"row 30: `positive` \(column 'positive'\) is empty"):
        load_mixture(DataArguments(dataset_mixture=mixture, dataset_num_proc=2))


def test_graded_pairs_keep_their_scores_into_the_batch(tmp_path, tiny_mistral_dir):
    """`graded: true` keeps every pair with its score (`min_score` still filters); other entries' rows are NaN, and
    the collator of a mixture with graded pairs hands every batch its scores."""
    import math

    from transformers import AutoTokenizer

    from synthembed.configs import DataArguments
    from synthembed.data import ContrastiveCollator, EOSTokenizer, load_mixture

    sts = [{"sentence1": f"a {i}", "sentence2": f"b {i}", "score": i / 4} for i in range(5)]
    mixture = [
        {"path": str(write_rows(tmp_path / "sts.jsonl", sts)), "name": "sts", "graded": True, "min_score": 0.25,
         "columns": {"query": "sentence1", "positive": "sentence2", "score": "score"}},
        {"path": str(write_rows(tmp_path / "good.jsonl", [GOOD] * 3)), "name": "pairs"},
    ]  # fmt: skip
    loaded = load_mixture(DataArguments(dataset_mixture=mixture))
    scores = {q: s for q, s in zip(loaded["query"], loaded["pair_score"])}
    assert {q: s for q, s in scores.items() if q.startswith("a ")} == {f"a {i}": i / 4 for i in range(1, 5)}
    assert math.isnan(scores[GOOD["query"]]) and len(loaded) == 7

    tokenizer = EOSTokenizer(AutoTokenizer.from_pretrained(tiny_mistral_dir), 16, append_eos=True)
    rows = list(loaded)
    batch = ContrastiveCollator(tokenizer, "{query}", graded=True)(rows)
    assert batch["pair_scores"].tolist()[:7] == pytest.approx([r["pair_score"] for r in rows], nan_ok=True)
    assert "pair_scores" not in ContrastiveCollator(tokenizer, "{query}")(rows)  # no graded entry: as before


def test_entry_distill_weights_reach_the_batch(tmp_path, tiny_mistral_dir):
    """A mixture entry's `distill_weight` rides on its rows (NaN on the others: the global weight) into the batch."""
    import math

    from transformers import AutoTokenizer

    from synthembed.configs import DataArguments
    from synthembed.data import ContrastiveCollator, EOSTokenizer, load_mixture

    other = {**GOOD, "query": "another query"}
    mixture = [
        {"path": str(write_rows(tmp_path / "good.jsonl", [GOOD] * 2)), "name": "weighted", "distill_weight": 0.5},
        {"path": str(write_rows(tmp_path / "other.jsonl", [other] * 3)), "name": "global"},
    ]
    rows = list(load_mixture(DataArguments(dataset_mixture=mixture)))
    weights = {r["query"]: r["distill_weight"] for r in rows}
    assert weights[GOOD["query"]] == 0.5 and math.isnan(weights["another query"]) and len(rows) == 5
    tokenizer = EOSTokenizer(AutoTokenizer.from_pretrained(tiny_mistral_dir), 16, append_eos=True)
    batch = ContrastiveCollator(tokenizer, "{query}", distill_weights=True)(rows)
    assert batch["distill_weights"].tolist() == pytest.approx([r["distill_weight"] for r in rows], nan_ok=True)
    assert "distill_weights" not in ContrastiveCollator(tokenizer, "{query}")(rows)


@pytest.mark.parametrize("instruct_symmetric_tasks", [True, False])
def test_symmetric_entries_and_sts_dev_sets_bare_unless_instructed(tmp_path, instruct_symmetric_tasks):
    """`instruct_symmetric_tasks: false` strips the instruction of the entries marked `symmetric` (rows' own
    instruction column too) and of the STS dev sets; retrieval rows keep theirs. True: everything as before."""
    from synthembed.configs import DataArguments
    from synthembed.data import load_eval_datasets, load_mixture
    from synthembed.evaluation.instructions import STS_INSTRUCTION

    pairs = [
        {"query": f"a {i}", "positive": f"b {i}", "instruction": "Retrieve parallel sentences."} for i in range(3)
    ]
    sts = [{"sentence1": f"s {i}", "sentence2": f"t {i}", "score": i} for i in range(3)]
    mixture = [
        {"path": str(write_rows(tmp_path / "parallel.jsonl", pairs)), "name": "parallel", "symmetric": True},
        {"path": str(write_rows(tmp_path / "good.jsonl", [GOOD] * 2)), "name": "qa", "instruction": "Find answers"},
    ]
    dev = [{"path": str(write_rows(tmp_path / "dev.jsonl", sts)), "name": "dev"}]
    data_args = DataArguments(
        dataset_mixture=mixture, eval_datasets=dev, instruct_symmetric_tasks=instruct_symmetric_tasks
    )
    loaded = load_mixture(data_args)
    by_source = {s: {i for i, t in zip(loaded["instruction"], loaded["source"]) if t == s} for s in ("parallel", "qa")}
    bare = not instruct_symmetric_tasks
    assert by_source == {"parallel": {"" if bare else "Retrieve parallel sentences."}, "qa": {"Find answers"}}
    assert set(load_eval_datasets(data_args)["dev"]["instruction"]) == {"" if bare else STS_INSTRUCTION}


def test_homogeneous_batches_take_one_group_each_and_every_group_trains():
    """by_source / by_task_type: each global batch from one group; a remainder below a batch is left out, a group
    smaller than a batch fills its block by repeating rows instead of never training."""
    from collections import Counter

    from synthembed.data import HomogeneousBatchSampler

    groups = ["nli"] * 70 + ["small"] * 10 + ["sts"] * 40
    sampler = HomogeneousBatchSampler(groups, 32, seed=1)
    order = list(sampler)
    blocks = [order[i : i + 32] for i in range(0, len(order), 32)]
    assert len(sampler) == len(order) == 32 * len(blocks)
    assert all(len({groups[i] for i in block}) == 1 for block in blocks)
    assert Counter(groups[block[0]] for block in blocks) == {"nli": 2, "small": 1, "sts": 1}
    small = next(block for block in blocks if groups[block[0]] == "small")
    assert Counter(small) == {i: (4 if rank < 2 else 3) for rank, i in enumerate(small[:10])}  # all 10, evenly
    nli = [i for block in blocks if groups[block[0]] == "nli" for i in block]
    assert len(set(nli)) == 64  # the full blocks repeat nothing
    assert list(HomogeneousBatchSampler(groups, 32, seed=1)) == order  # the seed fixes the order ...
    sampler.set_epoch(1)
    assert list(sampler) != order  # ... and each epoch reshuffles
