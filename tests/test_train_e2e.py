"""`accelerate launch recipes/train.py` on 2 CPU processes (ZeRO-3 and DDP) with a tiny random Mistral, from a recipe
that does not say `use_cpu` (training derives it from the launch)."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers.launch import launch, losses, write_recipe

from synthembed.model_folder import read_settings


@pytest.mark.parametrize("accelerate_config", ["cpu_zero3.yaml", "cpu_ddp.yaml"])
def test_train_two_processes_and_load_with_sentence_transformers(tmp_path, tiny_mistral_dir, accelerate_config):
    from sentence_transformers import SentenceTransformer

    recipe = write_recipe(tmp_path, tiny_mistral_dir)
    settings = yaml.safe_load(recipe.read_text())
    settings.pop("use_cpu", None)  # derived from the launch: no CUDA here, so gloo on the CPU
    sts = tmp_path / "sts.jsonl"  # graded pairs among the rows: a rank's batch may draw none of them
    sts.write_text("".join(json.dumps({"s1": f"a {i}", "s2": f"b {i % 3}", "score": i % 6}) + "\n" for i in range(12)))
    columns = {"query": "s1", "positive": "s2", "score": "score"}
    settings["dataset_mixture"].append({"path": str(sts), "name": "sts", "graded": True, "columns": columns})
    recipe.write_text(yaml.safe_dump(settings))
    proc, seconds = launch(accelerate_config, recipe)
    print(f"{accelerate_config}: {seconds:.1f}s")
    out = tmp_path / "out"
    history = losses(out)
    assert len(history) == 4 and all(v == v for v in history)
    state = json.loads((out / "trainer_state.json").read_text())
    logged = [h for h in state["log_history"] if "loss" in h][0]
    assert {"accuracy", "positive_similarity", "negative_similarity", "cosent"} <= set(logged)
    assert (out / "README.md").is_file()
    assert read_settings(out).training["world_size"] == 2  # two connected processes, not two separate runs
    model = SentenceTransformer(str(out), device="cpu")
    emb = model.encode(["hello world", "another text"], prompt_name="query")
    assert emb.shape == (2, 64)
    assert abs(float((emb[0] ** 2).sum()) - 1.0) < 1e-4
