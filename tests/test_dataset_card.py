"""The dataset card's metadata states what the rows show: ISO 639-1 codes of their languages, the Hub tasks of their
task types, and the generator's terms as the license (data_generation.card)."""

from __future__ import annotations

from data_generation.card import GENERATOR_TERMS, UNKNOWN_TERMS, render_card
from data_generation.placeholders import XLMR_LANGUAGES
from synthembed_common.languages import ISO_639_1, to_iso_codes


def _stats(by_language, by_task_type, models, bitext_pairs=None):
    usage = {"requests": 1, "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": 0.0}
    rows = {
        "num_rows": sum(by_language.values()),
        "by_task_type": by_task_type,
        "by_language": by_language,
        "by_generator_model": models,
        "bitext_pairs": bitext_pairs or {},
        "unique_instructions": 3,
        "rows_with_negative": 2,
    }
    return {
        "rows": rows,
        "prompt_version": "test/1",
        "requested_examples": dict(by_task_type),
        "brainstorm": {"calls": 1, "unique_tasks": {}, "rejections": {}},
        "usage": {"by_model": {m: usage for m in models}, "total": usage, "by_task_type": {}},
        "rejections": {},
    }


def test_every_generator_language_has_an_iso_code():
    codes, unknown = to_iso_codes(XLMR_LANGUAGES)
    assert unknown == [] and len(codes) == len(XLMR_LANGUAGES) == 93  # one code each, none shared
    assert all(len(code) == 2 and code.islower() for code in ISO_639_1.values())
    assert to_iso_codes(["English", "english", "en", "Klingon", None]) == (["en"], ["Klingon"])


def test_multilingual_card_languages_tasks_and_gemma_terms():
    stats = _stats(
        {"English": 6, "Chinese": 2, "Klingon": 1},
        {"short-long": 4, "sts": 3, "bitext": 2},
        {"gemma-3-270m": 9},
        bitext_pairs={"English -> Swahili": 1, "Chinese -> English": 1},
    )
    card = render_card(stats, {"model": "gemma-3-270m", "seed": 1})
    data = card.data
    assert data.language == ["en", "zh", "sw"]  # most rows first; the bitext target too; Klingon left out
    assert "Klingon" in card.text and "left out of the `language` metadata" in card.text
    assert "| English | en | 6 |" in card.text and "| Klingon | – | 1 |" in card.text
    assert data.task_categories == ["sentence-similarity", "text-retrieval", "translation"]
    assert data.multilinguality == ["multilingual", "translation"]
    gemma = GENERATOR_TERMS[0]
    assert (data.license, data.license_name, data.license_link) == ("other", gemma[1], gemma[2])
    assert "`gemma-3-270m`: the Gemma Terms of Use" in card.text and "no license of its own" in card.text


def test_unknown_generator_terms_are_not_invented():
    stats = _stats({"English": 3}, {"short-short": 3}, {"scripted-model": 2, "gpt-4": 1})
    card = render_card(stats, {"model_mix": {"scripted-model": 1, "gpt-4": 3}})
    data = card.data
    assert (data.language, data.multilinguality, data.task_categories) == (["en"], ["monolingual"], ["text-retrieval"])
    assert (data.license, data.license_name, data.get("license_link")) == ("other", UNKNOWN_TERMS, None)
    assert "`scripted-model`: terms not known to synthembed" in card.text
    assert "`gpt-4`: OpenAI's Terms of Use" in card.text and "look up with its provider" in card.text
