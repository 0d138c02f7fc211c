"""One argument parser for every entry point (train, generate, evaluate, mine, plan memory): one config dialect.

`parse_config` wraps TRL's `TrlParser`: `--config recipe.yaml`, CLI flags override YAML, unknown keys are an error.
On top of it, it checks YAML values against the dataclass field types (argparse only type-checks strings) and turns
every configuration error into one line on stderr and exit status 2, before anything heavy is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from collections.abc import Iterable, Iterator, Sequence

import yaml


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the field and what was expected."""


def fail(message: str, code: int = 2) -> typing.NoReturn:
    """Print one clear line and exit non-zero."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def first_line(error: BaseException, innermost: bool = False, typed: bool = False) -> str:
    """The first line of an error's message, for a one-line report: the type name where the message is empty;
    `innermost`: of the error it was raised from (a library's wrapper names less than the reader it wraps);
    `typed`: prefixed with the type name."""
    while innermost and error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip()
    if not text:
        return type(error).__name__
    return f"{type(error).__name__}: {text.splitlines()[0]}" if typed else text.splitlines()[0]


def _allowed_types(annotation) -> tuple[type, ...] | None:
    """Runtime types a simple annotation admits (None where it is too complex to check here)."""
    if isinstance(annotation, str):
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        allowed: tuple[type, ...] = ()
        for arg in typing.get_args(annotation):
            sub = (type(None),) if arg is type(None) else _allowed_types(arg)
            if sub is None:
                return None
            allowed += sub
        return allowed
    if origin is typing.Literal:
        return tuple({type(v) for v in typing.get_args(annotation)})
    if origin in (list, tuple, Sequence):
        return (list, tuple)
    if origin is dict:
        return (dict,)
    if annotation is float:
        return (float, int)
    if annotation in (int, str, bool, dict, list):
        return (annotation,)
    return None


def _converted_fields(cls: type) -> set[str]:
    """Fields of transformers.TrainingArguments: it validates and converts them itself in __post_init__.
    (Checked by class name first: importing transformers costs seconds that generation's start-up need not pay.)"""
    if not any(base.__name__ == "TrainingArguments" for base in cls.__mro__):
        return set()
    from transformers import TrainingArguments

    return {f.name for f in dataclasses.fields(TrainingArguments)}


def _literal_choices(annotation) -> tuple | None:
    """The allowed values of a Literal[...] annotation (also inside Optional), else None."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if typing.get_origin(arg) is typing.Literal:
                return typing.get_args(arg) + ((None,) if type(None) in typing.get_args(annotation) else ())
    return None


def check_yaml_types(config: dict, dataclass_types: Iterable[type]) -> None:
    """Raise ConfigError for a YAML value whose type does not fit its field (argparse only converts strings).

    Runs before the dataclasses are built, so `__post_init__` never sees, say, a list where an int goes.
    """
    for cls in dataclass_types:
        hints = typing.get_type_hints(cls)
        skip = _converted_fields(cls)
        for f in dataclasses.fields(cls):
            if f.name not in config or f.name in skip:
                continue
            value, allowed = config[f.name], _allowed_types(hints.get(f.name))
            choices = _literal_choices(hints.get(f.name))
            if choices and value not in choices:
                hint = ""
                if isinstance(value, bool) and bool not in map(type, choices):  # YAML 1.1: off/no/on/yes are booleans
                    words = ("on", "yes", "true") if value else ("off", "no", "false")
                    quoted = next((c for c in choices if str(c).lower() in words), choices[0])
                    hint = f" (YAML reads an unquoted {'/'.join(words)} as {value}: quote it, {f.name}: '{quoted}')"
                raise ConfigError(f"`{f.name}` must be one of {', '.join(map(str, choices))}; got {value!r}{hint}")
            if allowed is None or isinstance(value, str):
                continue  # argparse converts (and rejects) strings itself
            if isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed):
                continue
            names = " or ".join(sorted({t.__name__ for t in allowed}))
            raise ConfigError(f"`{f.name}` must be {names}, got {type(value).__name__} {value!r}")


def _field_hints(dataclass_types: Iterable[type]) -> Iterator[tuple[str, object]]:
    """(name, resolved annotation) of every field of the dataclasses."""
    for cls in dataclass_types:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            yield f.name, hints.get(f.name)


def _structured_fields(dataclass_types: list[type]) -> dict[str, str]:
    """Fields argparse cannot parse from one string, so their command-line value is YAML/JSON: {name: what it holds}.

    Fields annotated `dict`, `dict[...]` (optionally `| None`) hold "a mapping" (e.g. task_proportions); fields
    annotated `list[dict...]` hold "a list of mappings" (e.g. dataset_mixture). Unions with `str` are left to argparse
    (transformers.TrainingArguments parses its `dict | str` fields itself).
    """
    kinds = {}
    for name, hint in _field_hints(dataclass_types):
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            hint = args[0] if len(args) == 1 else None
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is dict or origin is dict:
            kinds[name] = "mapping"
        elif origin is list and args and (args[0] is dict or typing.get_origin(args[0]) is dict):
            kinds[name] = "list of mappings"
    return kinds


def _nullable_fields(dataclass_types: list[type]) -> set[str]:
    """Fields whose annotation admits None: `--name null` on the command line sets them to None, as `name: null` in
    YAML does (argparse alone would read the string "null", or a one-item list ["null"])."""
    return {
        name
        for name, hint in _field_hints(dataclass_types)
        if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    }


def _load_config_file(path: str | None) -> dict:
    if path is None or not os.path.isfile(path):
        fail(f"`--config` must name an existing YAML file, got {path!r}")
    try:
        with open(path) as f:
            config = yaml.safe_load(f)
    except yaml.YAMLError as e:
        fail(f"`--config` {path}: not valid YAML ({first_line(e)})")
    if not isinstance(config, dict):
        fail(f"`--config` {path}: expected a YAML mapping of settings, got {type(config).__name__}")
    for key, value in (config.pop("env", None) or {}).items():  # TRL's `env:` block
        os.environ[key] = str(value)
    return config


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The entry point's docstring as written (commands stay one per line), and every default."""


def _pop_config_files(args: list[str]) -> list[str | None]:
    """Remove `--config FILE` and `--config=FILE` from args; the files in order (None for a missing value)."""
    files, rest = [], []
    while args:
        arg = args.pop(0)
        if arg == "--config":
            files.append(args.pop(0) if args else None)
        elif arg.startswith("--config="):
            files.append(arg.partition("=")[2])
        else:
            rest.append(arg)
    args[:] = rest
    return files


def parse_config(
    dataclass_types: Iterable[type],
    args: Sequence[str] | None = None,
    description: str | None = None,
    ignore_unknown_keys: bool = False,
    foreign_keys: set[str] | None = None,
) -> tuple:
    """Parse `--config FILE.yaml` plus CLI overrides into the given dataclasses; exit with one line on bad input.

    The same contract as TRL's `TrlParser.parse_args_and_config` (YAML sets defaults, flags override, unknown YAML keys
    are an error), plus: `--config` may repeat (later files override earlier ones, for ablation files), YAML values
    are type-checked before any `__post_init__` runs, and mapping and list-of-mapping fields accept a YAML/JSON value
    on the command line (`--task_proportions '{"sts": 1}'`, `--dataset_mixture '[{"path": "data.jsonl"}]'`).

    `description` heads `--help` (default: the docstring of the script run as __main__). `ignore_unknown_keys` drops
    config-file keys no dataclass has, for tools that read part of another entry point's recipe (the memory planner
    reads a training recipe); flags are still checked. `foreign_keys` are settings another parser reads (keys and
    flags both): skipped here, so that part of a config can be checked before the classes of the rest are imported.
    """
    from trl import TrlParser  # TRL's own argparse subclass: does not import transformers (keeps --help fast)

    dataclass_types = list(dataclass_types)
    args = list(sys.argv[1:] if args is None else args)
    if description is None:
        description = getattr(sys.modules.get("__main__"), "__doc__", None)
    config: dict = {}
    for path in _pop_config_files(args):  # several files merge in order: a base recipe, then small override files
        config.update(_load_config_file(path))
    known = {f.name for cls in dataclass_types for f in dataclasses.fields(cls)}
    if ignore_unknown_keys or foreign_keys:
        skip = (lambda key: True) if ignore_unknown_keys else foreign_keys.__contains__
        config = {key: value for key, value in config.items() if key in known or not skip(key)}
    structured, nullable, rest = _structured_fields(dataclass_types), _nullable_fields(dataclass_types), []
    while args:  # `--name VALUE` and `--name=VALUE` of structured fields become YAML values in `config`
        flag, eq, value = args.pop(0).partition("=")
        name = flag[2:].replace("-", "_") if flag.startswith("--") else None
        alone = eq or (args[:1] and (len(args) == 1 or args[1].startswith("--")))  # one value follows the flag
        if name in nullable and alone and (value if eq else args[0]) == "null":
            config[name] = None
            args = args if eq else args[1:]
            continue
        if name not in structured:
            rest.append(flag + eq + value)
            continue
        try:
            config[name] = yaml.safe_load(value if eq else args.pop(0))
        except (IndexError, yaml.YAMLError):
            fail(f"`{flag}` expects a YAML/JSON {structured[name]}")
    args = rest
    try:
        if config:  # nothing to check otherwise (and checking may import transformers: `--help` stays fast)
            check_yaml_types(config, dataclass_types)
        parser = TrlParser(dataclass_types, description=description, formatter_class=_HelpFormatter)
        if "-h" in args or "--help" in args:  # listed for --help only: parse_config reads it itself (above)
            parser.add_argument(
                "--config",
                metavar="FILE.yaml",
                action="append",
                help="YAML settings (repeatable: later files override earlier ones; flags override both)",
            )
        parser.exit_on_error = False
        parser.error = lambda message: fail(message)  # argparse's usage dump would bury the one line that matters
        unknown = parser.set_defaults_with_config(**config)
        if unknown:
            fail(f"unknown config key(s): {', '.join(s[2:] for s in unknown[::2])}")
        if foreign_keys:
            parser.allow_abbrev = False  # a foreign flag must not pass for a prefix of one of ours
            *parsed, remaining = parser.parse_args_into_dataclasses(args=args, return_remaining_strings=True)
            flags = [a[2:].partition("=")[0].replace("-", "_") for a in remaining if a.startswith("--")]
            strays = [f for f in flags if f not in foreign_keys and f.removeprefix("no_") not in foreign_keys]
            if strays or (remaining and not remaining[0].startswith("--")):
                fail(f"unrecognized arguments: {' '.join(remaining)}")
        else:
            parsed = parser.parse_args_into_dataclasses(args=args)
    except (ConfigError, ValueError, TypeError, argparse.ArgumentError) as e:
        fail(first_line(e))
    return tuple(parsed)
