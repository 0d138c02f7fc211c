"""The Table 5 ablations (recipes/e5-mistral-7b-instruct/ablations/): each file parses on top of the paper recipe
through the real config layer to exactly its change, and trains one step through recipes/train.py on a tiny stand-in
of the same data entries, so that none can rot."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from helpers.launch import train_module
from helpers.paths import REPO_ROOT

RECIPE = REPO_ROOT / "recipes/e5-mistral-7b-instruct"
BASE = [RECIPE / "train.yaml", RECIPE / "train_synthetic_msmarco.yaml"]  # the default row of Table 5
PAPER_PREFIXES = {  # Wang et al., 2024, Appendix A
    "long-short": "classify: ",
    "short-long": "query: ",
    "short-short": "query: ",
    "long-long": "query: ",
    "sts": "",
    "bitext": "",
}
MSMARCO = yaml.safe_load((RECIPE / "train_synthetic_msmarco.yaml").read_text())["dataset_mixture"][1]
# What each ablation changes against the default row (Wang et al., 2024, Table 5; public_only: Table 17).
CHANGES = {
    "lora_r8": {"lora_r": 8, "lora_alpha": 16},
    "lora_r32": {"lora_r": 32, "lora_alpha": 64},
    "mean_pooling": {"pooling": "mean"},
    "weighted_mean_pooling": {"pooling": "weighted_mean"},
    "no_instruction": {"use_instructions": False, "query_template": "{query}"},
    "task_type_prefix": {"task_type_prefixes": PAPER_PREFIXES, "query_template": "{instruction}{query}"},
    "llama2_init": {"model_name_or_path": "meta-llama/Llama-2-7b-hf"},
    "msmarco_only": {"dataset_mixture": [MSMARCO]},
    "public_only": {"dataset_mixture": [{"name": "public", "path": "outputs/e5-mistral-7b-instruct/public/dataset"}]},
}
ABLATIONS = sorted((RECIPE / "ablations").glob("*.yaml"))


def configs(*paths) -> list[str]:
    return [arg for path in paths for arg in ("--config", str(path))]


def parse(argv):
    from synthembed.configs import DataArguments, ModelArguments
    from synthembed.training_args import ContrastiveTrainingArguments
    from synthembed_common.config import parse_config

    model, data, training = parse_config([ModelArguments, DataArguments, ContrastiveTrainingArguments], argv)
    return {**vars(model), **vars(data), "output_dir": training.output_dir, "temperature": training.temperature}


def data_stand_ins(root):
    """The local datasets earlier steps write (outputs/...), as small real datasets with the seam-1 columns."""
    from datasets import Dataset

    types = list(PAPER_PREFIXES)
    rows = [
        {
            "query": f"question {i} about topic {i % 5}",
            "positive": f"passage {i} answering topic {i % 5}",
            "negative": f"unrelated passage {i}",
            "instruction": "Retrieve passages",
            "task_type": types[i % len(types)],
        }
        for i in range(24)
    ]
    for name in ("synthetic", "public"):
        Dataset.from_list(rows).save_to_disk(str(root / f"outputs/e5-mistral-7b-instruct/{name}/dataset"))
    return rows


def test_every_ablation_parses_to_exactly_its_table_5_change(tmp_path, monkeypatch):
    assert {a.stem for a in ABLATIONS} == set(CHANGES), "an ablation was added or renamed: say what it changes"
    data_stand_ins(tmp_path)
    monkeypatch.chdir(tmp_path)
    reference = parse(configs(*BASE))
    assert (
        reference["lora_r"] == 16 and reference["pooling"] == "last_token" and len(reference["dataset_mixture"]) == 2
    )
    for ablation in ABLATIONS:
        assert ablation.read_text().startswith(("# Table 5 ", "# Table 17 ")), ablation.name  # row and paper figure
        values = parse(configs(*BASE, ablation))
        changed = {k for k in values if values[k] != reference[k]}
        assert changed == {*CHANGES[ablation.stem], "output_dir"}, (ablation.stem, changed)
        for key, expected in CHANGES[ablation.stem].items():
            actual = values[key]
            if key == "dataset_mixture":  # the entry as written, less the defaults the file leaves out
                actual = [{k: v for k, v in e.items() if (k, v) != ("split", "train")} for e in actual]
                expected = [{k: v for k, v in e.items() if (k, v) != ("split", "train")} for e in expected]
            assert actual == expected, (ablation.stem, key)
        assert values["output_dir"].startswith("outputs/ablation-")


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory, tiny_mistral_dir):
    """A 2-layer random Llama (multi-head attention as LLaMA-2) whose tokenizer has no pad token, as LLaMA-2's."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    out = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(tiny_mistral_dir)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(out)
    torch.manual_seed(0)
    shape = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    LlamaModel(LlamaConfig(vocab_size=len(tokenizer), **shape, bos_token_id=1, eos_token_id=2)).save_pretrained(out)
    return out


def local_mixture(mixture, root) -> list[dict]:
    """The entries as the recipe has them, a Hub dataset replaced by a local file with its columns (offline)."""
    out = []
    for i, entry in enumerate(mixture):
        if not entry["path"].startswith("outputs/"):
            columns = entry.get("columns", {})
            path = root / f"hub-stand-in-{i}.jsonl"
            rows = [
                {columns.get(k, k): f"{k} {j} of topic {j % 4}" for k in ("query", "positive", "negative")}
                for j in range(16)
            ]
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
            entry = {**entry, "path": str(path), "config_name": None}
        out.append(entry)
    return out


@pytest.mark.parametrize("ablation", [a.stem for a in ABLATIONS])
def test_every_ablation_trains_a_step_on_a_tiny_stand_in(ablation, tmp_path, monkeypatch, tiny_mistral_dir, request):
    """recipes/train.py on the ablation layered on the paper recipe; the last layer only shrinks the run (a tiny model
    of the same kind, 4 queries, 32 tokens, one step on the CPU) and points Hub datasets at local files."""
    from sentence_transformers import SentenceTransformer

    from synthembed.model_folder import read_settings

    data_stand_ins(tmp_path)
    monkeypatch.chdir(tmp_path)
    layers = [*BASE, RECIPE / "ablations" / f"{ablation}.yaml"]
    parsed = parse(configs(*layers))
    model = request.getfixturevalue("tiny_llama_dir") if ablation == "llama2_init" else tiny_mistral_dir
    shrink = dict(
        model_name_or_path=str(model),
        dataset_mixture=local_mixture(parsed["dataset_mixture"], tmp_path),
        output_dir=str(tmp_path / "out"),
        **dict(max_steps=1, per_device_train_batch_size=4, max_seq_length=32, embed_chunk_size=4, warmup_steps=0),
        **dict(dtype="float32", bf16=False, use_cpu=True, save_strategy="no", logging_steps=1),
    )
    (tmp_path / "shrink.yaml").write_text(yaml.safe_dump(shrink))
    train_module().main(configs(*layers, tmp_path / "shrink.yaml"))

    state = json.loads((tmp_path / "out/trainer_state.json").read_text())
    assert state["global_step"] == 1 and math.isfinite(state["log_history"][0]["loss"])
    settings = read_settings(tmp_path / "out")
    assert (settings.pooling, settings.query_template) == (parsed["pooling"], parsed["query_template"])
    assert settings.task_type_prefixes == parsed["task_type_prefixes"]
    st = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    st_pooling = {"last_token": "lasttoken", "weighted_mean": "weightedmean"}.get(parsed["pooling"], parsed["pooling"])
    assert st[1].pooling_mode == st_pooling
    if ablation == "task_type_prefix":  # mteb tasks prompted by type, as in training (synthembed/model_folder.py)
        assert st.prompts["Classification"] == "classify: " and st.prompts["Retrieval-query"] == "query: "
        assert st.prompts["STS"] == "" and st.prompts["document"] == ""
        assert 'prompt="query: "' in (tmp_path / "out/README.md").read_text()  # the card's usage example
        from mteb.types import PromptType

        from synthembed.evaluation.encoder import E5ProtocolEncoder

        encoder = E5ProtocolEncoder(tmp_path / "out", device="cpu")
        assert encoder.prepare(["x"], "Banking77Classification", "Classification", None) == ["classify: x"]
        assert encoder.prepare(["x"], "SciFact", "Retrieval", PromptType.query) == ["query: x"]
        assert encoder.prepare(["x"], "SciFact", "Retrieval", PromptType.document) == ["x"]
        assert encoder.prepare(["x"], "STSBenchmark", "STS", None) == ["x"]
    assert st.encode(["a query"]).shape == (1, 64)


def test_task_type_prefix_replaces_each_query_instruction(tmp_path, tiny_mistral_dir):
    """The collator puts the row's task-type prefix where the instruction was, as is; a type without one fails."""
    from transformers import AutoTokenizer

    from synthembed.configs import DataArguments
    from synthembed.data import ContrastiveCollator, DataError, EOSTokenizer, load_mixture

    rows = data_stand_ins(tmp_path)
    path = str(tmp_path / "outputs/e5-mistral-7b-instruct/synthetic/dataset")
    data_args = DataArguments(dataset_mixture=[{"path": path}], task_type_prefixes=PAPER_PREFIXES)
    loaded = load_mixture(data_args)
    assert {r["task_type"]: r["instruction"] for r in loaded} == PAPER_PREFIXES
    tokenizer = AutoTokenizer.from_pretrained(tiny_mistral_dir)
    collator = ContrastiveCollator(EOSTokenizer(tokenizer, 64, append_eos=False), data_args.query_template, 0)
    batch = collator([r for r in loaded if r["task_type"] in ("long-short", "sts")][:2])
    texts = tokenizer.batch_decode(batch["query"]["input_ids"], skip_special_tokens=True)
    by_type = {r["query"]: r["task_type"] for r in rows}
    for text in texts:
        query = text.removeprefix("classify: ")
        assert (text != query) == (by_type[query] == "long-short"), text

    without_sts = {k: v for k, v in PAPER_PREFIXES.items() if k != "sts"}
    with pytest.raises(DataError, match=r"task type\(s\) \['sts'\] have no prefix in `task_type_prefixes`"):
        load_mixture(DataArguments(dataset_mixture=[{"path": path}], task_type_prefixes=without_sts))
