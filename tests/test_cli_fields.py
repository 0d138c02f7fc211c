"""Every field of every entry point's config takes a value on the command line: `--name VALUE` gives the same value
as `name: VALUE` in the YAML file, for every annotation in use (bool, int, float, str, Literal, Optional, list[str],
list[int], list[float], dict, list[dict])."""

from __future__ import annotations

import dataclasses
import json
import types
import typing

import pytest
import yaml


def entry_point_configs() -> dict[str, list[type]]:
    from data_generation.cli.merge_shards import MergeConfig
    from data_generation.config import GenerationConfig
    from synthembed.cli.evaluate import EvaluationArguments
    from synthembed.cli.merge_models import MergeArguments
    from synthembed.cli.mine import MiningArguments
    from synthembed.cli.plan_memory import MemoryPlanArguments
    from synthembed.cli.prepare_public_data import PrepareArguments
    from synthembed.configs import DataArguments, ModelArguments
    from synthembed.training_args import ContrastiveTrainingArguments

    return {
        "evaluate": [EvaluationArguments],
        "generate": [GenerationConfig],
        "merge_shards": [MergeConfig],
        "merge_models": [MergeArguments],
        "mine": [MiningArguments],
        "plan_memory": [MemoryPlanArguments],
        "prepare_public_data": [PrepareArguments],
        "train": [ModelArguments, DataArguments, ContrastiveTrainingArguments],
    }


def sample(hint):
    """A value of this annotation unlike any default, and how the command line spells it."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = [a for a in typing.get_args(hint) if a is not type(None)][0]  # `list[str] | str`: the list
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return args[-1], [str(args[-1])]
    if hint is bool:
        return None, None  # both spellings checked below
    if hint is int:
        return 7, ["7"]
    if hint is float:
        return 0.25, ["0.25"]
    if hint is str:
        return "some text", ["some text"]
    if origin is list and args and (args[0] is dict or typing.get_origin(args[0]) is dict):
        value = [{"path": "data.jsonl", "fraction": 0.5}]
        return value, [json.dumps(value)]
    if origin is list and args and args[0] in (int, float):  # matryoshka_dims, truncate_dims, weights
        value = [7, 3] if args[0] is int else [0.5, 0.25]
        return value, [str(v) for v in value]
    if origin is list:
        return ["a", "b"], ["a", "b"]
    if hint is dict or origin is dict:
        value = {"a": 1, "b": {"c": [1, 2]}}
        return value, [json.dumps(value)]
    return None, None


def own_fields(cls):
    """The fields this project declares (TrainingArguments' own fields are transformers' business)."""
    from transformers import TrainingArguments

    inherited = (
        {f.name: f for f in dataclasses.fields(TrainingArguments)} if issubclass(cls, TrainingArguments) else {}
    )
    return [f for f in dataclasses.fields(cls) if f.name not in inherited or f is not inherited[f.name]]


@pytest.fixture
def raw(monkeypatch):
    """parse_config without the dataclasses' checks: what the command line and YAML hand to the constructor."""
    configs = entry_point_configs()
    for classes in configs.values():
        for cls in classes:
            monkeypatch.setattr(cls, "__post_init__", lambda self: None)
    return configs


ENTRY_POINTS = [
    "evaluate",
    "generate",
    "merge_shards",
    "merge_models",
    "mine",
    "plan_memory",
    "prepare_public_data",
    "train",
]


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_field_takes_a_command_line_value(entry_point, raw, tmp_path):
    from synthembed_common.config import parse_config

    classes = raw[entry_point]
    required = {  # fields without a default: given on every command line below
        f.name: sample(typing.get_type_hints(cls)[f.name])[1]
        for cls in classes
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    checked = 0
    for index, cls in enumerate(classes):
        hints = typing.get_type_hints(cls)
        for f in own_fields(cls):
            base = [arg for name, spelled in required.items() if name != f.name for arg in (f"--{name}", *spelled)]
            value, spelled = sample(hints[f.name])
            if hints[f.name] in (bool, bool | None):
                cases = [(True, ["true"]), (False, ["false"])]
            elif spelled is None:
                pytest.fail(f"{cls.__name__}.{f.name}: no sample for {hints[f.name]}")
            else:
                cases = [(value, spelled)]
            for expected, argv in cases:
                from_flag = parse_config(classes, [*base, f"--{f.name}", *argv], description="")[index]
                assert getattr(from_flag, f.name) == expected, (cls.__name__, f.name, argv)
                config = tmp_path / "config.yaml"
                config.write_text(yaml.safe_dump({f.name: expected}))
                from_yaml = parse_config(classes, [*base, "--config", str(config)], description="")[index]
                assert getattr(from_yaml, f.name) == expected, (cls.__name__, f.name, "yaml")
                checked += 1
    assert checked >= 5


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_null_on_the_command_line_is_none_as_in_yaml(entry_point, raw):
    """`--name null` for every field that admits None (`--tasks null --local_tasks DIR`, as the quick start and the
    README write it), whatever its type, also for a list field (argparse alone reads ["null"])."""
    from synthembed_common.config import parse_config

    classes = raw[entry_point]
    required = [
        arg
        for cls in classes
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        for arg in (f"--{f.name}", *sample(typing.get_type_hints(cls)[f.name])[1])
    ]
    checked = 0
    for index, cls in enumerate(classes):
        hints = typing.get_type_hints(cls)
        for f in own_fields(cls):
            if type(None) not in typing.get_args(hints[f.name]) or f"--{f.name}" in required:
                continue
            for argv in ([f"--{f.name}", "null"], [f"--{f.name}=null"]):
                parsed = parse_config(classes, [*required, *argv], description="")[index]
                assert getattr(parsed, f.name) is None, (cls.__name__, f.name, argv)
            checked += 1
    assert checked >= 1


def test_mapping_flags_from_the_issue(raw):
    """`--model_mix '{"a": 1}'` and `--task_proportions '{"sts": 1}'` (once `invalid dict value`)."""
    from data_generation.config import GenerationConfig
    from synthembed_common.config import parse_config

    (config,) = parse_config([GenerationConfig], ["--model_mix", '{"a": 1}', "--task_proportions={sts: 1}"])
    assert config.model_mix == {"a": 1} and config.task_proportions == {"sts": 1}


def test_help_shows_the_docstring_and_config(capsys):
    from data_generation.cli import generate

    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "--config FILE.yaml" in out and generate.__doc__.splitlines()[0] in out
    assert "python scripts/generate.py --config recipes/cpu-quickstart/generate.yaml" in out  # as written


START_UP = """
import contextlib, importlib, io, sys

module, argv = sys.argv[1], sys.argv[2:]
main = importlib.import_module(module).main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(argv)
    except SystemExit as e:
        code = e.code
heavy = sorted(m for m in ("torch", "transformers", "datasets", "sentence_transformers", "openai") if m in sys.modules)
print(code, ",".join(heavy))
"""


@pytest.mark.parametrize(
    "module,argv",
    [
        ("data_generation.cli.generate", ["--help"]),
        ("data_generation.cli.generate", ["--config", "missing.yaml"]),
        ("data_generation.cli.generate", ["--base_url", "http://localhost:1", "--output_dir", "o", "--top_p", "2"]),
        ("data_generation.cli.merge_shards", ["--help"]),
        ("data_generation.cli.merge_shards", ["--output_dir", "missing"]),
        ("synthembed.cli.mine", ["--help"]),
        ("synthembed.cli.mine", ["--dataset_path", "d", "--output_dir", "o", "--model_name_or_path", "m", "--x", "1"]),
        ("synthembed.cli.merge_models", ["--help"]),
        ("synthembed.cli.merge_models", ["--models", "a", "--output_dir", "o"]),
        ("synthembed.cli.plan_memory", ["--help"]),
        ("synthembed.cli.plan_memory", ["--gpus", "0"]),
        ("synthembed.cli.train", ["--help"]),
        ("synthembed.cli.train", ["--config", "missing.yaml"]),
        (
            "synthembed.cli.train",
            ["--model_name_or_path", "missing/folder/", "--dataset_mixture", "[{path: x.jsonl}]"],
        ),
        (
            "synthembed.cli.train",
            ["--model_name_or_path", ".", "--dataset_mixture", "[{path: x}]", "--lora_rank", "8"],
        ),
    ],
)
def test_help_and_config_errors_load_no_heavy_library(module, argv, tmp_path):
    """What keeps --help and config errors under a second (benchmarks measure it): torch, transformers, datasets,
    sentence-transformers and openai are imported only once the config is good."""
    import os
    import subprocess
    import sys

    from helpers.paths import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-c", START_UP, module, *argv]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, _, heavy = proc.stdout.strip().partition(" ")
    assert int(code) == (0 if argv == ["--help"] else 2) and heavy == "", proc.stdout


def test_training_argument_names_read_from_source_are_the_fields():
    """train's early check knows TrainingArguments' keys from transformers' source: the same set as the dataclass."""
    from transformers import TrainingArguments

    from synthembed.cli.train import training_argument_names

    assert training_argument_names() == {f.name for f in dataclasses.fields(TrainingArguments)}


@pytest.mark.parametrize("module", ["synthembed.cli.train", "synthembed.cli.mine", "synthembed.cli.plan_memory"])
def test_every_help_shows_its_docstring_and_config(module, capsys):
    import importlib

    entry_point = importlib.import_module(module)
    with pytest.raises(SystemExit) as exit_info:
        entry_point.main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "--config FILE.yaml" in out
    assert all(line in out for line in entry_point.__doc__.strip().splitlines()[:3])


def test_train_help_stand_in_lists_what_the_full_parser_lists():
    """train's --help comes from a stand-in for TrainingArguments built from its source (no transformers import):
    the same flags, defaults and help texts as the real parser (enum fields show no choice list; optim's default is
    computed at import)."""
    from trl import TrlParser

    from synthembed.cli.train import training_arguments_for_help
    from synthembed.configs import ContrastiveArguments, DataArguments, ModelArguments
    from synthembed.training_args import ContrastiveTrainingArguments

    real = TrlParser([ModelArguments, DataArguments, ContrastiveTrainingArguments])
    stand_in = TrlParser([ModelArguments, DataArguments, training_arguments_for_help(), ContrastiveArguments])

    def described(parser):
        return {a.dest: (tuple(a.option_strings), a.default, a.help) for a in parser._actions}

    real, stand_in = described(real), described(stand_in)
    assert set(real) == set(stand_in) and len(real) > 100
    assert {dest for dest in real if real[dest] != stand_in[dest]} <= {"optim"}
