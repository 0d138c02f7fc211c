"""`GenerationConfig`: every setting of a generation run, one documented field each, validated on construction.

The project's one config dialect (synthembed_common.config): `field(default=..., metadata={"help": ...})`, choices as
`Literal[...]`, and a `ConfigError` naming the field and what was expected for any bad value.
"""

from __future__ import annotations

import math
import os
import typing
from dataclasses import asdict, dataclass, field
from typing import Literal
from urllib.parse import urlparse

from data_generation.templates import TASK_TYPES
from synthembed_common.config import ConfigError

# Figure 2 (left pie) task-type counts in thousands (Wang et al., 2024, Figure 2); normalised into proportions.
PAPER_TASK_PROPORTIONS = {
    "short-long": 167,
    "long-short": 122,
    "sts": 99,
    "bitext": 89,
    "long-long": 17,
    "short-short": 13,
}


@dataclass
class GenerationConfig:
    # ---- LLM access
    base_url: str = field(
        default=None,
        metadata={"help": "OpenAI-compatible endpoint (OpenAI, Azure OpenAI /openai/v1, vLLM, llama.cpp)."},
    )
    model: str | None = field(
        default=None,
        metadata={"help": "One model for every request (use `model_mix` or `models_per_task_type` for more)."},
    )
    model_mix: dict | None = field(
        default=None, metadata={"help": "Weighted model mix {model: weight}, sampled per request (paper: 25/75)."}
    )
    models_per_task_type: dict | None = field(
        default=None, metadata={"help": "{task_type: model} overrides; wins over `model`/`model_mix`."}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "Name of the environment variable that holds the API key (never the key)."},
    )
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (paper: 1.0)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling top-p (paper: 1.0)."})
    max_tokens: int | None = field(
        default=None, metadata={"help": "Completion token cap for generation requests (None: server default)."}
    )
    brainstorm_max_tokens: int | None = field(
        default=None, metadata={"help": "Completion token cap for brainstorm requests."}
    )
    send_seed: bool = field(
        default=True,
        metadata={"help": "Send a per-request `seed` derived from `seed` (reproducible where servers honour it)."},
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "Optional system message (the paper gives none)."}
    )
    structured_output: Literal["none", "json_schema", "json_object"] = field(
        default="none",
        metadata={
            "help": "none | json_schema (OpenAI/vLLM `response_format` json_schema) | "
            "json_object (llama.cpp: json_object + schema)."
        },
    )
    schema_max_length: int | None = field(
        default=None, metadata={"help": "maxLength on every string in the output schema (keeps small models short)."}
    )
    schema_variant: Literal["auto", "strict", "full"] = field(
        default="auto",
        metadata={
            "help": "strict: OpenAI structured outputs (no minLength/maxLength/maxItems) | full: vLLM/llama.cpp "
            "(all bounds) | auto: strict for api.openai.com and Azure OpenAI hosts, else full."
        },
    )
    max_concurrency: int = field(default=8, metadata={"help": "Requests in flight at once."})
    requests_per_minute: int | None = field(default=None, metadata={"help": "Client-side request rate limit."})
    tokens_per_minute: int | None = field(
        default=None, metadata={"help": "Client-side token rate limit (prompt estimate + max_tokens)."}
    )
    max_retries: int = field(
        default=6,
        metadata={"help": "Retries per request on 429/5xx/timeouts (openai client backoff, honours Retry-After)."},
    )
    request_timeout: float = field(default=600.0, metadata={"help": "Seconds before one HTTP attempt times out."})
    # ---- Batch API
    use_batch_api: bool = field(
        default=False,
        metadata={"help": "Use the OpenAI Batch API (half price, up to 24 h) instead of online requests."},
    )
    batch_poll_interval: float = field(default=60.0, metadata={"help": "Seconds between batch status polls."})
    batch_max_requests: int = field(
        default=50000, metadata={"help": "Most requests per batch input file (OpenAI limit: 50,000)."}
    )
    batch_max_bytes: int = field(
        default=200_000_000, metadata={"help": "Most bytes per batch input file (OpenAI limit: 200 MB)."}
    )
    max_batches_in_flight: int = field(
        default=8,
        metadata={
            "help": "Batches submitted and polled at once (input files hold one model each, so a mix needs 2+)."
        },
    )
    batch_discount: float = field(default=0.5, metadata={"help": "Price multiplier applied to Batch API usage."})
    # ---- What to generate
    num_examples: int = field(
        default=1000, metadata={"help": "Total examples to request, split over task types by `task_proportions`."}
    )
    task_proportions: dict = field(
        default_factory=lambda: dict(PAPER_TASK_PROPORTIONS),
        metadata={"help": "{task_type: weight}; normalised; default: the paper's Figure 2 counts."},
    )
    language_weights: dict | None = field(
        default=None, metadata={"help": "{language: weight}; default: the paper's Figure 2 distribution."}
    )
    bitext_pivot_language: str | None = field(
        default=None, metadata={"help": "If set, every bitext pair has this language on one side."}
    )
    placeholder_values: dict | None = field(
        default=None, metadata={"help": "{task_type: {placeholder: [values]}} overrides of the paper's sets."}
    )
    placeholder_weights: dict | None = field(
        default=None, metadata={"help": "{task_type: {placeholder: [weights]}}; default uniform."}
    )
    brainstorm_variant: Literal["appendix", "figure1"] = field(
        default="appendix", metadata={"help": "appendix (Table 8) | figure1 (Figure 1 short-long brainstorm prompt)."}
    )
    tasks_per_brainstorm: int = field(
        default=20, metadata={"help": "Tasks one brainstorm call is expected to return (the prompt asks ~20)."}
    )
    examples_per_task: float = field(
        default=3.3, metadata={"help": "Target examples per brainstormed task (paper: 500k/150k = 3.3)."}
    )
    dedup_on: Literal["row", "query"] = field(
        default="row",
        metadata={"help": "row (query+positive+negative) | query: what exact-duplicate removal compares."},
    )
    # ---- Quality gate (data_generation.quality), after parsing and exact dedup; each rule counted in stats + card
    quality_min_task_words: int = field(
        default=4, metadata={"help": "Words (2+ letters) a brainstormed task needs; 0: no check."}
    )
    quality_min_field_words: int = field(
        default=1, metadata={"help": "Words (2+ letters) each query/positive/negative needs; 0: no check."}
    )
    quality_language_check: Literal["auto", "off"] = field(
        default="auto",
        metadata={"help": "auto: reject rows not in their `language` where lingua is installed | off."},
    )
    quality_language_min_chars: int = field(
        default=30, metadata={"help": "Only texts of at least this many letters are language-checked (short: noise)."}
    )
    near_dup_threshold: float | None = field(
        default=0.7,
        metadata={
            "help": "MinHash Jaccard (character 5-grams of the row's words) from which a row is a near duplicate of "
            "an earlier one (0.7: a lightly reworded copy; distinct rows on one topic score ~0.2-0.3); null: off."
        },
    )
    decontamination_tasks: list[str] | None = field(
        default=None,
        metadata={
            "help": "MTEB task names (loaded by mteb, offline from its cache) or local task folders "
            "(task.json layout) whose test texts no row may share an n-gram with."
        },
    )
    decontamination_ngram: int = field(
        default=13, metadata={"help": "Word n-gram length of the overlap test; shorter test texts match whole."}
    )
    seed: int = field(
        default=42,
        metadata={"help": "Seed of every sampling decision; the same seed and responses give the same dataset."},
    )
    # ---- Accounting
    prices: dict | None = field(
        default=None, metadata={"help": "{model: {prompt: USD per 1M tokens, completion: USD per 1M tokens}}."}
    )
    # ---- Output
    output_dir: str = field(
        default=None, metadata={"help": "Run directory: store, dataset, parquet, stats, card, chart."}
    )
    num_shards: int = field(default=1, metadata={"help": "Split the work into this many disjoint shards."})
    stage: Literal["all", "brainstorm", "generate"] = field(
        default="all",
        metadata={
            "help": "all: brainstorm, then generate, in this process | brainstorm: only the brainstorm of the whole "
            "run, once, into {output_dir}/brainstorm/ (tasks deduplicated) | generate: this shard's examples from "
            "that shared task list (scripts/launch_generation.py runs brainstorm, shards, merge)."
        },
    )
    shard_index: int = field(default=0, metadata={"help": "Which shard this process runs (0-based)."})
    push_to_hub: bool = field(
        default=False, metadata={"help": "Upload parquet + dataset card + chart to the Hub (HF_ENDPOINT honoured)."}
    )
    hub_dataset_id: str | None = field(
        default=None, metadata={"help": "Hub dataset repo id, e.g. `org/e5-synthetic`."}
    )
    hub_private: bool = field(default=True, metadata={"help": "Create the Hub repo private."})
    hub_token_env: str = field(default="HF_TOKEN", metadata={"help": "Environment variable holding the Hub token."})
    dry_run: bool = field(
        default=False,
        metadata={"help": "Print the request plan and a cost ceiling (at max_tokens), send nothing, write nothing."},
    )
    log_level: str = field(default="INFO", metadata={"help": "Logging level."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self):
        if not self.base_url or urlparse(self.base_url).scheme not in ("http", "https"):
            self._bad("base_url", "an http(s) URL such as https://api.openai.com/v1")
        if not (self.model or self.model_mix or self.models_per_task_type):
            self._bad("model", "a model name (or set `model_mix` / `models_per_task_type`)")
        if not self.output_dir:
            self._bad("output_dir", "a directory path")
        self._check_mappings()
        self._check_amounts()
        self._check_choices()
        self._check_quality()
        if self.push_to_hub and not self.hub_dataset_id:
            self._bad("hub_dataset_id", "set (org/name) when push_to_hub is true")
        if not self.api_key_env or not self.api_key_env.replace("_", "").isalnum():
            self._bad("api_key_env", "the NAME of an environment variable (not the key itself)")
        if not os.environ.get(self.api_key_env) and not self.is_local_server:
            raise ConfigError(f"`api_key_env` must name a set environment variable; {self.api_key_env} is not set")

    def _bad(self, name: str, expected: str) -> typing.NoReturn:
        raise ConfigError(f"`{name}` must be {expected}, got {getattr(self, name)!r}")

    def _check_choices(self) -> None:
        """Literal fields (parse_config checks YAML values already; this covers GenerationConfig(...) in Python)."""
        for name, hint in typing.get_type_hints(type(self)).items():
            choices = typing.get_args(hint) if typing.get_origin(hint) is Literal else None
            if choices and getattr(self, name) not in choices:
                self._bad(name, f"one of {', '.join(choices)}")

    def _check_amounts(self) -> None:
        if not isinstance(self.num_examples, int) or self.num_examples < 1:
            self._bad("num_examples", "a positive integer")
        for name in (
            "max_concurrency",
            "max_retries",
            "tasks_per_brainstorm",
            "num_shards",
            "batch_max_requests",
            "batch_max_bytes",
            "max_batches_in_flight",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "max_retries" else 1):
                self._bad(name, "a positive integer")
        for name in ("requests_per_minute", "tokens_per_minute", "max_tokens", "brainstorm_max_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                self._bad(name, "a positive integer or null")
        if not 0 <= self.shard_index < self.num_shards:
            self._bad("shard_index", f"in [0, num_shards={self.num_shards})")
        if not 0 <= self.temperature <= 2:
            self._bad("temperature", "in [0, 2]")
        if not 0 < self.top_p <= 1:
            self._bad("top_p", "in (0, 1]")
        if not (self.examples_per_task > 0 and math.isfinite(self.examples_per_task)):
            self._bad("examples_per_task", "a positive number")
        if self.request_timeout <= 0:
            self._bad("request_timeout", "a positive number of seconds")

    def _check_mappings(self) -> None:
        if self.model_mix is not None and not (self.model_mix and all(map(_positive, self.model_mix.values()))):
            self._bad("model_mix", "a non-empty {model: positive weight} mapping")
        if self.models_per_task_type is not None and set(self.models_per_task_type) - set(TASK_TYPES):
            self._bad("models_per_task_type", f"keyed by task types {list(TASK_TYPES)}")
        if not self.task_proportions or set(self.task_proportions) - set(TASK_TYPES):
            self._bad("task_proportions", f"a mapping from task types {list(TASK_TYPES)} to weights")
        weights = self.task_proportions.values()
        if not all(isinstance(w, (int, float)) and w >= 0 for w in weights) or not any(weights):
            self._bad("task_proportions", "non-negative weights, not all zero")
        if self.language_weights is not None:
            if not all(map(_positive, self.language_weights.values())):
                self._bad("language_weights", "a {language: positive weight} mapping")
            if self.task_proportions.get("bitext") and len(self.language_weights) < 2:
                self._bad("language_weights", "at least two languages when bitext is generated")
        for model, price in (self.prices or {}).items():
            if not isinstance(price, dict) or set(price) - {"prompt", "completion"}:
                raise ConfigError(f"`prices.{model}` must be {{prompt: USD/1M, completion: USD/1M}}, got {price!r}")

    def _check_quality(self) -> None:
        for name in ("quality_min_task_words", "quality_min_field_words", "quality_language_min_chars"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                self._bad(name, "a non-negative integer")
        if self.near_dup_threshold is not None and not 0 < self.near_dup_threshold < 1:
            self._bad("near_dup_threshold", "in (0, 1) or null")
        if not isinstance(self.decontamination_ngram, int) or self.decontamination_ngram < 1:
            self._bad("decontamination_ngram", "a positive integer")
        tasks = self.decontamination_tasks
        if tasks is not None and not (tasks and all(isinstance(t, str) and t for t in tasks)):
            self._bad("decontamination_tasks", "a non-empty list of MTEB task names or task folders, or null")

    @property
    def is_local_server(self) -> bool:
        return urlparse(self.base_url).hostname in ("127.0.0.1", "localhost", "::1")

    def api_key(self) -> str:
        """The key, read from the environment only (local servers accept any placeholder)."""
        return os.environ.get(self.api_key_env) or "sk-no-key-required"

    def to_dict(self) -> dict:
        """Resolved settings for provenance files; holds the variable name, never the key."""
        return asdict(self)


def _positive(weight) -> bool:
    return isinstance(weight, (int, float)) and not isinstance(weight, bool) and weight > 0
