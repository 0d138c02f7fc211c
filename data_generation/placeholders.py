"""Placeholder value sets, the language list and its weights, and seeded per-row sampling
(Wang et al., 2024, §3.1 and Appendix C).

Every value set is the paper's full set (Tables 8-13 captions). The paper says values are "randomly sampled at
runtime" and gives no weights, so the default is uniform; weights and value sets can be overridden from the recipe.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

# {placeholder: values} per generation template; `language`, `src_lang`, `tgt_lang` and `task` are filled elsewhere.
PLACEHOLDER_VALUES: dict[str, dict[str, list[str]]] = {
    "short-long": {
        "query_type": ["extremely long-tail", "long-tail", "common"],
        # Table 8 says "5 to 15 words"; §3.1 says "5-10 words": the appendix wins. Override via `placeholder_values`.
        "query_length": ["less than 5 words", "5 to 15 words", "at least 10 words"],
        "clarity": ["clear", "understandable with some effort", "ambiguous"],
        "num_words": ["50", "100", "200", "300", "400", "500"],
        "difficulty": ["high school", "college", "PhD"],
    },
    "long-short": {
        "num_words": ["less than 10", "at least 10", "at least 50", "at least 100", "at least 200"],
        "clarity": ["clear", "understandable with some effort", "ambiguous"],
        "difficulty": ["high school", "college", "PhD"],
    },
    "short-short": {},
    "long-long": {},
    "sts": {
        "unit": ["sentence", "phrase", "passage"],
        "high_score": ["4", "4.5", "5"],
        "low_score": ["2.5", "3", "3.5"],
        "difficulty": ["elementary school", "high school", "college"],
    },
    "bitext": {
        "unit": ["sentence", "phrase", "passage"],
        "high_score": ["4", "4.5", "5"],
        "low_score": ["1.5", "2", "2.5"],  # differs from STS (Table 13)
        "difficulty": ["elementary school", "high school", "college"],
    },
}

# The XLM-R list (fairseq examples/xlmr; §3.1) collapsed to the paper's 93 language names (§4.1): our reading drops
# the five "Romanize" variants, "Burmese zawgyi font" and "Chinese (Traditional)"; the paper does not list them.
_XLMR_NAMES = """\
Afrikaans, Albanian, Amharic, Arabic, Armenian, Assamese, Azerbaijani, Basque, Belarusian,
Bengali, Bosnian, Breton, Bulgarian, Burmese, Catalan, Chinese, Croatian, Czech, Danish,
Dutch, English, Esperanto, Estonian, Filipino, Finnish, French, Galician, Georgian, German,
Greek, Gujarati, Hausa, Hebrew, Hindi, Hungarian, Icelandic, Indonesian, Irish, Italian,
Japanese, Javanese, Kannada, Kazakh, Khmer, Korean, Kurdish (Kurmanji), Kyrgyz, Lao, Latin,
Latvian, Lithuanian, Macedonian, Malagasy, Malay, Malayalam, Marathi, Mongolian, Nepali,
Norwegian, Oriya, Oromo, Pashto, Persian, Polish, Portuguese, Punjabi, Romanian, Russian,
Sanskrit, Scottish Gaelic, Serbian, Sindhi, Sinhala, Slovak, Slovenian, Somali, Spanish,
Sundanese, Swahili, Swedish, Tamil, Telugu, Thai, Turkish, Ukrainian, Urdu, Uyghur, Uzbek,
Vietnamese, Welsh, Western Frisian, Xhosa, Yiddish"""
XLMR_LANGUAGES = [name.strip() for name in _XLMR_NAMES.split(",")]

# Figure 2 (right pie), in percent; "Others" (19.8) is spread evenly over the remaining 79 languages.
PAPER_LANGUAGE_PERCENT = {
    "English": 43.1,
    "Polish": 3.0,
    "Japanese": 2.9,
    "Italian": 2.9,
    "Russian": 2.9,
    "Indonesian": 2.9,
    "German": 2.9,
    "Persian": 2.9,
    "Spanish": 2.8,
    "Chinese": 2.8,
    "French": 2.8,
    "Portuguese": 2.8,
    "Dutch": 2.8,
    "Arabic": 2.7,
}
PAPER_OTHERS_PERCENT = 19.8


def paper_language_weights() -> dict[str, float]:
    """{language: probability} reproducing the paper's realised distribution (Figure 2, right)."""
    others = [lang for lang in XLMR_LANGUAGES if lang not in PAPER_LANGUAGE_PERCENT]
    weights = {lang: PAPER_LANGUAGE_PERCENT.get(lang, PAPER_OTHERS_PERCENT / len(others)) for lang in XLMR_LANGUAGES}
    total = sum(weights.values())
    return {lang: w / total for lang, w in weights.items()}


def weighted_choice(rng: random.Random, values: Sequence[str], weights: Sequence[float] | None = None) -> str:
    return rng.choices(list(values), weights=list(weights) if weights else None, k=1)[0]


class PlaceholderSampler:
    """Samples one row's placeholder values; a pure function of the per-row `random.Random` it is given."""

    def __init__(
        self,
        language_weights: Mapping[str, float] | None = None,
        value_overrides: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        weight_overrides: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
        bitext_pivot_language: str | None = None,
    ):
        self.language_weights = dict(language_weights or paper_language_weights())
        self.values = {t: {k: list(v) for k, v in d.items()} for t, d in PLACEHOLDER_VALUES.items()}
        for task_type, overrides in (value_overrides or {}).items():
            self.values[task_type].update({k: [str(x) for x in v] for k, v in overrides.items()})
        self.weights = {t: {k: list(w) for k, w in d.items()} for t, d in (weight_overrides or {}).items()}
        self.bitext_pivot_language = bitext_pivot_language

    def language(self, rng: random.Random, exclude: str | None = None) -> str:
        langs = [lang for lang in self.language_weights if lang != exclude]
        return weighted_choice(rng, langs, [self.language_weights[lang] for lang in langs])

    def sample(self, task_type: str, rng: random.Random) -> dict[str, str]:
        values = {
            name: weighted_choice(rng, options, self.weights.get(task_type, {}).get(name))
            for name, options in self.values[task_type].items()
        }
        if task_type == "bitext":
            # The paper does not say how pairs were drawn (Table 13): both sides from the language weights, distinct;
            # with a pivot, one side is the pivot language and the direction is random.
            if self.bitext_pivot_language:
                other = self.language(rng, exclude=self.bitext_pivot_language)
                pair = [self.bitext_pivot_language, other]
                rng.shuffle(pair)
                values["src_lang"], values["tgt_lang"] = pair
            else:
                values["src_lang"] = self.language(rng)
                values["tgt_lang"] = self.language(rng, exclude=values["src_lang"])
        else:
            values["language"] = self.language(rng)
        return values
