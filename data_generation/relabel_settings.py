"""The checks of the relabeling fields of a generation config (`relabel_*` and the reference embedder's), and the old
nested `relabel:` mapping, accepted for one release: its keys are moved onto those flat fields with a warning.

Functions of the config object, not a dataclass of their own: the settings are declared once, on GenerationConfig
(listed by `--help`), and this module imports neither the config nor the relabeling (no import cycle)."""

from __future__ import annotations

import warnings

from data_generation.templates import TASK_TYPES
from synthembed_common.config import ConfigError

# The keys of the deprecated `relabel:` mapping and the flat fields that replace them.
DEPRECATED_KEYS = {
    "enabled": "relabel_enabled",
    "embedder": "reference_embedder",
    "top_k": "relabel_top_k",
    "negative_rank": "relabel_negative_rank",
    "task_types": "relabel_task_types",
    "model": "relabel_model",
    "max_tokens": "relabel_max_tokens",
    "query_prompt": "embedder_query_prompt",
    "corpus_prompt": "embedder_corpus_prompt",
    "batch_size": "embedder_batch_size",
    "assumed_passage_chars": "relabel_assumed_passage_chars",
}


def apply_deprecated_mapping(config, defaults: dict) -> None:
    """Move the keys of a `relabel:` mapping onto their flat fields (a flat field set to another value as well is an
    error: which one was meant?), warn once naming the new fields, and leave `relabel` None (the saved config is in
    the new dialect). `defaults`: {field: its default value}."""
    mapping = config.relabel
    if mapping is None:
        return
    if not isinstance(mapping, dict):
        raise ConfigError(f"`relabel` must be a mapping (deprecated: use the relabel_* fields), got {mapping!r}")
    unknown = sorted(set(mapping) - set(DEPRECATED_KEYS))
    if unknown:
        raise ConfigError(f"`relabel` has unknown key(s) {unknown}; expected some of {', '.join(DEPRECATED_KEYS)}")
    for key, value in mapping.items():
        name = DEPRECATED_KEYS[key]
        if getattr(config, name) not in (defaults[name], value):
            raise ConfigError(
                f"`relabel.{key}` and `{name}` are both set, to {value!r} and {getattr(config, name)!r}; keep `{name}`"
            )
        setattr(config, name, value)
    config.relabel = None
    message = (
        "the `relabel:` mapping is deprecated and will be removed in the next release; use the flat fields "
        + ", ".join(f"{DEPRECATED_KEYS[k]}: {v!r}" for k, v in mapping.items())
    )
    # FutureWarning: the category Python shows by default, for deprecations aimed at users (here: of a YAML recipe)
    warnings.warn(message, FutureWarning, stacklevel=4)


def check(config) -> None:
    def bad(name: str, expected: str):
        raise ConfigError(f"`{name}` must be {expected}, got {getattr(config, name)!r}")

    if not isinstance(config.relabel_enabled, bool):
        bad("relabel_enabled", "true or false")
    for name, low in (("relabel_top_k", 2), ("embedder_batch_size", 1), ("relabel_assumed_passage_chars", 1)):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            bad(name, f"an integer >= {low}")
    rank = config.relabel_negative_rank
    if rank is not None and not (isinstance(rank, int) and 2 <= rank <= config.relabel_top_k):
        bad(
            "relabel_negative_rank",
            f"an integer in [2, relabel_top_k={config.relabel_top_k}] (rank 1 is the positive) or null",
        )
    types = config.relabel_task_types
    if not isinstance(types, list) or not types or set(types) - set(TASK_TYPES):
        bad("relabel_task_types", f"a non-empty list of task types from {list(TASK_TYPES)}")
    tokens = config.relabel_max_tokens
    if tokens is not None and (not isinstance(tokens, int) or tokens < 1):
        bad("relabel_max_tokens", "a positive integer or null")
    if not (isinstance(config.reference_embedder, str) and config.reference_embedder):
        bad("reference_embedder", "a SentenceTransformer folder or Hub id")


def rank_of_negative(config) -> int:
    return config.relabel_negative_rank or config.relabel_top_k


def completion_tokens(config) -> int:
    return config.relabel_max_tokens or 8 * config.relabel_top_k + 16
