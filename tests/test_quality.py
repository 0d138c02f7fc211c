"""The experiment runner (benchmarks/quality.py): one row per grid point, each trained with the README's command and
evaluated with scripts/evaluate.py; and, slow, the recipe itself: a short run of Gemma-3-270M raises the dev score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.evaluation import make_sts_task
from helpers.launch import ROWS, STS_DEV
from helpers.paths import REPO_ROOT, SHARED, TRAINDATA, load_module


def quality_module():
    return load_module(REPO_ROOT / "benchmarks/quality.py", "quality")


def offline_data(root):
    """The runner's input layout (../shared/traindata and ../shared/evaldata) with a few toy rows."""
    for name in ("nli", "llm-pairs", "llm-e5"):
        (root / "traindata" / name).mkdir(parents=True)
        (root / "traindata" / name / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[:24]))
    raw = root / "evaldata/raw/STSBenchmark"
    raw.mkdir(parents=True)
    lines = [
        f"main\tx\t2012\t{i:04d}\t{r['score']}\t{r['sentence1']}\t{r['sentence2']}\n" for i, r in enumerate(STS_DEV)
    ]
    raw.joinpath("sts-dev.csv").write_text("".join(lines))
    raw.joinpath("sts-train.csv").write_text("".join(line.replace("a ", "one ") for line in lines))
    make_sts_task(root / "evaldata/tasks/TinySTS")
    return root / "traindata", root / "evaldata"


TWO_STEPS = ["--max_steps", "2", "--eval_steps", "2"]


def runner_args(out, traindata, evaldata, model, *more) -> list[str]:
    argv = ["--output_dir", str(out), "--traindata", str(traindata), "--evaldata", str(evaldata), "--tasks", "TinySTS"]
    from synthembed.gguf import embedded_minilm_dir

    argv += ["--teacher", str(embedded_minilm_dir())]  # the small teacher (the recipe's is all-mpnet-base-v2)
    return argv + (["--model_name_or_path", str(model)] if model else []) + list(more)


def test_runner_prints_one_row_per_grid_point(tmp_path, tiny_mistral_dir, capsys):
    traindata, evaldata = offline_data(tmp_path)
    quality = quality_module()
    points = ["untrained", "trained", "all-MiniLM-L6-v2"]
    argv = runner_args(tmp_path / "out", traindata, evaldata, tiny_mistral_dir, "--only", ",".join(points))
    argv += ["--merge", "merged=untrained,trained"]  # a merged row: scripts/merge_models.py on two saved points
    results = quality.main([*argv, "--train_args", *TWO_STEPS, "--per_device_train_batch_size", "4"])
    assert list(results) == [*points, "merged"]
    table = (tmp_path / "out" / "results.md").read_text().splitlines()
    assert [line.split(" | ")[0].lstrip("| ") for line in table[2:]] == [*points, "merged"]
    merged = json.loads((tmp_path / "out/merged/synthembed_config.json").read_text())["merge"]
    assert [p["global_step"] for p in merged["parents"]] == [0, 2] and merged["method"] == "average"
    assert results["trained"]["train_s"] > 0 and results["untrained"]["train_s"] is None
    assert results["trained"]["dev"] is not None  # the dev set was scored during training
    settings = {n: json.loads((tmp_path / "out" / n / "synthembed_config.json").read_text()) for n in points[:2]}
    assert {n: s["training"]["global_step"] for n, s in settings.items()} == {
        "untrained": 0,
        "trained": 2,
    }  # the recipe's row trains, the base row does not
    assert all(-100 <= r["tasks"]["TinySTS"] <= 100 for r in results.values())
    assert (tmp_path / "out" / "quality.png").stat().st_size > 5000
    assert (tmp_path / "out" / "trained" / "learning_curve.png").is_file()
    assert "| all-MiniLM-L6-v2 |" in capsys.readouterr().out


def test_data_ablation_rows_change_the_recipe_mixture():
    """Each data row removes or reweights entries the recipe really has: a renamed entry would make it a silent
    no-op."""
    import yaml

    quality = quality_module()
    mixture = yaml.safe_load(quality.RECIPE.read_text())["dataset_mixture"]
    rows = {
        name: json.loads(argv[1])
        for name, argv in quality.grid(0.05, mixture).items()
        if argv and argv[0] == "--dataset_mixture"
    }
    names = [e["name"] for e in mixture]
    for row in ("no_sts_train", "no_multilingual_data", "no_biomedical_data", "no_search_terms"):
        kept = [e["name"] for e in rows[row]]
        assert len(kept) < len(names) and kept == [n for n in names if n in kept], row
    assert [e["name"] for e in rows["no_search_terms"]] == [n for n in names if n != "pubmedqa_terms"]
    reweighted = {"sts_train_once": ("stsb_train", 1.0), "sts_train_thrice": ("stsb_train", 3.0)}
    reweighted["search_terms_twice"] = ("pubmedqa_terms", 2.0)
    for row, (entry, fraction) in reweighted.items():
        fractions = {e["name"]: e.get("fraction") for e in rows[row]}
        assert fractions == {e["name"]: (fraction if e["name"] == entry else e.get("fraction")) for e in mixture}
    assert next(e for e in mixture if e["name"] == "stsb_train")["fraction"] == 2.0
    *recipe, topics = rows["medquad_topics"]  # the recipe's entries, then the shipped health topics
    assert recipe == mixture and Path(topics["path"]).is_file() and topics["name"] not in names
    *recipe, swapped = rows["medquad_for_keywords"]  # ... in place of the keyword lists' second copy
    assert swapped == {**topics, "fraction": 0.28}
    assert recipe == [{**e, "fraction": 1.0} if e["name"] == "pubmedqa_keywords" else e for e in mixture] != mixture
    weights = {e["name"]: e.get("distill_weight") for e in mixture}  # the teacher at weight 1 on biomedical rows
    assert weights == {n: (1.0 if n in quality.BIOMEDICAL_DATA else None) for n in names}
    before = rows["biomedical_distill_weight_2"]  # ... and the row putting them back at the global weight
    assert before == [{k: v for k, v in e.items() if k != "distill_weight"} for e in mixture] != mixture
    graded = [e["name"] for e in rows["graded_sts"]]
    assert graded == [n for name in names for n in ([name, "stsb_graded"] if name == "stsb_train" else [name])]
    sts, sts_graded = (rows["graded_sts"][graded.index(n)] for n in ("stsb_train", "stsb_graded"))
    assert sts["fraction"] == 1.0 and sts_graded["graded"] and "min_score" not in sts_graded


def test_offline_stand_ins_keep_the_recipes_symmetric_marks(tmp_path):
    """The offline NLI file stands for the recipe's Hub NLI entry: bare as the recipe marks it (a lost mark would
    train it instructed while the STS evaluation is bare)."""
    import yaml

    quality = quality_module()
    recipe = yaml.safe_load(quality.RECIPE.read_text())
    assert recipe["instruct_symmetric_tasks"] is False
    traindata, evaldata = offline_data(tmp_path)
    _, mixture = quality.offline_override(traindata, evaldata, tmp_path, 10, "model", recipe, teacher="teacher")
    marked = {e["name"] for e in mixture if e.get("symmetric")}
    assert marked == {e["name"] for e in recipe["dataset_mixture"] if e.get("symmetric")}
    assert marked == {"nli", "stsb_train", "stsb_multi_sts", "stsb_multi_parallel"}


def test_runner_rejects_unknown_grid_points(tmp_path):
    traindata, evaldata = offline_data(tmp_path)
    with pytest.raises(SystemExit, match="unknown grid point"):
        quality_module().main(runner_args(tmp_path / "out", traindata, evaldata, None, "--only", "trained,bogus"))
    assert not (tmp_path / "out").exists()  # rejected before anything is written


def test_gpu_variant_dry_run_on_cpu(tmp_path, tiny_mistral_dir):
    """`python benchmarks/quality.py --gpu` as a GPU machine runs it, with a tiny model and budget on the CPU."""
    traindata, evaldata = offline_data(tmp_path)
    argv = runner_args(tmp_path / "out", traindata, evaldata, tiny_mistral_dir, "--gpu", "--only", "trained")
    train_args = [*TWO_STEPS, "--per_device_train_batch_size", "8", "--use_cpu", "true"]
    results = quality_module().main([*argv, "--train_args", *train_args])
    settings = json.loads((tmp_path / "out/trained/synthembed_config.json").read_text())
    assert settings["training"]["global_batch_size"] == 8 and settings["training"]["world_size"] == 1
    assert results["trained"]["dev"] is not None


@pytest.mark.slow
def test_recipe_short_run_raises_the_dev_score(tmp_path):
    """Gemma-3-270M, the recipe on the offline NLI + LLM data: 8 steps already lift the STS-B dev score well above
    the untrained model's (the learning curve rises from step 0). The test sets are not needed for that."""
    if not (TRAINDATA.is_dir() and (SHARED / "evaldata/raw/STSBenchmark").is_dir()):
        pytest.skip("../shared/traindata and ../shared/evaldata are not present")
    evaldata = tmp_path / "evaldata"
    (evaldata / "raw").mkdir(parents=True)
    (evaldata / "raw/STSBenchmark").symlink_to(SHARED / "evaldata/raw/STSBenchmark")
    make_sts_task(evaldata / "tasks/TinySTS")
    argv = ["--output_dir", str(tmp_path / "out"), "--only", "trained", "--evaldata", str(evaldata)]
    argv += ["--tasks", "TinySTS", "--dev_rows", "200", "--teacher", "unused"]  # (distillation off below)
    steps = ["--max_steps", "8", "--eval_steps", "8", "--warmup_steps", "2"]
    quality_module().main([*argv, "--train_args", *steps, "--distill_teacher", "null"])  # no 20k-text teacher pass
    settings = json.loads((tmp_path / "out/trained/synthembed_config.json").read_text())
    dev = settings["training"]["dev"]["stsb_dev_cosine_spearman"]
    assert dev["steps"] == [0, 8] and dev["last"] > dev["first"] + 0.15, dev
