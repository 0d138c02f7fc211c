"""The public half of the full-data mixture (scripts/prepare_public_data.py): every recipe entry loads through the one
code path from local copies shaped like its Hub dataset, and mining on 2 processes equals mining on one."""

from __future__ import annotations

import io
import json
import shutil

import pandas as pd
import yaml
from datasets import load_from_disk
from helpers.launch import launch
from helpers.paths import REPO_ROOT

RECIPE = REPO_ROOT / "recipes/e5-mistral-7b-instruct/prepare_data.yaml"
MIRACL = "ar bn en es fa fi fr hi id ja ko ru sw te th zh".split()
MRTYDI = "ar bn en fi id ja ko ru sw te th".split()
TRIPLET = ("anchor", "positive", "negative")

# Each Hub dataset as its card has it: {id: ({config: rows}, columns)}; a list column holds several texts.
HUB = {
    "sentence-transformers/eli5": ({"default": 20}, ("question", "answer")),
    "sentence-transformers/hotpotqa": ({"triplet": 4, "triplet-all": 4}, TRIPLET),
    "sentence-transformers/fever": ({"triplet": 4, "triplet-all": 4}, TRIPLET),
    "sentence-transformers/miracl": ({f"{x}-{k}": 3 for x in MIRACL for k in ("triplet", "triplet-all")}, TRIPLET),
    "sentence-transformers/msmarco-bm25": ({"triplet": 4, "triplet-all": 4}, ("query", "positive", "negative")),
    "fireworks-ai/msmarco_rank": ({"default": 10}, ("query", "positive[]", "negative[]")),
    "sentence-transformers/natural-questions": ({"default": 4}, ("query", "answer")),
    "sentence-transformers/all-nli": ({"triplet": 6, "pair": 6}, TRIPLET),
    "sentence-transformers/squad": ({"default": 4}, ("question", "answer")),
    "sentence-transformers/trivia-qa": ({"default": 4}, ("query", "answer")),
    "sentence-transformers/quora-duplicates": ({"triplet": 20, "pair": 20}, TRIPLET),
    "sentence-transformers/mr-tydi": ({f"{x}-{k}": 2 for x in MRTYDI for k in ("triplet", "triplet-all")}, TRIPLET),
    "sentence-transformers/dureader": ({"triplet": 4, "triplet-all": 4}, TRIPLET),
    "sentence-transformers/t2ranking": ({"triplet": 4, "triplet-all": 4}, TRIPLET),
}


def write_hub_copy(root, repo_id: str, configs: dict[str, int], columns: tuple[str, ...]) -> None:
    """A local folder laid out as the Hub repo: one parquet folder per config, declared in the README's YAML."""
    repo = root / repo_id
    cards = []
    for config, n in configs.items():
        folder = "data" if config == "default" else config
        (repo / folder).mkdir(parents=True)
        frame = pd.DataFrame(
            {
                c.rstrip("[]"): [[f"{config} {c[:-2]} {i}.{j}" for j in range(2)] for i in range(n)]
                if c.endswith("[]")
                else [f"{config} {c} {i}" for i in range(n)]
                for c in columns
            }
        )
        frame.to_parquet(repo / folder / "train-00000-of-00001.parquet")
        cards.append({"config_name": config, "data_files": [{"split": "train", "path": f"{folder}/train-*"}]})
    (repo / "README.md").write_text("---\n" + yaml.safe_dump({"configs": cards}) + "---\n")


def local_recipe(tmp_path, **overrides):
    """The real recipe with every Hub id pointing at its local copy."""
    recipe = yaml.safe_load(RECIPE.read_text())
    for repo_id, (configs, columns) in HUB.items():
        write_hub_copy(tmp_path / "hub", repo_id, configs, columns)
    for entry in recipe["sources"]:
        entry["path"] = str(tmp_path / "hub" / entry["path"])
    recipe.update(output_dir=str(tmp_path / "out"), **overrides)
    path = tmp_path / "prepare.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True))
    return path, recipe


def test_every_source_of_the_paper_mixture_loads_and_the_dry_run_prints_table_14_ratios(tmp_path, capsys):
    from synthembed.cli.prepare_public_data import main
    from synthembed.public_data import load_source
    from synthembed_common.seam1 import PUBLIC_COLUMNS

    path, recipe = local_recipe(tmp_path)
    assert {e["path"].split("/hub/")[1] for e in recipe["sources"]} == set(HUB)  # every dataset of the paper
    stats = main(["--config", str(path), "--dry_run", "true"])
    printed = capsys.readouterr().out
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    by_source = {x["source"]: x for x in stats["sources"]}
    # Appendix A: ELI5 0.1, MS-MARCO passage 0.5, document 0.2, Quora 0.1, T2Ranking 0.5; the others 1.0
    ratios = {"eli5": 0.1, "msmarco-passage": 0.5, "msmarco-document": 0.2, "quora": 0.1, "t2ranking": 0.5}
    assert {k: v["fraction"] for k, v in by_source.items() if v["fraction"] != 1} == ratios
    assert by_source["miracl"]["rows"] == 3 * 16 and by_source["miracl"]["languages"] == 16  # triplet configs only
    assert by_source["mrtydi"]["rows"] == 2 * 11 and by_source["mrtydi"]["languages"] == 11
    assert by_source["eli5"]["sampled"] == 2 and by_source["quora"]["sampled"] == 2
    assert {k for k, v in by_source.items() if v["without_negative"]} == {"eli5", "nq", "squad", "triviaqa"}
    for name, line in by_source.items():
        assert f"{name} " in printed and f"{line['fraction']:g}" in printed
    assert len(recipe["sources"]) == 14  # 13 datasets, MS-MARCO as passage and document

    for entry in recipe["sources"]:
        ds = load_source(entry)
        assert tuple(ds.column_names) == PUBLIC_COLUMNS
        assert all(isinstance(n, list) for n in ds["negative"])
    document = load_source(next(e for e in recipe["sources"] if e["name"] == "msmarco-document"))
    assert document[0]["positive"] == "default positive 0.0" and len(document[0]["negative"]) == 2
    miracl = load_source(next(e for e in recipe["sources"] if e["name"] == "miracl"))
    assert sorted(set(miracl["language"])) == sorted(MIRACL) and miracl[0]["query"] == "ar-triplet anchor 0"


def test_two_instructions_split_the_sampled_rows_in_halves():
    from datasets import Dataset

    from synthembed.public_data import sample_source

    ds = Dataset.from_list([{"query": f"q{i}", "instruction": "a"} for i in range(10)])
    out = sample_source(ds, {"name": "nli", "instructions": ["a", "b"]}, seed=3)
    assert sorted(out["instruction"]) == ["a"] * 5 + ["b"] * 5


def test_a_bad_source_is_one_error_line(tmp_path):
    import subprocess
    import sys

    path, _ = local_recipe(tmp_path)
    recipe = yaml.safe_load(path.read_text())
    recipe["sources"][3]["config_name"] = "triplet"  # MIRACL without its language in the config
    path.write_text(yaml.safe_dump(recipe))
    cmd = [sys.executable, str(REPO_ROOT / "scripts/prepare_public_data.py"), "--config", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr[-2000:]
    assert "sources[3].config_name" in proc.stderr and not (tmp_path / "out").exists()

    recipe["sources"][3]["config_name"] = "{language}-triplet-100"  # a config the copy (and the Hub) lacks for fi
    path.write_text(yaml.safe_dump(recipe))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr[-2000:]
    assert "source 'miracl' (ar-triplet-100)" in proc.stderr and not (tmp_path / "out").exists()


TOPICS = ["cats", "rockets", "bread", "volcanoes", "chess", "jazz", "tides", "bees", "glaciers", "violins"]


def mining_recipe(tmp_path, minilm_dir):
    """Two sources: a QA set without negatives (mined) and a triplet set that has them (kept)."""
    qa = tmp_path / "qa.jsonl"
    rows = [
        {"question": f"what is fact {k} about {t}?", "answer": f"Fact {k}: {t} are explained in passage {k}."}
        for t in TOPICS
        for k in range(4)
    ][:-1]  # 39 rows: the two processes get shares of unequal size (20 and 19 queries and passages)
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    triplets = tmp_path / "triplets.jsonl"
    triplets.write_text(
        "".join(json.dumps({"anchor": f"a{i}", "positive": f"p{i}", "negative": f"n{i}"}) + "\n" for i in range(6))
    )
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe.update(
        mining_model_name_or_path=str(minilm_dir),
        query_prompt=None,
        corpus_prompt=None,
        range_max=8,
        num_hard_negatives=2,
        batch_size=16,
        max_seq_length=64,
        output_dir=str(tmp_path / "out"),
        sources=[
            {
                "name": "qa",
                "path": str(qa),
                "columns": {"query": "question", "positive": "answer"},
                "instruction": "Retrieve passages",
            },
            {"name": "triplets", "path": str(triplets), "columns": {"query": "anchor"}, "instruction": "Retrieve"},
        ],
    )
    path = tmp_path / "prepare.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path, rows


def test_mining_on_two_processes_equals_one_and_fills_every_row(tmp_path, minilm_dir):
    from sentence_transformers import SentenceTransformer

    from synthembed.cli.prepare_public_data import main

    (tmp_path / "one").mkdir(), (tmp_path / "two").mkdir()
    one, rows = mining_recipe(tmp_path / "one", minilm_dir)
    main(["--config", str(one)])
    single = load_from_disk(str(tmp_path / "one/out/dataset")).to_list()

    two, _ = mining_recipe(tmp_path / "two", minilm_dir)
    proc, _ = launch("cpu_ddp.yaml", two, script="scripts/prepare_public_data.py", timeout=300)
    double = load_from_disk(str(tmp_path / "two/out/dataset")).to_list()
    assert "mining on 2 process(es), rank 1" in proc.stdout + proc.stderr

    assert len(single) == len(rows) + 6
    mined = [r for r in single if r["source"] == "qa"]
    assert all(len(r["negative"]) == 2 and r["positive"] not in r["negative"] for r in mined)  # every row filled
    # each negative is among the 8 passages nearest the query and scores below 0.95 × its positive's score
    model = SentenceTransformer(str(minilm_dir), device="cpu")
    model.max_seq_length = 64
    corpus = [r["answer"] for r in rows]
    scores = model.similarity(model.encode([r["query"] for r in mined]), model.encode(corpus))
    for row, row_scores in zip(mined, scores):
        nearest = [corpus[j] for j in row_scores.topk(8).indices.tolist()]
        ceiling = 0.95 * float(row_scores[corpus.index(row["positive"])])
        for negative in row["negative"]:
            assert negative in nearest and float(row_scores[corpus.index(negative)]) < ceiling + 1e-6
    assert sum(r["query"].split()[-1].rstrip("?") in " ".join(r["negative"]) for r in mined) >= 20  # same topic
    kept = [r for r in single if r["source"] == "triplets"]
    assert [r["negative"] for r in kept] == [[f"n{i}"] for i in range(6)]
    assert [r["negative"] for r in double] == [r["negative"] for r in single]  # 2 processes: the same negatives
    assert double == single

    # the folder train.yaml reads: one entry, each row keeping its own set, instruction and negatives
    from synthembed.configs import DataArguments
    from synthembed.data import load_mixture

    folder = str(tmp_path / "one/out/dataset")
    train = load_mixture(DataArguments(dataset_mixture=[{"name": "public", "path": folder}])).to_list()
    assert sorted(r["source"] for r in train) == ["qa"] * 39 + ["triplets"] * 6
    assert all(len(r["negatives"]) == 2 for r in train if r["source"] == "qa")
    assert {r["instruction"] for r in train} == {"Retrieve passages", "Retrieve"}

    # resumable: a run stopped before qa's part was written mines qa again and keeps the triplets part as it was
    kept_part = tmp_path / "one/out/parts/triplets/part_key"
    written = kept_part.stat().st_mtime_ns
    shutil.rmtree(tmp_path / "one/out/parts/qa"), shutil.rmtree(tmp_path / "one/out/dataset")
    stats = main(["--config", str(one)])
    assert [x.get("mined") for x in stats["sources"]] == [39, None] and kept_part.stat().st_mtime_ns == written
    assert load_from_disk(str(tmp_path / "one/out/dataset")).to_list() == single

    # a rerun of a finished run keeps every part instead of mining again
    proc, _ = launch("cpu_ddp.yaml", two, script="scripts/prepare_public_data.py", timeout=300)
    assert "done in an earlier run" in proc.stdout + proc.stderr and "mining on" not in proc.stdout + proc.stderr
    assert load_from_disk(str(tmp_path / "two/out/dataset")).to_list() == single


def test_push_to_hub_uploads_the_parquet_and_the_stats(tmp_path, monkeypatch):
    from helpers.hub_server import LoopbackHub

    from synthembed.cli.prepare_public_data import main

    triplets = tmp_path / "triplets.jsonl"
    triplets.write_text(
        "".join(json.dumps({"anchor": f"a{i}", "positive": f"p{i}", "negative": f"n{i}"}) + "\n" for i in range(4))
    )
    source = {"name": "triplets", "path": str(triplets), "columns": {"query": "anchor"}, "instruction": "Retrieve"}
    recipe = tmp_path / "prepare.yaml"
    recipe.write_text(yaml.safe_dump({"sources": [source], "output_dir": str(tmp_path / "out")}))
    with LoopbackHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_prepare")
        monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # the loopback Hub only
        main(["--config", str(recipe), "--push_to_hub", "true", "--hub_dataset_id", "org/e5-public"])
    assert hub.created == {"name": "e5-public", "organization": "org", "visibility": "private", "type": "dataset"}
    assert set(hub.files) == {"data/train-00000-of-00001.parquet", "prepare_stats.json"}
    assert all(auth == "Bearer hf_test_token_prepare" for method, _, auth in hub.calls if method == "POST")
    table = pd.read_parquet(io.BytesIO(hub.files["data/train-00000-of-00001.parquet"]))
    assert table["query"].tolist() == [f"a{i}" for i in range(4)] and list(table["negative"][0]) == ["n0"]
