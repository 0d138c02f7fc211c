"""`GenerationConfig`: every setting of a generation run, one documented field each, validated on construction.

The project's one config dialect (synthembed_common.config): `field(default=..., metadata={"help": ...})`, choices as
`Literal[...]`, and a `ConfigError` naming the field and what was expected for any bad value. A setting the run's `mode`
never reads is refused (data_generation.mode_settings); the relabeling checks and the deprecated `relabel:` mapping
live in data_generation.relabel_settings.
"""

from __future__ import annotations

import math
import os
import re
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Literal
from urllib.parse import urlparse

from data_generation import mode_settings, relabel_settings
from data_generation.templates import TASK_TYPES
from synthembed.decontamination import TASKS_EXPECTED, tasks_setting_ok
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
    base_url: list[str] | str = field(
        default=None,
        metadata={
            "help": "OpenAI-compatible endpoint (OpenAI, Azure OpenAI /openai/v1, vLLM, llama.cpp), or several "
            "(`--base_url URL1 URL2`, a YAML list): a fleet, each with `max_concurrency` (see `endpoints`)."
        },
    )
    endpoints: list[dict] | None = field(
        default=None,
        metadata={
            "help": "A fleet instead of `base_url`: [{base_url, model, max_concurrency, weight, api_key_env}], only "
            "base_url required; model: the one model it serves (default any); the rest default to the top-level "
            "settings, weight to 1. Requests go where weighted free capacity is largest; a failing one is backed off."
        },
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
        metadata={
            "help": "{task_type: weight}; normalised; default: the paper's Figure 2 counts.",
        },
    )
    language_weights: dict | None = field(
        default=None,
        metadata={"help": "{language: weight}; default: the paper's Figure 2 distribution."},
    )
    bitext_pivot_language: str | None = field(
        default=None,
        metadata={"help": "If set, every bitext pair has this language on one side."},
    )
    placeholder_values: dict | None = field(
        default=None,
        metadata={
            "help": "{task_type: {placeholder: [values]}} overrides of the paper's sets.",
        },
    )
    placeholder_weights: dict | None = field(
        default=None,
        metadata={"help": "{task_type: {placeholder: [weights]}}; default uniform."},
    )
    brainstorm_variant: Literal["appendix", "figure1"] = field(
        default="appendix",
        metadata={
            "help": "appendix (Table 8) | figure1 (Figure 1 short-long brainstorm prompt).",
        },
    )
    tasks_per_brainstorm: int = field(
        default=20,
        metadata={
            "help": "Tasks one brainstorm call is expected to return (the prompt asks ~20).",
        },
    )
    examples_per_task: float = field(
        default=3.3,
        metadata={"help": "Target examples per brainstormed task (paper: 500k/150k = 3.3)."},
    )
    dedup_on: Literal["row", "query"] = field(
        default="row",
        metadata={"help": "row (query+positive+negative) | query: what exact-duplicate removal compares."},
    )
    # ---- Quality gate (data_generation.quality), after parsing and exact dedup; each rule counted in stats + card
    quality_min_task_words: int = field(
        default=4,
        metadata={"help": "Words (2+ letters) a brainstormed task needs; 0: no check."},
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
    # ---- The modes (data_generation/modes/), corpus-grounded generation and translation
    # (data_generation.mode_settings says which settings each mode reads; the others refuse them)
    mode: Literal["synthetic", "corpus", "translate"] = field(
        default="synthetic",
        metadata={
            "help": "synthetic: the paper's brainstorm + generate | corpus: one query (and task) per chunk of "
            "`corpus_path`, the chunk as positive, a negative mined from the corpus | translate: `translate_path`'s "
            "labeled rows into `target_languages`, back-translation checked. num_examples caps the chunks / source rows."
        },
    )
    corpus_path: str | None = field(
        default=None,
        metadata={
            "help": "mode corpus: a folder of .txt/.md files (PDF text extracted to .txt), a jsonl/json/parquet/csv "
            "file, a save_to_disk folder, or a Hub dataset id.",
        },
    )
    corpus_text_column: str = field(default="text", metadata={"help": "Text column of a dataset `corpus_path`."})
    corpus_id_column: str | None = field(
        default=None,
        metadata={"help": "Document id column of a dataset corpus (default: the row number)."},
    )
    corpus_split: str = field(default="train", metadata={"help": "Split of a dataset `corpus_path`."})
    corpus_max_documents: int | None = field(
        default=None,
        metadata={"help": "Read at most this many documents (in order); null: all."},
    )
    corpus_language: str = field(default="English", metadata={"help": "Language of the documents and the queries."})
    chunk_tokens: int = field(
        default=256,
        metadata={"help": "Most tokens per chunk (the reference embedder's tokenizer counts)."},
    )
    chunk_overlap: int = field(default=0, metadata={"help": "Tokens that neighbouring chunks may share."})
    min_chunk_tokens: int = field(default=16, metadata={"help": "Shorter chunks are dropped (counted in the stats)."})
    negative_range_min: int = field(default=0, metadata={"help": "First eligible rank for the mined negative."})
    negative_range_max: int = field(default=30, metadata={"help": "Eligible ranks end here."})
    negative_positive_fraction: float | None = field(
        default=0.95,
        metadata={
            "help": "Keep a candidate only if it scores < this × the chunk's score (NV-Retriever); null: off.",
        },
    )
    negatives_from_other_documents: bool = field(
        default=True,
        metadata={"help": "Never take the negative from the positive chunk's own document."},
    )
    translate_path: str | None = field(
        default=None,
        metadata={
            "help": "mode translate: labeled pairs/triplets (save_to_disk folder, jsonl/parquet/csv, Hub id).",
        },
    )
    translate_split: str = field(default="train", metadata={"help": "Split of `translate_path`."})
    translate_columns: dict | None = field(
        default=None,
        metadata={
            "help": "{query|positive|negative|instruction: column} of `translate_path` (as dataset_mixture).",
        },
    )
    target_languages: list[str] | None = field(
        default=None,
        metadata={
            "help": "mode translate: every source row is translated into each of these.",
        },
    )
    source_language: str = field(default="English", metadata={"help": "mode translate: language of the source rows."})
    translate_instruction: bool = field(
        default=False,
        metadata={
            "help": "Translate the instruction too (the paper keeps task definitions English).",
        },
    )
    back_translation_threshold: float = field(
        default=0.8,
        metadata={
            "help": "Keep a translated row only if each field, translated back, has cosine >= this with the original.",
        },
    )
    # ---- Accounting
    prices: dict | None = field(
        default=None, metadata={"help": "{model: {prompt: USD per 1M tokens, completion: USD per 1M tokens}}."}
    )
    # ---- The reference embedder: corpus chunks and negatives, the back-translation check, relabeling
    reference_embedder: str = field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        metadata={
            "help": "SentenceTransformer folder or Hub id: counts chunk tokens and mines negatives (mode corpus), scores "
            "back-translations (mode translate; embed in `source_language`), retrieves the passages relabeling ranks."
        },
    )
    embedder_query_prompt: str | None = field(
        default=None, metadata={"help": 'Reference embedder prefix for queries, e.g. "query: " (mE5).'}
    )
    embedder_corpus_prompt: str | None = field(
        default=None, metadata={"help": 'Reference embedder prefix for passages and chunks, e.g. "passage: " (mE5).'}
    )
    embedder_batch_size: int = field(default=32, metadata={"help": "Texts per reference embedder batch."})
    # ---- LLM-checked positives (data_generation.relabel), after generation; modes synthetic and corpus
    relabel_enabled: bool = field(
        default=False,
        metadata={
            "help": "Gecko-style relabeling: each query ranked by the LLM against its `relabel_top_k` nearest passages "
            "of the run (reference embedder); the first becomes the positive, rank `relabel_negative_rank` the "
            "negative. Not in mode translate (its rows keep the labels of `translate_path`).",
        },
    )
    relabel_top_k: int = field(default=5, metadata={"help": "Candidate passages per ranking request (>= 2)."})
    relabel_negative_rank: int | None = field(
        default=None,
        metadata={"help": "Rank (2..top_k) of the new hard negative; null: the last."},
    )
    relabel_task_types: list[str] = field(
        default_factory=lambda: ["short-long", "short-short", "long-long"],
        metadata={"help": "Task types whose rows are relabeled."},
    )
    relabel_model: str | None = field(
        default=None,
        metadata={"help": "The ranking LLM (default: the generation model, a mix's first)."},
    )
    relabel_max_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Completion token cap of a ranking request (default 8 per id + 16).",
        },
    )
    relabel_assumed_passage_chars: int = field(
        default=1500,
        metadata={"help": "The dry run's guess at a candidate passage's length (characters)."},
    )
    relabel: dict | None = field(
        default=None,
        metadata={
            "help": "Deprecated (accepted for one release, with a warning): the old {enabled, embedder, top_k, ...} "
            "mapping; use relabel_enabled, reference_embedder, relabel_top_k, ... (data_generation.relabel_settings)."
        },
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
        for name in ("api_key_env", "hub_token_env"):
            _check_env_name(name, getattr(self, name))
        relabel_settings.apply_deprecated_mapping(self, {f.name: _default(f) for f in fields(self)})
        relabel_settings.check(self)
        self._check_endpoints()
        for i, spec in enumerate(self.resolved_endpoints()):
            if not os.environ.get(spec["api_key_env"]) and not _is_local(spec["base_url"]):
                name = f"endpoints[{i}].api_key_env" if self.endpoints else "api_key_env"
                raise ConfigError(f"`{name}` must name a set environment variable; {spec['api_key_env']} is not set")
        mode_settings.check(self, {f.name: _default(f) for f in fields(self)})

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
        # NaN compares False both ways, so `<= 0` let it (and inf) through to httpx as "never time out"
        for name in ("request_timeout", "batch_poll_interval"):
            if not (_positive(getattr(self, name)) and math.isfinite(getattr(self, name))):
                self._bad(name, "a positive, finite number of seconds")
        if not (isinstance(self.batch_discount, (int, float)) and 0 <= self.batch_discount <= 1):
            self._bad("batch_discount", "a price multiplier in [0, 1]")

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

    # ---- Endpoints (a fleet)
    def _check_endpoints(self) -> None:
        if isinstance(self.base_url, (list, tuple)) and len(self.base_url) == 1:
            self.base_url = self.base_url[0]  # `--base_url URL` parses as a one-item list
        if self.endpoints is not None:
            if self.base_url is not None:
                self._bad("base_url", "unset when `endpoints` is given (each entry has its own base_url)")
            if not self.endpoints or not all(isinstance(e, dict) for e in self.endpoints):
                self._bad("endpoints", "a non-empty list of {base_url, model, max_concurrency, weight, api_key_env}")
            for i, spec in enumerate(self.endpoints):
                unknown = set(spec) - set(ENDPOINT_KEYS)
                if unknown:
                    raise ConfigError(f"`endpoints[{i}]` has unknown key(s) {sorted(unknown)}; known: {ENDPOINT_KEYS}")
                _check_url(f"endpoints[{i}].base_url", spec.get("base_url"))
                if "api_key_env" in spec:
                    _check_env_name(f"endpoints[{i}].api_key_env", spec["api_key_env"])
                for key, check, expected in (
                    (
                        "max_concurrency",
                        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                        "a positive integer",
                    ),
                    ("weight", _positive, "a positive number"),
                    ("model", lambda v: isinstance(v, str) and v, "a model name"),
                ):
                    if key in spec and not check(spec[key]):
                        raise ConfigError(f"`endpoints[{i}].{key}` must be {expected}, got {spec[key]!r}")
        else:
            urls = self.base_url if isinstance(self.base_url, (list, tuple)) else [self.base_url]
            for i, url in enumerate(urls):
                _check_url("base_url" if len(urls) == 1 else f"base_url[{i}]", url)
        served = {spec["model"] for spec in self.resolved_endpoints()}
        if None not in served:
            unserved = sorted(self.planned_models() - served)
            if unserved:
                self._bad(
                    "endpoints",
                    f"an endpoint (or one without `model`) for every model asked for; none serves {unserved}",
                )
        if self.use_batch_api and len(self.resolved_endpoints()) > 1:
            self._bad("use_batch_api", "false with several endpoints (the Batch API is one endpoint's)")

    def resolved_endpoints(self) -> list[dict]:
        """Every endpoint with all of ENDPOINT_KEYS filled in (model None: serves any model)."""
        defaults = {
            "model": None,
            "max_concurrency": self.max_concurrency,
            "weight": 1,
            "api_key_env": self.api_key_env,
        }
        if self.endpoints is not None:
            return [{**defaults, **spec} for spec in self.endpoints]
        urls = self.base_url if isinstance(self.base_url, (list, tuple)) else [self.base_url]
        return [{**defaults, "base_url": url} for url in urls]

    def planned_models(self) -> set[str]:
        """Models the plan can ask for (what plan._model chooses from)."""
        models = set((self.models_per_task_type or {}).values())
        types_left = set(TASK_TYPES) - set(self.models_per_task_type or {})
        if types_left and any(self.task_proportions.get(t) for t in types_left):
            models |= set(self.model_mix) if self.model_mix else {self.model}
        return models

    def _check_quality(self) -> None:
        for name in ("quality_min_task_words", "quality_min_field_words", "quality_language_min_chars"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                self._bad(name, "a non-negative integer")
        if self.near_dup_threshold is not None and not 0 < self.near_dup_threshold < 1:
            self._bad("near_dup_threshold", "in (0, 1) or null")
        if not isinstance(self.decontamination_ngram, int) or self.decontamination_ngram < 1:
            self._bad("decontamination_ngram", "a positive integer")
        if not tasks_setting_ok(self.decontamination_tasks):
            self._bad("decontamination_tasks", TASKS_EXPECTED)

    @property
    def is_local_server(self) -> bool:
        return all(_is_local(spec["base_url"]) for spec in self.resolved_endpoints())

    def api_key(self, env: str | None = None) -> str:
        """The key in `env` (default api_key_env), read from the environment only (local servers take any)."""
        return os.environ.get(env or self.api_key_env) or "sk-no-key-required"

    def to_dict(self) -> dict:
        """Resolved settings for provenance files; holds the variable name, never the key."""
        return asdict(self)


ENDPOINT_KEYS = ("base_url", "model", "max_concurrency", "weight", "api_key_env")


def _check_url(name: str, url) -> None:
    if not isinstance(url, str) or urlparse(url).scheme not in ("http", "https") or not urlparse(url).hostname:
        raise ConfigError(f"`{name}` must be an http(s) URL such as https://api.openai.com/v1, got {url!r}")


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Prefixes of common API keys and tokens (OpenAI/Anthropic sk-, Hugging Face hf_, GitHub, Groq, xAI, Google, Slack).
_KEY_PREFIX = re.compile(r"(sk|hf|ghp|gho|ghs|ghu|github_pat|gsk|xai)[-_]|AIza|xox[abp]-")


def _check_env_name(name: str, value) -> None:
    """`value` must be the name of an environment variable. A key pasted in its place is refused without echoing it
    (the error line lands in logs and CI output), so it can never reach generation_config.yaml either."""
    looks_like_key = isinstance(value, str) and (
        _KEY_PREFIX.match(value)
        or (len(value) >= 32 and any(c.islower() for c in value) and any(c.isdigit() for c in value))
    )
    if not (isinstance(value, str) and _ENV_NAME.fullmatch(value)) or looks_like_key:
        raise ConfigError(
            f"`{name}` must be the NAME of an environment variable that holds the key (e.g. OPENAI_API_KEY), not "
            "the key itself; the value given is not shown, as it may be a key"
        )


def _is_local(url: str) -> bool:
    return urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")


def _default(f):
    """A field's default value (a fresh one from its factory)."""
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _positive(weight) -> bool:
    return isinstance(weight, (int, float)) and not isinstance(weight, bool) and weight > 0
