"""Checkpoint merging (synthembed.merging, scripts/merge_models.py): two LoRA runs of a tiny Mistral, trained here on
different data, averaged (weighted) and slerped into a folder that SentenceTransformer loads with the parents'
prompts and pooling, and whose card names its parents; parents that differ in base or usage are refused."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers.launch import ROWS, train_module, write_recipe

from synthembed.cli.merge_models import main as merge_main
from synthembed.merging import slerp


@pytest.fixture(scope="module")
def parents(tiny_mistral_dir, tmp_path_factory):
    """Two 2-step LoRA runs of one base on different rows and seeds (recipes/train.py in this process)."""
    folders = []
    for name, rows, seed in (("run-a", ROWS[:24], 1), ("run-b", ROWS[24:], 2)):
        root = tmp_path_factory.mktemp(name)
        data = root / "data.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        recipe = write_recipe(
            root, tiny_mistral_dir, max_steps=2, save_strategy="no", activation_checkpointing=False, seed=seed
        )
        train_module().main(["--config", str(recipe), "--dataset_mixture", json.dumps([{"path": str(data)}])])
        folders.append(root / "out")
    return folders


def weights_of(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_weighted_average_loads_with_the_parents_prompts_and_names_them(parents, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "merged"
    merge_main(["--models", *map(str, parents), "--output_dir", str(out), "--weights", "3", "1"])
    a, b, child = weights_of(parents[0]), weights_of(parents[1]), weights_of(out)
    assert child.keys() == a.keys()
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert changed  # the LoRA runs moved the weights apart (merged into the backbone)
    for key in a:
        torch.testing.assert_close(child[key], 0.75 * a[key] + 0.25 * b[key])

    model, parent = SentenceTransformer(str(out)), SentenceTransformer(str(parents[0]))
    assert model.prompts == parent.prompts and model[1].pooling_mode == "lasttoken"
    texts = ["question 3 about topic 3", "passage 7 answering topic 2"]
    embeddings = model.encode(texts, convert_to_tensor=True)
    assert not torch.allclose(embeddings, parent.encode(texts, convert_to_tensor=True))
    settings = json.loads((out / "synthembed_config.json").read_text())
    assert settings["merge"]["method"] == "average"
    assert [p["weight"] for p in settings["merge"]["parents"]] == [0.75, 0.25]
    assert settings["training"] is None and len(settings["datasets"]) == 2  # both parents' data
    card = (out / "README.md").read_text()
    assert "## Merge" in card and "weighted average" in card
    assert all(f"`{p}`" in card for p in parents)
    assert not (out / "learning_curve.png").exists()


def test_slerp_ends_are_the_parents_and_the_middle_is_on_the_arc(parents, tmp_path):
    for t, expected in ((0.0, parents[0]), (1.0, parents[1])):
        out = tmp_path / f"slerp-{t}"
        merge_main(
            ["--models", *map(str, parents), "--output_dir", str(out), "--method", "slerp", "--slerp_t", str(t)]
        )
        merged, want = weights_of(out), weights_of(expected)
        assert all(torch.allclose(merged[k], want[k], atol=1e-6) for k in want)
    assert "slerp" in (tmp_path / "slerp-1.0" / "README.md").read_text()
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    torch.testing.assert_close(slerp(a, b, 0.5), torch.tensor([2**-0.5, 2**0.5]))  # 45 degrees, both norms mixed
    torch.testing.assert_close(slerp(a, 3 * a, 0.5), 2 * a)  # parallel: the linear mix


def one_line_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        merge_main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_parents_of_another_base_or_usage_are_refused(parents, minilm_dir, tmp_path, capsys):
    other_usage, other_arch = tmp_path / "mean-pooled", tmp_path / "wider"
    for folder in (other_usage, other_arch):
        shutil.copytree(parents[1], folder)
    settings = json.loads((other_usage / "synthembed_config.json").read_text())
    (other_usage / "synthembed_config.json").write_text(json.dumps({**settings, "pooling": "mean"}))
    config = json.loads((other_arch / "config.json").read_text())
    (other_arch / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    out = tmp_path / "merged"
    cases = {
        other_usage: "in `pooling` ('last_token' vs 'mean')",
        other_arch: "in config.json (num_hidden_layers: 2 vs 3): not one architecture",
        minilm_dir: "not a model trained by synthembed",
    }
    for folder, message in cases.items():
        assert message in one_line_error(capsys, ["--models", str(parents[0]), str(folder), "--output_dir", str(out)])
    slerp3 = ["--models", *map(str, parents), str(parents[0]), "--output_dir", str(out), "--method", "slerp"]
    assert "exactly two" in one_line_error(capsys, slerp3)
    assert not out.exists()  # nothing half-written
