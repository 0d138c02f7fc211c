"""The dataset card (rendered from model_cards/dataset_card.md.j2 through huggingface_hub's DatasetCard) and the
distribution chart it embeds.

Its metadata states what the rows show: `language` = the ISO 639-1 codes of the rows' languages (the generator's
names, incl. bitext targets, mapped by synthembed_common.languages; a name without a code is left out and listed in
the text); `task_categories` = the Hub tasks of the task types present; `license: other` with the generator's terms
(`license_name` / `license_link`) where all rows come from models whose terms are known, else a generic name and the
text says whose terms govern the outputs. synthembed adds no license of its own to generated text.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from model_cards import template
from synthembed_common.languages import to_iso_code, to_iso_codes

CHART_FILE = "distribution.png"
# The settings the card shows: how the data was made, nothing about credentials or local paths.
CARD_SETTINGS = (
    "base_url",
    "model",
    "model_mix",
    "models_per_task_type",
    "temperature",
    "top_p",
    "max_tokens",
    "structured_output",
    "num_examples",
    "seed",
    "num_shards",
    "hub_dataset_id",
    "mode",
    "chunk_tokens",
    "target_languages",
    "back_translation_threshold",
)


# Hub task categories per task type (the mteb mapping: Retrieval -> text-retrieval, STS -> sentence-similarity,
# BitextMining -> translation; Wang et al., 2024, section 3.1 for the task types).
TASK_CATEGORIES = {
    "short-long": "text-retrieval",
    "long-short": "text-retrieval",
    "short-short": "text-retrieval",
    "long-long": "text-retrieval",
    "sts": "sentence-similarity",
    "bitext": "translation",
}
# Generator model families whose terms govern their outputs: (match in the model name, license_name, link, terms).
GENERATOR_TERMS = (
    ("gemma", "gemma-terms-of-use", "https://ai.google.dev/gemma/terms", "the Gemma Terms of Use"),
    ("gpt-", "openai-terms-of-use", "https://openai.com/policies/terms-of-use", "OpenAI's Terms of Use"),
)
UNKNOWN_TERMS = "generator-model-terms"


def generator_terms(model: str) -> dict | None:
    """{license_name, license_link, terms} of a generator model's family, or None when not known here."""
    for needle, name, link, terms in GENERATOR_TERMS:
        if needle in model.lower():
            return {"license_name": name, "license_link": link, "terms": terms}
    return None


def row_languages(rows_stats: dict) -> tuple[list[str], list[str]]:
    """(ISO 639-1 codes of the rows' languages, most rows first; the names without a code). Bitext targets come
    from the counted pairs ("src -> tgt")."""
    names = list(rows_stats.get("by_language", {}))
    names += [pair.split(" -> ", 1)[-1] for pair in rows_stats.get("bitext_pairs", {})]
    return to_iso_codes(names)


def license_metadata(rows_stats: dict, config: dict) -> tuple[dict, list[dict]]:
    """(the card's license fields, one {model, terms, link} per generator model for the text)."""
    models = list(rows_stats.get("by_generator_model") or {}) or [m for m in [config.get("model")] if m]
    models += [m for m in (config.get("model_mix") or {}) if m not in models]
    per_model = [{"model": m, **(generator_terms(m) or {})} for m in models]
    names = {m.get("license_name") for m in per_model}
    if len(names) == 1 and None not in names:
        known = per_model[0]
        return {"license_name": known["license_name"], "license_link": known["license_link"]}, per_model
    return {"license_name": UNKNOWN_TERMS}, per_model


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def write_chart(stats: dict, path: Path, top_languages: int = 15) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = stats["rows"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    tasks = rows["by_task_type"] or {"(none)": 0}
    left.bar(list(tasks), list(tasks.values()), color="tab:blue")
    left.set_title("Examples per task type")
    left.tick_params(axis="x", rotation=30)
    langs = list(rows["by_language"].items())
    shown = langs[:top_languages] + (
        [("others", sum(c for _, c in langs[top_languages:]))] if len(langs) > top_languages else []
    )
    shown = shown or [("(none)", 0)]
    right.barh([n for n, _ in shown][::-1], [c for _, c in shown][::-1], color="tab:orange")
    right.set_title("Examples per language")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render_card(stats: dict, config: dict) -> DatasetCard:
    """`stats` = the run statistics (incl. `rows` from output.row_statistics); `config` = resolved settings."""
    rows = stats["rows"]
    languages, unmapped = row_languages(rows)
    categories = sorted({TASK_CATEGORIES[t] for t in rows["by_task_type"] if t in TASK_CATEGORIES})
    multilinguality = ["multilingual" if len(languages) > 1 else "monolingual"] if languages else []
    if rows["by_task_type"].get("bitext"):
        multilinguality.append("translation")
    license_fields, generators = license_metadata(rows, config)
    card_data = DatasetCardData(
        language=languages or None,
        license="other",
        **license_fields,
        annotations_creators=["machine-generated"],
        language_creators=["machine-generated"],
        multilinguality=multilinguality or None,
        size_categories=_size_category(rows["num_rows"]),
        source_datasets=["original"],
        task_categories=categories or None,
        pretty_name=config.get("hub_dataset_id") or "Synthetic embedding data (E5 recipe)",
        tags=["synthetic", "embeddings", "e5", "synthembed"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
    )
    safe_config = {k: config[k] for k in CARD_SETTINGS if k in config}
    return DatasetCard.from_template(
        card_data,
        template_str=template("dataset_card.md.j2"),
        stats=stats,
        config=safe_config,
        chart=CHART_FILE,
        languages=languages,
        codes={name: to_iso_code(name) for name in rows["by_language"]},
        unmapped_languages=unmapped,
        generators=generators,
    )
