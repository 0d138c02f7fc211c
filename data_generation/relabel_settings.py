"""The `relabel:` settings of a generation config (data_generation.relabel does the relabeling). A module of their own
so that the config can check them without importing the relabeling, which builds its requests with the plan (a cycle
config -> relabel -> plan -> config otherwise)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from data_generation.templates import TASK_TYPES
from synthembed_common.config import ConfigError


@dataclass
class RelabelConfig:
    """The `relabel:` mapping of a generation config."""

    enabled: bool = False
    embedder: str | None = None  # a SentenceTransformer folder or Hub id (e.g. intfloat/multilingual-e5-base)
    top_k: int = 5
    negative_rank: int | None = None  # None: top_k, the lowest-ranked candidate
    task_types: list[str] = field(default_factory=lambda: ["short-long", "short-short", "long-long"])
    model: str | None = None  # the ranking LLM; default: the generation model (the first of a mix)
    max_tokens: int | None = None  # default: 8 tokens per id
    query_prompt: str | None = None  # embedder prefixes, e.g. "query: " / "passage: " for E5 models
    corpus_prompt: str | None = None
    batch_size: int = 32
    assumed_passage_chars: int = 1500  # the dry run's guess at a passage's length

    @classmethod
    def from_mapping(cls, value: dict | None) -> RelabelConfig:
        value = dict(value or {})
        unknown = set(value) - {f.name for f in fields(cls)}
        if unknown:
            names = ", ".join(f.name for f in fields(cls))
            raise ConfigError(f"`relabel` has unknown key(s) {sorted(unknown)}; expected some of {names}")
        settings = cls(**value)
        settings.check()
        return settings

    def check(self) -> None:
        def bad(key: str, expected: str):
            raise ConfigError(f"`relabel.{key}` must be {expected}, got {getattr(self, key)!r}")

        if not isinstance(self.enabled, bool):
            bad("enabled", "true or false")
        for key in ("top_k", "batch_size", "assumed_passage_chars"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < (2 if key == "top_k" else 1):
                bad(key, "an integer >= 2" if key == "top_k" else "a positive integer")
        if self.negative_rank is not None and not (
            isinstance(self.negative_rank, int) and 2 <= self.negative_rank <= self.top_k
        ):
            bad("negative_rank", f"an integer in [2, top_k={self.top_k}] (rank 1 is the positive) or null")
        if not isinstance(self.task_types, list) or not self.task_types or set(self.task_types) - set(TASK_TYPES):
            bad("task_types", f"a non-empty list of task types from {list(TASK_TYPES)}")
        if self.max_tokens is not None and (not isinstance(self.max_tokens, int) or self.max_tokens < 1):
            bad("max_tokens", "a positive integer or null")
        if self.enabled and not self.embedder:
            bad("embedder", "a SentenceTransformer folder or Hub id when relabeling is enabled")

    @property
    def rank_of_negative(self) -> int:
        return self.negative_rank or self.top_k

    def completion_tokens(self) -> int:
        return self.max_tokens or 8 * self.top_k + 16
