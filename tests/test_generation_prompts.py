"""Templates against the paper's text (Appendix C, Tables 8-13 and Figure 1, as transcribed in the method reference in
../shared, when present), placeholder sampling, plan determinism, parsing and validation (no server)."""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from data_generation.config import GenerationConfig
from data_generation.parsing import Deduper, Rejected, parse_brainstorm, parse_example
from data_generation.placeholders import PLACEHOLDER_VALUES, XLMR_LANGUAGES, PlaceholderSampler, paper_language_weights
from data_generation.plan import brainstorm_requests, generation_requests, split_counts
from data_generation.templates import (
    BRAINSTORM_TEMPLATES,
    GENERATE_TEMPLATES,
    SHORT_LONG_BRAINSTORM_FIGURE1,
    TASK_TYPES,
    TWO_STEP_TASK_TYPES,
    placeholders_of,
    render,
)

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "e5-method-reference.md"


def spec_blocks() -> dict[str, str]:
    """The method reference's ```text blocks of its prompt-template section, named by (template, order); skips when
    the reference is absent."""
    if not SPEC.is_file():
        pytest.skip("the method reference ../shared/spec/e5-method-reference.md is not present")
    text = SPEC.read_text()
    section2 = text[text.index("## 2. Prompt templates") : text.index("## 3. Placeholders")]
    blocks = [b.rstrip("\n") for b in re.findall(r"```text\n(.*?)```", section2, re.S)]
    names = """short-long/brainstorm short-long/brainstorm-figure1 short-long/generate long-short/brainstorm
        long-short/generate short-short/brainstorm short-short/generate long-long/brainstorm long-long/generate
        sts/generate bitext/generate""".split()
    assert len(blocks) == len(names), "the method reference's prompt-template section changed its layout"
    return dict(zip(names, blocks))


def fill(text: str, values: dict) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_rendered_prompts_equal_spec_text_with_placeholders_filled(task_type):
    blocks = spec_blocks()
    sampler = PlaceholderSampler()
    for seed in range(5):
        values = sampler.sample(task_type, random.Random(seed))
        values.setdefault("task", f"Find documents for query number {seed}.")
        expected = fill(blocks[f"{task_type}/generate"], values)
        assert render(GENERATE_TEMPLATES[task_type], values) == expected
        assert "{" not in expected.replace('{"', "")  # every placeholder was filled
    if task_type in BRAINSTORM_TEMPLATES:
        assert BRAINSTORM_TEMPLATES[task_type] == blocks[f"{task_type}/brainstorm"]
        assert placeholders_of(BRAINSTORM_TEMPLATES[task_type]) == []


def test_figure1_variant_is_the_spec_body_version():
    assert SHORT_LONG_BRAINSTORM_FIGURE1 == spec_blocks()["short-long/brainstorm-figure1"]


def test_placeholder_value_sets_are_the_papers():
    assert len(XLMR_LANGUAGES) == len(set(XLMR_LANGUAGES)) == 93
    assert PLACEHOLDER_VALUES["bitext"]["low_score"] == ["1.5", "2", "2.5"]
    assert PLACEHOLDER_VALUES["sts"]["low_score"] == ["2.5", "3", "3.5"]
    assert PLACEHOLDER_VALUES["short-long"]["num_words"] == ["50", "100", "200", "300", "400", "500"]
    weights = paper_language_weights()
    assert abs(sum(weights.values()) - 1) < 1e-9 and abs(weights["English"] - 0.431) < 1e-3
    for task_type in TASK_TYPES:
        needed = set(placeholders_of(GENERATE_TEMPLATES[task_type])) - {"task"}
        assert needed == set(PlaceholderSampler().sample(task_type, random.Random(0)))


def test_sampling_follows_weights_and_overrides():
    rng = random.Random(0)
    sampler = PlaceholderSampler(
        language_weights={"English": 3, "German": 1},
        value_overrides={"short-long": {"query_length": ["less than 5 words", "5-10 words", "at least 10 words"]}},
        weight_overrides={"sts": {"unit": [1, 0, 0]}},
        bitext_pivot_language="English",
    )
    langs = [sampler.sample("short-short", rng)["language"] for _ in range(2000)]
    assert 0.7 < langs.count("English") / len(langs) < 0.8
    assert {sampler.sample("sts", rng)["unit"] for _ in range(50)} == {"sentence"}
    assert "5-10 words" in {sampler.sample("short-long", rng)["query_length"] for _ in range(200)}
    for _ in range(50):
        pair = sampler.sample("bitext", rng)
        assert "English" in (pair["src_lang"], pair["tgt_lang"]) and pair["src_lang"] != pair["tgt_lang"]


def test_plan_is_deterministic_and_shards_are_disjoint(monkeypatch):
    monkeypatch.setenv("K", "x")
    kwargs = dict(base_url="http://127.0.0.1:1/v1", api_key_env="K", num_examples=200, output_dir="/nonexistent")
    kwargs["model_mix"] = {"a": 1, "b": 3}
    config = GenerationConfig(**kwargs)
    assert sum(split_counts(500_000, config.task_proportions).values()) == 500_000
    assert split_counts(500_000, config.task_proportions)["short-long"] == round(500_000 * 167 / 507)
    tasks = {t: [f"{t} task {i}" for i in range(7)] for t in TASK_TYPES}
    first, _ = generation_requests(config, tasks)
    again, _ = generation_requests(GenerationConfig(**kwargs), tasks)
    assert [r.key for r in first] == [r.key for r in again] and len(first) == 200
    assert len({r.key for r in first}) == 200
    models = [r.model for r in first]
    assert 0.6 < models.count("b") / len(models) < 0.9
    shards = [generation_requests(GenerationConfig(**kwargs, num_shards=3, shard_index=i), tasks)[0] for i in range(3)]
    keys = [{(r.task_type, r.index) for r in s} for s in shards]
    assert not (keys[0] & keys[1]) and sum(map(len, keys)) == 200
    assert {(r.task_type, r.index) for r in first} == keys[0] | keys[1] | keys[2]
    assert all(len(brainstorm_requests(GenerationConfig(**kwargs, num_shards=3, shard_index=i))) for i in range(3))


@pytest.mark.parametrize(
    ("content", "finish", "reason"),
    [
        ("", "stop", "empty_reply"),
        (None, "stop", "empty_reply"),
        ('{"user_query": "q", "positive_doc', "length", "truncated"),
        ('{"user_query": "q", "positive_doc', "stop", "invalid_json"),
        ("Sure, here it is", "stop", "not_json"),
        ('["a"]', "stop", "not_object"),
        ('{"user_query": "q", "positive_document": "p"}', "stop", "wrong_keys"),
        (
            '{"user_query": "q", "positive_document": "p", "hard_negative_document": "n", "x": "y"}',
            "stop",
            "wrong_keys",
        ),
        ('{"user_query": "q", "positive_document": 3, "hard_negative_document": "n"}', "stop", "wrong_type"),
        ('{"user_query": " ", "positive_document": "p", "hard_negative_document": "n"}', "stop", "empty_field"),
        (
            '{"user_query": "q", "positive_document": "Same  Text", "hard_negative_document": "same text"}',
            "stop",
            "positive_equals_negative",
        ),
    ],
)
def test_validation_rejects_with_reason(content, finish, reason):
    with pytest.raises(Rejected) as e:
        parse_example("short-long", content, finish)
    assert e.value.reason == reason


def test_validation_accepts_and_maps():
    reply = '```json\n{"input_text": "I hate this TV", "label": "High Severity", "misleading_label": "Low"}\n```'
    assert parse_example("long-short", reply) == ("I hate this TV", "High Severity", "Low")
    assert parse_example("long-long", '{"input": "a", "positive_document": "b"}') == ("a", "b", None)
    assert parse_brainstorm("['Task one.', 'task  ONE.', \"Task two.\", 3]") == ["Task one.", "Task two."]
    assert parse_brainstorm('[ "multi\nline task" ]') == ["multi\nline task"]
    with pytest.raises(Rejected):
        parse_brainstorm("Here are some tasks: 1. foo")
    dedup = Deduper("row")
    assert not dedup.is_duplicate("Q", "P", None) and dedup.is_duplicate(" q ", "p", None)


GENERATION_RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*/generate.yaml"))


@pytest.mark.parametrize("recipe", GENERATION_RECIPES, ids=lambda p: p.parent.name)
def test_every_generation_recipe_parses(recipe, monkeypatch):
    """Every key of the YAML reaches the config unchanged, and the plan it makes asks for what the recipe says."""
    import yaml

    from synthembed_common.config import parse_config

    monkeypatch.setenv("OPENAI_API_KEY", "sk-placeholder")
    (config,) = parse_config([GenerationConfig], ["--config", str(recipe)])
    for key, value in yaml.safe_load(recipe.read_text()).items():
        assert getattr(config, key) == value, key
    counts = split_counts(config.num_examples, config.task_proportions)
    assert sum(counts.values()) == config.num_examples and all(counts[t] > 0 for t in TASK_TYPES)
    brainstorms = Counter(r.task_type for r in brainstorm_requests(config))
    assert set(brainstorms) == set(TWO_STEP_TASK_TYPES)
    for task_type, calls in brainstorms.items():  # enough brainstormed tasks for examples_per_task uses each
        assert calls * config.tasks_per_brainstorm * config.examples_per_task >= counts[task_type]
    models = set(config.model_mix or {config.model: 1})
    assert all(
        r.model in models and r.params["temperature"] == config.temperature for r in brainstorm_requests(config)
    )
    if recipe.parent.name == "e5-mistral-7b-instruct":  # the paper's run (§4.1, Figure 2, Appendix C)
        assert config.num_examples == 500_000 and config.model_mix == {"gpt-3.5-turbo": 0.25, "gpt-4": 0.75}
        assert config.temperature == 1.0 and config.top_p == 1.0 and config.language_weights is None
        assert counts["short-long"] == round(500_000 * 167 / 507) and counts["short-short"] == round(
            500_000 * 13 / 507
        )
        assert brainstorms["short-long"] == math.ceil(counts["short-long"] / (20 * 3.3))
        assert PlaceholderSampler(config.language_weights).language_weights == paper_language_weights()
    else:  # a small run: plan every request against stand-in tasks and check each one
        tasks = {t: [f"{t} task"] for t in TWO_STEP_TASK_TYPES}
        requests, no_task = generation_requests(config, tasks)
        assert not no_task and Counter(r.task_type for r in requests) == counts
        languages = {r.meta.get("language") or r.meta["src_lang"] for r in requests}
        assert languages <= set(config.language_weights or paper_language_weights())
        assert all(r.params["max_tokens"] == config.max_tokens and r.model in models for r in requests)
