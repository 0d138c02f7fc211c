"""The work plan: which requests a run makes, each a pure function of the config, the seed and (for generation) the
brainstormed tasks, so an interrupted run re-plans exactly the same requests and finds the completed ones in its store.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from pydantic import BaseModel

from data_generation.config import GenerationConfig
from data_generation.placeholders import PlaceholderSampler
from data_generation.schemas import brainstorm_model, json_schema, reply_model, resolve_variant
from data_generation.store import request_key
from data_generation.templates import (
    GENERATE_TEMPLATES,
    TASK_TYPES,
    TWO_STEP_TASK_TYPES,
    brainstorm_template,
    render,
)


@dataclass
class Request:
    phase: str  # "brainstorm" | "generate"
    task_type: str
    index: int  # position in this task type's global plan (before sharding)
    model: str
    messages: list[dict]
    params: dict
    meta: dict = field(default_factory=dict)  # placeholders, task, languages: provenance for the row
    key: str = ""

    def __post_init__(self):
        self.key = request_key(self.messages, self.model, self.params, f"{self.phase}/{self.task_type}/{self.index}")

    @property
    def language(self) -> str | None:
        return self.meta.get("language") or self.meta.get("src_lang")

    def record(self, mode: str, **result) -> dict:
        """The store line of this request's reply: one format for online ("online") and Batch API ("batch") replies."""
        return {
            "key": self.key,
            "phase": self.phase,
            "task_type": self.task_type,
            "index": self.index,
            "request": {"model": self.model, "messages": self.messages, "params": self.params},
            "mode": mode,
            **result,
        }


def split_counts(total: int, proportions: dict[str, float]) -> dict[str, int]:
    """Largest-remainder split of `total` over task types (deterministic; sums exactly to total)."""
    weights = {t: float(proportions.get(t, 0)) for t in TASK_TYPES}
    norm = sum(weights.values())
    exact = {t: total * w / norm for t, w in weights.items()}
    counts = {t: math.floor(x) for t, x in exact.items()}
    for t in sorted(TASK_TYPES, key=lambda t: (counts[t] - exact[t], TASK_TYPES.index(t)))[
        : total - sum(counts.values())
    ]:
        counts[t] += 1
    return counts


def seeded_rng(config: GenerationConfig, *parts) -> random.Random:
    """The random source of one request: a pure function of the run's seed and the request's identity."""
    return random.Random("/".join(str(p) for p in (config.seed, *parts)))


def choose_model(config: GenerationConfig, task_type: str, rng: random.Random) -> str:
    if config.models_per_task_type and task_type in config.models_per_task_type:
        return config.models_per_task_type[task_type]
    if config.model_mix:
        models = sorted(config.model_mix)
        return rng.choices(models, weights=[config.model_mix[m] for m in models], k=1)[0]
    return config.model


def response_format(config: GenerationConfig, reply: type[BaseModel], name: str) -> dict | None:
    """The `response_format` of a request whose reply is `reply`, in the schema variant the endpoints take."""
    variant = resolve_variant(config.schema_variant, [e["base_url"] for e in config.resolved_endpoints()])
    schema = json_schema(reply, variant)
    if config.structured_output == "json_object":
        return {"type": "json_object", "schema": schema}
    if config.structured_output == "json_schema" and schema.get("type") == "object":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    return None


def build_request(
    config: GenerationConfig,
    phase: str,
    task_type: str,
    index: int,
    prompt: str,
    rng: random.Random,
    reply: tuple[type[BaseModel], str],
    max_tokens: int | None,
    meta: dict | None = None,
    model: str | None = None,
    sampling: dict | None = None,
) -> Request:
    """The one way a request is made, in every mode and phase: the model (`model`, else `models_per_task_type` /
    `model_mix` / `model`), the sampling (`sampling`, else temperature and top_p), the seed, the configured system
    prompt, and the `response_format` of `reply` = (pydantic model, schema name) in the endpoints' schema variant."""
    model = model or choose_model(config, task_type, rng)
    params = dict(sampling) if sampling is not None else {"temperature": config.temperature, "top_p": config.top_p}
    if max_tokens:
        params["max_tokens"] = max_tokens
    if config.send_seed:
        params["seed"] = rng.randrange(2**31)
    fmt = response_format(config, *reply)
    if fmt is not None:
        params["response_format"] = fmt
    system = [{"role": "system", "content": config.system_prompt}] if config.system_prompt else []
    messages = system + [{"role": "user", "content": prompt}]
    return Request(phase, task_type, index, model, messages, params, meta or {})


def in_shard(config: GenerationConfig, index: int) -> bool:
    return index % config.num_shards == config.shard_index


def brainstorm_requests(config: GenerationConfig) -> list[Request]:
    """Enough brainstorm calls per two-step task type for `examples_per_task` examples per task (at least one).

    Stage "brainstorm" plans the calls of the whole run (one shared task list); stage "all" only this shard's.
    """
    shared = config.stage == "brainstorm"
    counts = split_counts(config.num_examples, config.task_proportions)
    requests = []
    for task_type in TWO_STEP_TASK_TYPES:
        if not counts[task_type]:
            continue
        calls = math.ceil(counts[task_type] / (config.tasks_per_brainstorm * config.examples_per_task))
        if not shared:
            calls = max(calls, config.num_shards)  # every shard brainstorms its own tasks
        prompt = brainstorm_template(task_type, config.brainstorm_variant)
        reply = (brainstorm_model(max(2 * config.tasks_per_brainstorm, 1), config.schema_max_length), "task_list")
        for j in range(calls):
            if not shared and not in_shard(config, j):
                continue
            rng = seeded_rng(config, "brainstorm", task_type, j)
            max_tokens = config.brainstorm_max_tokens
            requests.append(build_request(config, "brainstorm", task_type, j, prompt, rng, reply, max_tokens))
    return requests


def generation_requests(config: GenerationConfig, tasks: dict[str, list[str]]) -> tuple[list[Request], dict]:
    """One request per example of this shard; `tasks` are this shard's brainstormed tasks per task type, or (stage
    "generate") the whole run's shared list, which is shuffled once and dealt by global example index, so the shards
    share out every task about `examples_per_task` times between them.

    Returns the requests and {task_type: number of planned examples that had no task to use}.
    """
    counts = split_counts(config.num_examples, config.task_proportions)
    sampler = PlaceholderSampler(
        config.language_weights, config.placeholder_values, config.placeholder_weights, config.bitext_pivot_language
    )
    requests, no_task = [], {}
    for task_type in TASK_TYPES:
        two_step = task_type in TWO_STEP_TASK_TYPES
        pool = list(tasks.get(task_type, [])) if two_step else []
        shared = config.stage == "generate"
        if two_step:  # spread each task's ~3 uses
            seeded_rng(config, "tasks", task_type, "shared" if shared else config.shard_index).shuffle(pool)
        position = 0
        for i in range(counts[task_type]):
            if not in_shard(config, i):
                continue
            rng = seeded_rng(config, "generate", task_type, i)
            values = sampler.sample(task_type, rng)
            if two_step:
                if not pool:
                    no_task[task_type] = no_task.get(task_type, 0) + 1
                    continue
                values["task"] = pool[(i if shared else position) % len(pool)]
                position += 1
            prompt = render(GENERATE_TEMPLATES[task_type], values)
            reply = (reply_model(task_type, config.schema_max_length), task_type.replace("-", "_") + "_example")
            request = build_request(config, "generate", task_type, i, prompt, rng, reply, config.max_tokens, values)
            requests.append(request)
    return requests, no_task
