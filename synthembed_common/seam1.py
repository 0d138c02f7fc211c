"""Seam 1 (DESIGN.md): the row schema between generation and training, defined once for both libraries.

Every row has the label columns (`query`, `positive`, `negative`, `instruction`) and the task columns (`task_type`,
`language`); generated rows add their provenance, prepared public sets name their `source`. `negative` is one text
(null where the task makes none) in a generated row and a list of texts in a prepared public set, which may hold
several mined negatives per row; synthembed.data.to_schema reads either into the trainer's `negatives` list.
"""

from __future__ import annotations

LABEL_COLUMNS = ("query", "positive", "negative", "instruction")
TASK_COLUMNS = ("task_type", "language")
GENERATED_COLUMNS = (
    *LABEL_COLUMNS,
    *TASK_COLUMNS,
    "source_language",  # bitext only
    "target_language",
    "generator_model",
    "placeholders",  # the sampled values, JSON
    "prompt_version",
)
PUBLIC_COLUMNS = (*LABEL_COLUMNS, *TASK_COLUMNS, "source")
# A generated dataset's run statistics, in the run folder beside dataset/ (the model card finds generated sets by it).
STATS_FILE = "generation_stats.json"


def features(columns: tuple[str, ...], negative_list: bool):
    """The datasets Features of seam-1 `columns`: every column a string, `negative` a list of strings where
    `negative_list` (one type for every source: a set whose rows all lack a negative would get a list of nulls)."""
    from datasets import Features, List, Value  # imported here: configs that only name the columns stay fast

    negative = List(Value("string")) if negative_list else Value("string")
    return Features({c: negative if c == "negative" else Value("string") for c in columns})
