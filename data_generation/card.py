"""The dataset card (rendered from model_cards/dataset_card.md.j2 through huggingface_hub's DatasetCard) and the
distribution chart it embeds."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

TEMPLATE = Path(__file__).resolve().parents[1] / "model_cards" / "dataset_card.md.j2"
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
)


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


def render_card(stats: dict, config: dict, template: Path = TEMPLATE) -> DatasetCard:
    """`stats` = the run statistics (incl. `rows` from output.row_statistics); `config` = resolved settings."""
    card_data = DatasetCardData(
        language=["multilingual"] if len(stats["rows"]["by_language"]) > 1 else None,
        license="other",
        annotations_creators=["machine-generated"],
        language_creators=["machine-generated"],
        multilinguality="multilingual" if len(stats["rows"]["by_language"]) > 1 else "monolingual",
        size_categories=_size_category(stats["rows"]["num_rows"]),
        source_datasets=["original"],
        task_categories=["sentence-similarity", "text-retrieval"],
        pretty_name=config.get("hub_dataset_id") or "Synthetic embedding data (E5 recipe)",
        tags=["synthetic", "embeddings", "e5", "synthembed"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
    )
    safe_config = {k: config[k] for k in CARD_SETTINGS if k in config}
    return DatasetCard.from_template(
        card_data, template_path=str(template), stats=stats, config=safe_config, chart=CHART_FILE
    )
