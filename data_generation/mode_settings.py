"""Which settings each mode reads, and the checks of the corpus and translate settings: functions of a GenerationConfig
(which calls them), apart so that the config stays a list of documented fields.

A setting only some modes read is refused in the others with one line naming the field and the run's mode, not
silently ignored (a `translate_path` in a synthetic run, a `relabel_*` setting in a translate run)."""

from __future__ import annotations

from synthembed_common.config import ConfigError
from synthembed_common.seam1 import LABEL_COLUMNS  # the label structure a translated row keeps

# The settings only some modes read, {field: those modes}; any other mode refuses them (`check`). Every other field
# applies in every mode. A new mode's own fields go here.
MODE_ONLY_SETTINGS = {
    **dict.fromkeys(
        (
            "task_proportions",
            "language_weights",
            "bitext_pivot_language",
            "brainstorm_variant",
            "tasks_per_brainstorm",
            "examples_per_task",
            "brainstorm_max_tokens",
            "quality_min_task_words",
        ),
        ("synthetic",),
    ),
    **dict.fromkeys(("placeholder_values", "placeholder_weights"), ("synthetic", "corpus")),
    **dict.fromkeys(
        (
            "corpus_path",
            "corpus_text_column",
            "corpus_id_column",
            "corpus_split",
            "corpus_max_documents",
            "corpus_language",
            "chunk_tokens",
            "chunk_overlap",
            "min_chunk_tokens",
            "negative_range_min",
            "negative_range_max",
            "negative_positive_fraction",
            "negatives_from_other_documents",
        ),
        ("corpus",),
    ),
    **dict.fromkeys(
        (
            "translate_path",
            "translate_split",
            "translate_columns",
            "target_languages",
            "source_language",
            "translate_instruction",
            "back_translation_threshold",
        ),
        ("translate",),
    ),
    # relabeling: not in mode translate, whose rows keep the vetted labels of translate_path
    **dict.fromkeys(
        (
            "relabel_enabled",
            "relabel_top_k",
            "relabel_negative_rank",
            "relabel_task_types",
            "relabel_model",
            "relabel_max_tokens",
            "relabel_assumed_passage_chars",
        ),
        ("synthetic", "corpus"),
    ),
}


def check(config, defaults: dict) -> None:
    """`defaults`: {field: its default value}; a setting left at its default is never refused."""
    _check_grounded(config)
    for name, modes in MODE_ONLY_SETTINGS.items():
        if config.mode not in modes and getattr(config, name) != defaults[name]:
            usable = " or ".join(modes)
            raise ConfigError(
                f"`{name}` is a setting of mode {usable}, not of mode {config.mode}; remove it or set `mode`"
            )


def _check_grounded(config) -> None:
    """The corpus and translate settings (their paths are checked for existence when the run loads them)."""

    def bad(name: str, expected: str):
        raise ConfigError(f"`{name}` must be {expected}, got {getattr(config, name)!r}")

    if config.mode == "synthetic":
        return
    if config.stage != "all":
        bad("stage", f"all in mode {config.mode} (it has no brainstorm)")
    if config.mode == "corpus" and not config.corpus_path:
        bad("corpus_path", "a folder of .txt/.md files or a dataset (mode corpus)")
    if config.mode == "translate" and not config.translate_path:
        bad("translate_path", "a labeled dataset of pairs or triplets (mode translate)")
    if config.mode == "translate" and not (
        config.target_languages and all(isinstance(x, str) and x.strip() for x in config.target_languages)
    ):
        bad("target_languages", "a non-empty list of language names (mode translate)")
    if config.mode == "translate" and config.source_language in config.target_languages:
        bad("target_languages", f"languages other than source_language {config.source_language!r}")
    for name in ("chunk_tokens", "min_chunk_tokens"):
        if not isinstance(getattr(config, name), int) or getattr(config, name) < 1:
            bad(name, "a positive integer")
    if not 0 <= config.chunk_overlap < config.chunk_tokens:
        bad("chunk_overlap", f"in [0, chunk_tokens={config.chunk_tokens})")
    if config.corpus_max_documents is not None and config.corpus_max_documents < 1:
        bad("corpus_max_documents", "a positive integer or null")
    if not 0 <= config.negative_range_min < config.negative_range_max:
        bad("negative_range_min", f"in [0, negative_range_max={config.negative_range_max})")
    if config.negative_positive_fraction is not None and not 0 < config.negative_positive_fraction <= 1:
        bad("negative_positive_fraction", "in (0, 1] or null")
    if not -1 <= config.back_translation_threshold <= 1:
        bad("back_translation_threshold", "a cosine similarity in [-1, 1]")
    if config.translate_columns is not None and set(config.translate_columns) - set(LABEL_COLUMNS):
        bad("translate_columns", "keyed by query, positive, negative, instruction")
