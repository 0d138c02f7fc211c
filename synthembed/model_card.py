"""The model card (README.md) of a trained model: Hub metadata incl. model-index, usage, training, MTEB results, chart.

The trainer calls `render_model_card(model_dir)` at save time (no results yet); the evaluation calls it again with
`results` (the summary.json dict). Both read what they say about the model from the folder's settings
(synthembed.model_folder), which the trainer wrote: one source.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from synthembed.evaluation.summary import PAPER_CATEGORIES, summary_markdown
from synthembed.model_folder import FolderSettings, read_settings

logger = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "model_cards" / "model_card.md.j2"
CHART_NAME = "mteb_categories.png"
DEFAULT_EXAMPLE_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _is_repo_id(name: str | None) -> bool:
    return bool(name) and bool(_REPO_ID.match(name)) and not Path(name).exists()


def eval_results(results: dict, model_name: str) -> list[EvalResult]:
    """One EvalResult per evaluated task, in the shape of MTEB's own model-index entries (task type = mteb type)."""
    out = []
    for name, value in results.get("tasks", {}).items():
        d = results.get("details", {}).get(name, {})
        source = d.get("dataset") or f"local/{name}"
        pretty = f"MTEB {d.get('mteb_task') or name}" + (
            f" ({d['subset']})" if d.get("subset") not in (None, "default") else ""
        )
        out.append(
            EvalResult(
                task_type=d.get("type", "Other"),
                dataset_type=source,
                dataset_name=pretty if d.get("comparable", True) else f"{name} (local)",
                dataset_config=d.get("subset"),
                dataset_split=d.get("split"),
                dataset_revision=d.get("revision"),
                metric_type=d.get("main_score", "main_score"),
                metric_value=value,
            )
        )
    return out


def plot_categories(results: dict, path: Path) -> Path | None:
    """A bar chart of the category means next to the paper's e5-mistral figures."""
    if not results.get("categories"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["categories"])
    ours = [results["categories"][n] for n in names]
    paper = [PAPER_CATEGORIES.get(n, 0.0) for n in names]
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2.5, 3.6), dpi=100)
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], ours, width=0.4, label="this model")
    ax.bar([i + 0.2 for i in x], paper, width=0.4, label="e5-mistral-7b-instruct (paper)", color="#bbbbbb")
    for i, v in enumerate(ours):
        ax.text(i - 0.2, v + 1, f"{v:.1f}", ha="center", fontsize=8)
    ax.set_xticks(list(x), names, fontsize=8)
    ax.set_ylabel("mean main score x100")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"MTEB by category (average {results.get('average')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def render_model_card(
    model_dir,
    *,
    results: dict | None = None,
    model_name: str | None = None,
    base_model: str | None = None,
    pooling: str | None = None,
) -> Path:
    """Write `model_dir/README.md` (and the category chart when `results` is given); return the card's path.

    Everything about the model comes from its folder settings (synthembed.model_folder), written by the trainer;
    `base_model` and `pooling` are for folders without them (a model trained elsewhere). `results` is the evaluation
    summary ({"tasks", "categories", "average", "details"}, see evaluation.summary).
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    card_path = model_dir / "README.md"
    previous = ModelCard.load(card_path).data.to_dict() if card_path.is_file() else {}
    settings = read_settings(model_dir) or FolderSettings(query_template=None, base_model=base_model)
    base_model = settings.base_model or base_model
    model_name = model_name or previous.get("model_name") or model_dir.name
    template = settings.template

    chart = plot_categories(results, model_dir / CHART_NAME) if results else None
    card_data = ModelCardData(
        model_name=model_name,
        base_model=base_model if _is_repo_id(base_model) else None,
        datasets=[d for d in settings.datasets if _is_repo_id(d)] or None,
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        language="en",
        license="apache-2.0",
        tags=["sentence-transformers", "feature-extraction", "sentence-similarity", "mteb", "synthembed"],
        eval_results=eval_results(results, model_name) if results and results.get("tasks") else None,
    )
    example = template.prompt(DEFAULT_EXAMPLE_INSTRUCTION) if template else None
    training = dict(settings.training or {})
    dev = training.pop("dev", None)
    curve = settings.learning_curve if (model_dir / str(settings.learning_curve)).is_file() else None
    card = ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        model_name=model_name,
        repo_id=model_name if _is_repo_id(model_name) else str(model_dir),
        base_model=base_model,
        pooling=pooling or settings.pooling,
        normalize=settings.normalize,
        max_seq_length=settings.max_seq_length,
        query_template=template and template.template,
        example_prompt=example.replace("\n", "\\n") if example else None,
        training_summary=training or None,
        dev=dev,
        learning_curve=curve,
        datasets=settings.datasets,
        results_table=summary_markdown(results) if results and results.get("tasks") else None,
        results_note="mteb's own evaluators; local tasks are marked in the metadata",
        chart=CHART_NAME if chart else None,
    )
    card.save(card_path)
    logger.info("Model card written to %s", card_path)
    return card_path
