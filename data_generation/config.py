"""`GenerationConfig`: every setting of a generation run, one documented field each, validated on construction."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

from data_generation.templates import TASK_TYPES

# Figure 2 (left pie) task-type counts in thousands (spec §4); normalised into proportions.
PAPER_TASK_PROPORTIONS = {
    "short-long": 167,
    "long-short": 122,
    "sts": 99,
    "bitext": 89,
    "long-long": 17,
    "short-short": 13,
}
STRUCTURED_OUTPUT = ("none", "json_schema", "json_object")


def _help(text: str, default=None, factory=None):
    if factory is not None:
        return field(default_factory=factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass
class GenerationConfig:
    # ---- LLM access
    base_url: str = _help("OpenAI-compatible endpoint (OpenAI, Azure OpenAI /openai/v1, vLLM, llama.cpp).", None)
    model: str | None = _help("One model for every request (use `model_mix` or `models_per_task_type` for more).")
    model_mix: dict | None = _help("Weighted model mix {model: weight}, sampled per request (paper: 25/75).")
    models_per_task_type: dict | None = _help("{task_type: model} overrides; wins over `model`/`model_mix`.")
    api_key_env: str = _help(
        "Name of the environment variable that holds the API key (never the key).", "OPENAI_API_KEY"
    )
    temperature: float = _help("Sampling temperature (paper: 1.0).", 1.0)
    top_p: float = _help("Nucleus sampling top-p (paper: 1.0).", 1.0)
    max_tokens: int | None = _help("Completion token cap for generation requests (None: server default).")
    brainstorm_max_tokens: int | None = _help("Completion token cap for brainstorm requests.")
    send_seed: bool = _help(
        "Send a per-request `seed` derived from `seed` (reproducible where servers honour it).", True
    )
    system_prompt: str | None = _help("Optional system message (the paper gives none).")
    structured_output: str = _help(
        "none | json_schema (OpenAI/vLLM `response_format` json_schema) | json_object (llama.cpp: json_object + schema).",
        "none",
    )
    schema_max_length: int | None = _help("maxLength on every string in the output schema (keeps small models short).")
    max_concurrency: int = _help("Requests in flight at once.", 8)
    requests_per_minute: int | None = _help("Client-side request rate limit.")
    tokens_per_minute: int | None = _help("Client-side token rate limit (prompt estimate + max_tokens).")
    max_retries: int = _help(
        "Retries per request on 429/5xx/timeouts (openai client backoff, honours Retry-After).", 6
    )
    request_timeout: float = _help("Seconds before one HTTP attempt times out.", 600.0)
    # ---- Batch API
    use_batch_api: bool = _help("Use the OpenAI Batch API (half price, up to 24 h) instead of online requests.", False)
    batch_poll_interval: float = _help("Seconds between batch status polls.", 60.0)
    batch_max_requests: int = _help("Requests per batch input file (OpenAI limit: 50,000).", 50000)
    batch_discount: float = _help("Price multiplier applied to Batch API usage.", 0.5)
    # ---- What to generate
    num_examples: int = _help("Total examples to request, split over task types by `task_proportions`.", 1000)
    task_proportions: dict = _help(
        "{task_type: weight}; normalised; default: the paper's Figure 2 counts.",
        factory=lambda: dict(PAPER_TASK_PROPORTIONS),
    )
    language_weights: dict | None = _help("{language: weight}; default: the paper's Figure 2 distribution.")
    bitext_pivot_language: str | None = _help("If set, every bitext pair has this language on one side.")
    placeholder_values: dict | None = _help("{task_type: {placeholder: [values]}} overrides of the paper's sets.")
    placeholder_weights: dict | None = _help("{task_type: {placeholder: [weights]}}; default uniform.")
    brainstorm_variant: str = _help(
        "appendix (Table 8) | figure1 (Figure 1 short-long brainstorm prompt).", "appendix"
    )
    tasks_per_brainstorm: int = _help("Tasks one brainstorm call is expected to return (the prompt asks ~20).", 20)
    examples_per_task: float = _help("Target examples per brainstormed task (paper: 500k/150k = 3.3).", 3.3)
    dedup_on: str = _help("row (query+positive+negative) | query: what exact-duplicate removal compares.", "row")
    seed: int = _help("Seed of every sampling decision; the same seed and responses give the same dataset.", 42)
    # ---- Accounting
    prices: dict | None = _help("{model: {prompt: USD per 1M tokens, completion: USD per 1M tokens}}.")
    # ---- Output
    output_dir: str = _help("Run directory: store, dataset, parquet, stats, card, chart.", None)
    num_shards: int = _help("Split the work into this many disjoint shards.", 1)
    shard_index: int = _help("Which shard this process runs (0-based).", 0)
    push_to_hub: bool = _help("Upload parquet + dataset card + chart to the Hub (HF_ENDPOINT honoured).", False)
    hub_dataset_id: str | None = _help("Hub dataset repo id, e.g. `org/e5-synthetic`.")
    hub_private: bool = _help("Create the Hub repo private.", True)
    hub_token_env: str = _help("Environment variable holding the Hub token.", "HF_TOKEN")
    dry_run: bool = _help(
        "Print the request plan and a cost ceiling (at max_tokens), send nothing, write nothing.", False
    )
    log_level: str = _help("Logging level.", "INFO")
    progress: bool = _help("Show progress bars.", True)

    def __post_init__(self):
        def bad(name, expected):
            raise ValueError(f"`{name}` must be {expected}, got {getattr(self, name)!r}")

        if not self.base_url or urlparse(self.base_url).scheme not in ("http", "https"):
            bad("base_url", "an http(s) URL such as https://api.openai.com/v1")
        if not (self.model or self.model_mix or self.models_per_task_type):
            bad("model", "a model name (or set `model_mix` / `models_per_task_type`)")
        if self.model_mix is not None and (
            not self.model_mix or not all(_positive(w) for w in self.model_mix.values())
        ):
            bad("model_mix", "a non-empty {model: positive weight} mapping")
        if self.models_per_task_type is not None:
            unknown = set(self.models_per_task_type) - set(TASK_TYPES)
            if unknown:
                bad("models_per_task_type", f"keyed by task types {list(TASK_TYPES)}")
        if not self.output_dir:
            bad("output_dir", "a directory path")
        if not isinstance(self.num_examples, int) or self.num_examples < 1:
            bad("num_examples", "a positive integer")
        if not self.task_proportions or set(self.task_proportions) - set(TASK_TYPES):
            bad("task_proportions", f"a mapping from task types {list(TASK_TYPES)} to weights")
        if not all(isinstance(w, (int, float)) and w >= 0 for w in self.task_proportions.values()) or not any(
            self.task_proportions.values()
        ):
            bad("task_proportions", "non-negative weights, not all zero")
        if self.language_weights is not None and not all(_positive(w) for w in self.language_weights.values()):
            bad("language_weights", "a {language: positive weight} mapping")
        if (
            self.language_weights is not None
            and self.task_proportions.get("bitext")
            and len(self.language_weights) < 2
        ):
            bad("language_weights", "at least two languages when bitext is generated")
        for name in ("max_concurrency", "max_retries", "tasks_per_brainstorm", "num_shards", "batch_max_requests"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "max_retries" else 1):
                bad(name, "a positive integer")
        for name in ("requests_per_minute", "tokens_per_minute", "max_tokens", "brainstorm_max_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                bad(name, "a positive integer or null")
        if not 0 <= self.shard_index < self.num_shards:
            bad("shard_index", f"in [0, num_shards={self.num_shards})")
        if not (0 <= self.temperature <= 2):
            bad("temperature", "in [0, 2]")
        if not (0 < self.top_p <= 1):
            bad("top_p", "in (0, 1]")
        if not (self.examples_per_task > 0 and math.isfinite(self.examples_per_task)):
            bad("examples_per_task", "a positive number")
        if self.request_timeout <= 0:
            bad("request_timeout", "a positive number of seconds")
        if self.structured_output not in STRUCTURED_OUTPUT:
            bad("structured_output", " | ".join(STRUCTURED_OUTPUT))
        if self.dedup_on not in ("row", "query"):
            bad("dedup_on", "row | query")
        if self.brainstorm_variant not in ("appendix", "figure1"):
            bad("brainstorm_variant", "appendix | figure1")
        if self.push_to_hub and not self.hub_dataset_id:
            bad("hub_dataset_id", "set (org/name) when push_to_hub is true")
        if self.prices is not None:
            for model, price in self.prices.items():
                if not isinstance(price, dict) or set(price) - {"prompt", "completion"}:
                    raise ValueError(f"`prices.{model}` must be {{prompt: USD/1M, completion: USD/1M}}, got {price!r}")
        if not self.api_key_env or not self.api_key_env.replace("_", "").isalnum():
            bad("api_key_env", "the NAME of an environment variable (not the key itself)")
        if not os.environ.get(self.api_key_env) and not self.is_local_server:
            raise ValueError(f"`api_key_env`: environment variable {self.api_key_env} is not set")

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
