"""recipes/e5-mistral-7b-instruct/MEMORY.md is the memory planner's output for the recipe: regenerated here, it must
equal the committed file, so that neither the planner nor the recipe can change without it."""

from __future__ import annotations

from helpers.paths import REPO_ROOT

RECIPE = "recipes/e5-mistral-7b-instruct/train.yaml"
MEMORY = "recipes/e5-mistral-7b-instruct/MEMORY.md"
REGENERATE = f"python scripts/plan_memory.py --config {RECIPE} --markdown {MEMORY}"


def test_committed_memory_md_is_the_planner_output(tmp_path, monkeypatch, capsys):
    from synthembed.cli.plan_memory import main

    monkeypatch.chdir(REPO_ROOT)
    report = main(["--config", RECIPE, "--markdown", str(tmp_path / "MEMORY.md")])
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'MEMORY.md'}"
    fresh = (tmp_path / "MEMORY.md").read_text()
    assert fresh == (REPO_ROOT / MEMORY).read_text(), f"{MEMORY} is stale: regenerate it with `{REGENERATE}`"
    assert REGENERATE in " ".join(fresh.split())  # the file says how it is made (wrapped over two lines)
    chunk = report["recipe_embed_chunk_size"]
    assert f"`embed_chunk_size: {chunk['rows']}`" in fresh and "gradient_checkpointing" not in fresh
    assert f"**`embed_chunk_size: {report['recommended_embed_chunk_size']}`**" in fresh
