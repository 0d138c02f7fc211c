"""One argument parser and one logging set-up for every entry point (train, generate, evaluate, mine).

`parse_config` wraps TRL's `TrlParser`: `--config recipe.yaml`, CLI flags override YAML, unknown keys are an error.
On top of it, it checks YAML values against the dataclass field types (argparse only type-checks strings) and turns
every configuration error into one line on stderr and exit status 2, before anything heavy is loaded.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import types
import typing
from collections.abc import Iterable, Sequence

import yaml

logger = logging.getLogger("synthembed")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the field and what was expected."""


def fail(message: str, code: int = 2) -> typing.NoReturn:
    """Print one clear line and exit non-zero."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


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
    """Fields of transformers.TrainingArguments: it validates and converts them itself in __post_init__."""
    try:
        from transformers import TrainingArguments
    except ImportError:
        return set()
    if not issubclass(cls, TrainingArguments):
        return set()
    return {f.name for f in dataclasses.fields(TrainingArguments)}


def check_field_types(instance) -> None:
    """Raise ConfigError for a value whose type does not match its field (e.g. a YAML list where an int goes)."""
    hints = typing.get_type_hints(type(instance))
    for f in dataclasses.fields(instance):
        if f.name in _converted_fields(type(instance)):
            continue
        allowed = _allowed_types(hints.get(f.name))
        value = getattr(instance, f.name)
        if allowed is None or isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed):
            continue
        if isinstance(value, str) and str not in allowed:
            continue  # argparse already converted or rejected strings; enums etc. arrive as strings
        names = " or ".join(sorted({t.__name__ for t in allowed}))
        raise ConfigError(f"`{f.name}` must be {names}, got {type(value).__name__} {value!r}")


def parse_config(dataclass_types: Iterable[type], args: Sequence[str] | None = None) -> tuple:
    """Parse `--config FILE.yaml` plus CLI overrides into the given dataclasses; exit with one line on bad input."""
    from trl import TrlParser

    args = list(sys.argv[1:] if args is None else args)
    if "--config" in args:
        i = args.index("--config")
        path = args[i + 1] if i + 1 < len(args) else None
        if path is None or not os.path.isfile(path):
            fail(f"`--config` must name an existing YAML file, got {path!r}")
        try:
            with open(path) as f:
                yaml.safe_load(f)
        except yaml.YAMLError as e:
            fail(f"`--config` {path}: not valid YAML ({str(e).splitlines()[0]})")
    parser = TrlParser(list(dataclass_types))
    parser.exit_on_error = False
    parser.error = lambda message: fail(message)  # argparse's usage dump would bury the one line that matters
    try:
        parsed = parser.parse_args_and_config(args)
        for instance in parsed:
            check_field_types(instance)
    except (ConfigError, ValueError, TypeError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if message.startswith("Unknown arguments from config file"):
            unknown = [s[2:] for s in _unknown_keys(message)]
            message = f"unknown config key(s): {', '.join(unknown)}"
        fail(message)
    return tuple(parsed)


def _unknown_keys(message: str) -> list[str]:
    import ast

    try:
        items = ast.literal_eval(message[message.index("[") : message.index("]") + 1])
    except (ValueError, SyntaxError):
        return []
    return [s for s in items if isinstance(s, str) and s.startswith("--")]


def setup_logging(level: str | int = "INFO", main_process: bool = True) -> None:
    """Plain, timestamped logging; libraries quiet down to warnings; non-main ranks log errors only."""
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stdout, force=True
    )
    logging.getLogger().setLevel(level if main_process else logging.ERROR)
    for noisy in ("httpx", "openai", "urllib3", "datasets", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        import transformers

        transformers.utils.logging.set_verbosity(logging.WARNING if main_process else logging.ERROR)
    except ImportError:
        pass
