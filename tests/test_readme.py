"""The READMEs' commands stay true: every script, recipe and config they name exists, every training command's
recipes parse together, and the commands that can run offline here do (dry runs)."""

from __future__ import annotations

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
    from synthembed.configs import ContrastiveTrainingArguments, DataArguments, ModelArguments
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
                [*args, "--model_name_or_path", str(tmp_path), "--use_cpu", "true"],
            )


def test_paper_generation_command_dry_run(monkeypatch, capsys):
    """The paper-scale generate command, planned (no request is sent, nothing written) at a reduced count."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", REPO_ROOT / "scripts/generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    config = str(REPO_ROOT / "recipes/e5-mistral-7b-instruct/generate.yaml")
    assert generate.main(["--config", config, "--num_examples", "2000", "--dry_run", "true"]) == 0
    printed = capsys.readouterr().out
    assert "gpt-4" in printed and "sk-test" not in printed


@pytest.mark.parametrize("argv", [[], ["--gpus", "4", "--gpu-memory-gib", "40", "--json"]])
def test_memory_planner_command(argv, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("plan_memory", REPO_ROOT / "scripts/plan_memory.py")
    plan = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plan)
    plan.main(argv)
    assert "chunk" in capsys.readouterr().out.lower()
