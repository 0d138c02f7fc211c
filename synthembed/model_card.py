"""The model card (README.md) of a trained model: Hub metadata incl. model-index, usage, training, MTEB results, chart.

The trainer calls `render_model_card(model_dir)` at save time (no results yet); the evaluation calls it again with
`results` (the summary.json dict). Both render from the folder's settings (synthembed.model_folder) as the saver
wrote them, facts included (synthembed.card_facts: license, languages): the card reads, it records nothing. The
metadata claims only what something shows:

- `license` and `language`: as recorded (else none, and the text says the base model's license applies);
- `datasets` and `base_model`: Hub ids only; local paths are named in the text;
- `model-index`: the tasks whose scores compare with MTEB's; local tasks of one's own are in the text's table only.
"""

from __future__ import annotations

import logging
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

import model_cards
from synthembed.card_facts import is_repo_id, recorded_facts, training_languages
from synthembed.evaluation.instructions import RETRIEVAL
from synthembed.evaluation.summary import PAPER_CATEGORIES, summary_markdown
from synthembed.model_folder import FolderSettings, read_settings

logger = logging.getLogger(__name__)

CHART_NAME = "mteb_categories.png"
DEFAULT_EXAMPLE_INSTRUCTION = RETRIEVAL["MSMARCO"]  # the web-search instruction
MTEB_URL = "https://github.com/embeddings-benchmark/mteb/"


# ------------------------------------------------------------------------------------------------------- results


def comparable(detail: dict) -> bool:
    """A score that compares with MTEB's: an mteb task, or a local copy of one (evaluation.runner's `comparable`)."""
    return detail.get("comparable", True) is not False and not str(detail.get("dataset", "")).startswith("local/")


def eval_results(results: dict, model_name: str | None = None) -> list[EvalResult]:
    """model-index entries in the shape of e5-mistral-7b-instruct's own card (what mteb's `create_meta` wrote, before
    mteb 2 moved to `.eval_results/`, see synthembed.hub): task type = the mteb type, "MTEB <task> (<subset>)",
    scores x100 as in the summary; one per task whose score compares with MTEB's. Local tasks of one's own are left
    out: their numbers are not MTEB's."""
    out = []
    for name, value in results.get("tasks", {}).items():
        d = results.get("details", {}).get(name, {})
        if not comparable(d):
            continue
        task_name = d.get("mteb_task") or name
        subset = d.get("subset")
        out.append(
            EvalResult(
                task_type=d.get("type", "Other"),
                dataset_type=d.get("dataset") or task_name,
                dataset_name=f"MTEB {task_name}" + (f" ({subset})" if subset not in (None, "default") else ""),
                dataset_config=subset,
                dataset_split=d.get("split"),
                dataset_revision=d.get("revision"),
                metric_type=d.get("main_score", "main_score"),
                metric_value=value,
                source_name="MTEB",
                source_url=MTEB_URL,
            )
        )
    return out


def _marked_local(results: dict) -> tuple[dict, list[str]]:
    """The summary with its non-comparable tasks renamed "<name> (local)" for the text's tables, and those names."""
    details = results.get("details", {})
    local = [n for n in results.get("tasks", {}) if not comparable(details.get(n, {}))]
    rename = {n: f"{n} (local)" for n in local}
    marked = {
        **results,
        "tasks": {rename.get(n, n): v for n, v in results.get("tasks", {}).items()},
        "details": {rename.get(n, n): v for n, v in details.items()},
    }
    return marked, local


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
    quantized = (results or {}).get("quantized")  # synthembed.evaluation.quantized's report, with its chart
    if quantized:
        from synthembed.evaluation.quantized import CHART_NAME as QUANTIZED_CHART
        from synthembed.evaluation.quantized import plot_quantized, quantized_markdown

        plot_quantized(quantized, model_dir / QUANTIZED_CHART)
    license_, facts = recorded_facts(settings, base_model)
    languages, language_source = training_languages(settings, facts)
    evaluated = results if results and results.get("tasks") else None
    index = eval_results(evaluated, model_name) if evaluated else []
    card_data = ModelCardData(
        model_name=model_name,
        base_model=base_model if is_repo_id(base_model) else None,
        datasets=[f.hub_id for f in facts if f.hub_id] or None,
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        language=languages or None,
        license=license_.license,
        license_name=license_.license_name,
        license_link=license_.license_link,
        tags=["sentence-transformers", "feature-extraction", "sentence-similarity", "mteb", "synthembed"],
        eval_results=index or None,
    )
    example = template.prompt(DEFAULT_EXAMPLE_INSTRUCTION) if template else None
    if settings.task_type_prefixes is not None:  # the "w/ task type prefix" ablation: a retrieval query's prefix
        example = settings.default_prompt()
    training = dict(settings.training or {})
    dev = training.pop("dev", None)
    curve = settings.learning_curve if (model_dir / str(settings.learning_curve)).is_file() else None
    marked, local_tasks = _marked_local(evaluated) if evaluated else ({}, [])
    card = ModelCard.from_template(
        card_data,
        template_str=model_cards.template("model_card.md.j2"),
        model_name=model_name,
        repo_id=model_name if is_repo_id(model_name) else str(model_dir),
        base_model=base_model,
        pooling=pooling or settings.pooling,
        normalize=settings.normalize,
        max_seq_length=settings.max_seq_length,
        query_template=template and template.template,
        symmetric_bare=bool(template and template.uses_instructions and not settings.instruct_symmetric_tasks),
        example_prompt=example.replace("\n", "\\n") if example else None,
        training_summary=training or None,
        merge=settings.merge,
        dev=dev,
        learning_curve=curve,
        datasets=facts,
        languages=languages,
        language_source=language_source,
        license=license_,
        results_table=summary_markdown(marked) if evaluated else None,
        local_tasks=local_tasks,
        chart=CHART_NAME if chart else None,
        matryoshka_dims=settings.matryoshka_dims,
        quantized_table=quantized_markdown(quantized) if quantized else None,
        quantized_chart=QUANTIZED_CHART if quantized else None,
    )
    card.save(card_path)
    logger.info("Model card written to %s", card_path)
    return card_path
