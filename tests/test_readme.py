"""The READMEs' commands stay true: every script, recipe and config they name exists, every training command's
recipes parse together, and the commands that can run offline here do (dry runs)."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from helpers.launch import stand_in_local_datasets
from helpers.paths import REPO_ROOT

READMES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "recipes").glob("*/README.md"))]


def commands() -> list[list[str]]:
    """Shell commands in ```bash blocks, continuation lines joined, comments and $VARS-only lines dropped."""
    out = []
    for readme in READMES:
        for block in re.findall(r"```bash\n(.*?)```", readme.read_text(), re.S):
            text = re.sub(r"\\\n\s*", " ", block)
            for line in text.splitlines():
                line = line.split(" #")[0].strip()
                if line and not line.startswith(("#", "export ")):
                    out.append(shlex.split(line))
    return out


def test_every_named_file_exists():
    named = 0
    for argv in commands():
        for i, arg in enumerate(argv):
            if arg.endswith((".py", ".sh")) or (i and argv[i - 1] in ("--config", "--config_file")):
                assert (REPO_ROOT / arg).exists(), f"README names a missing file: {arg} in {' '.join(argv)}"
                named += 1
    assert named >= 15


def test_training_commands_parse(tmp_path, monkeypatch):
    from synthembed.configs import DataArguments, ModelArguments
    from synthembed.training_args import ContrastiveTrainingArguments
    from synthembed_common.config import parse_config

    trains = [argv for argv in commands() if "recipes/train.py" in argv]
    assert trains
    for argv in trains:
        configs = [REPO_ROOT / argv[i + 1] for i, a in enumerate(argv) if a == "--config"]
        stand_in_local_datasets(configs, tmp_path)
        with monkeypatch.context() as m:
            m.chdir(tmp_path)
            args = [a for c in configs for a in ("--config", str(c))]
            parse_config(
                [ModelArguments, DataArguments, ContrastiveTrainingArguments],
                [*args, "--model_name_or_path", str(tmp_path)],
            )


def test_prepare_data_commands_parse():
    from synthembed.cli.prepare_public_data import PrepareArguments
    from synthembed.public_data import check_source
    from synthembed_common.config import parse_config

    prepares = [argv for argv in commands() if "scripts/prepare_public_data.py" in argv]
    assert len(prepares) >= 2  # the top README and the E5 recipe's
    for argv in prepares:
        (args,) = parse_config([PrepareArguments], ["--config", str(REPO_ROOT / argv[argv.index("--config") + 1])])
        for i, entry in enumerate(args.sources):
            check_source(f"sources[{i}]", entry)
        assert len(args.sources) == 14 and args.range_max == 100 and args.positive_fraction == 0.95


def test_paper_generation_command_dry_run(monkeypatch, capsys):
    """The paper-scale generate command, planned (no request is sent, nothing written) at a reduced count."""
    generate = load_script("generate")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    config = str(REPO_ROOT / "recipes/e5-mistral-7b-instruct/generate.yaml")
    assert generate.main(["--config", config, "--num_examples", "2000", "--dry_run", "true"]) == 0
    printed = capsys.readouterr().out
    assert "gpt-4" in printed and "sk-test" not in printed


def load_script(name):
    """scripts/<name>.py as the README runs it (a wrapper of the installed entry point)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "argv,expected",
    [
        # recipes/e5-mistral-7b-instruct/MEMORY.md's table: 8 × 80 GB, 768 texts per GPU, chunks of 128, ≈ 44 GiB
        ([], {"gpus": 8, "texts_per_gpu_per_step": 768, "recommended_embed_chunk_size": 128, "chunks_per_step": 6}),
        (
            ["--gpus", "4", "--gpu-memory-gib", "40", "--json"],
            {"gpus": 4, "texts_per_gpu_per_step": 1536, "recommended_embed_chunk_size": 32, "chunks_per_step": 48},
        ),
        # the training recipe itself: 256 per device × 8 = 2048 queries, its embed_chunk_size 128 reported as fitting
        (
            ["--config", "recipes/e5-mistral-7b-instruct/train.yaml"],
            {"gpus": 8, "texts_per_gpu_per_step": 768, "recommended_embed_chunk_size": 128},
        ),
    ],
)
def test_memory_planner_command(argv, expected, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    report = load_script("plan_memory").main(argv)
    printed = capsys.readouterr().out
    assert {key: report[key] for key in expected} == expected
    assert report["frozen_parameters"] == pytest.approx(7.11e9, rel=1e-3)  # Mistral-7B
    assert report["lora_parameters"] == 41_943_040  # r16 on all linear layers
    gib = report["gib"]
    if report["gpus"] == 8:
        assert gib["total_at_recommended_chunk"] == pytest.approx(44, abs=0.5)
    assert gib["total_at_recommended_chunk"] < report["settings"]["gpu_memory_gib"]
    if "--json" in argv:
        assert json.loads(printed)["recommended_embed_chunk_size"] == report["recommended_embed_chunk_size"]
    else:
        assert f"embed_chunk_size {report['recommended_embed_chunk_size']} " in printed
    if "--config" in argv:
        assert report["recipe_embed_chunk_size"]["fits"] and "embed_chunk_size 128: " in printed
