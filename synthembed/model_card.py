"""The model card (README.md) of a trained model: Hub metadata incl. model-index, usage, training, MTEB results, chart.

The trainer calls `render_model_card(model_dir)` at save time (no results yet); the evaluation calls it again with
`results` (the summary.json dict). Both read what they say about the model from the folder's settings
(synthembed.model_folder), which the trainer wrote: one source. The metadata claims only what something shows:

- `license`: the recipe's (settings.license), else the base model's own card (a local folder's README.md or the
  Hub cache's copy), else the Gemma terms for a Gemma base (its config's model type); otherwise none, and the text
  says the base model's license applies;
- `language`: the recipe's (settings.language), else the ISO 639-1 codes of the training data: a local dataset's
  `language` / `source_language` / `target_language` columns (a seam-1 dataset writes names, mapped by
  synthembed_common.languages), else its dataset card (a local README.md or the Hub cache's copy);
- `datasets` and `base_model`: Hub ids only; local paths are named in the text;
- `model-index`: the tasks whose scores compare with MTEB's; local tasks of one's own are in the text's table only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

import model_cards
from synthembed.evaluation.instructions import RETRIEVAL
from synthembed.evaluation.summary import PAPER_CATEGORIES, summary_markdown
from synthembed.model_folder import FolderSettings, read_settings, write_settings
from synthembed_common.hub import is_hub_id
from synthembed_common.languages import to_iso_codes
from synthembed_common.seam1 import STATS_FILE

logger = logging.getLogger(__name__)

CHART_NAME = "mteb_categories.png"
DEFAULT_EXAMPLE_INSTRUCTION = RETRIEVAL["MSMARCO"]  # the web-search instruction
LANGUAGE_COLUMNS = ("language", "source_language", "target_language")
SAVED_DATASET_FILES = ("dataset_info.json", "state.json", "dataset_dict.json")
GEMMA_TERMS = "https://ai.google.dev/gemma/terms"
MTEB_URL = "https://github.com/embeddings-benchmark/mteb/"


def _is_repo_id(name: str | None) -> bool:
    """A Hub id ("org/name"), not a path: no leading ./~, and nothing of that name on disk."""
    return bool(name) and is_hub_id(name) and not Path(name).expanduser().exists()


def _cached_hub_file(repo_id: str, filename: str, repo_type: str) -> Path | None:
    """A file of a Hub repo from the local Hub cache (what a download left there); never the network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename, repo_type=repo_type)
    except Exception:  # an id the cache cannot hold (validation): nothing cached
        return None
    return Path(found) if isinstance(found, str) else None


def _card_metadata(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        return ModelCard.load(path).data.to_dict()
    except Exception as e:  # a README without (valid) front matter says nothing
        logger.debug("no card metadata in %s: %s", path, e)
        return {}


# ------------------------------------------------------------------------------------------------------- license


@dataclass
class LicenseFact:
    license: str | None = None
    license_name: str | None = None
    license_link: str | None = None
    source: str | None = None  # where it was read, for the card's text


def base_model_license(base_model: str | None) -> LicenseFact:
    """The base model's license as its own card states it (local folder or Hub cache), or the Gemma terms for a
    Gemma model; an empty fact when nothing shows one."""
    if not base_model:
        return LicenseFact()
    local = Path(base_model).expanduser()
    is_local = local.is_dir()
    readme = local / "README.md" if is_local else None
    config = local / "config.json" if is_local else None
    if not is_local and _is_repo_id(base_model):
        readme = _cached_hub_file(base_model, "README.md", "model")
        config = _cached_hub_file(base_model, "config.json", "model")
    meta = _card_metadata(readme)
    if meta.get("license"):
        where = "the base model's card" + ("" if is_local else " (Hub cache)")
        link = meta.get("license_link")
        if link and "://" not in link:  # a file of the base model's repo: absolute for a Hub id, else not ours
            link = None if is_local else f"https://huggingface.co/{base_model}/blob/main/{link.lstrip('./')}"
        return LicenseFact(meta["license"], meta.get("license_name"), link, where)
    model_type = ""
    if config is not None and config.is_file():
        try:
            model_type = str(json.loads(config.read_text()).get("model_type") or "")
        except ValueError:
            model_type = ""
    if model_type.startswith("gemma") or base_model.lower().startswith("google/gemma"):
        return LicenseFact("gemma", None, GEMMA_TERMS, f"a Gemma base model ({model_type or base_model})")
    return LicenseFact()


def license_fact(settings: FolderSettings, base_model: str | None) -> LicenseFact:
    if settings.license:
        return LicenseFact(settings.license, settings.license_name, settings.license_link, "the training recipe")
    return base_model_license(base_model)


# ------------------------------------------------------------------------------------------------------ languages


@dataclass
class DatasetFact:
    path: str
    hub_id: str | None = None
    languages: list[str] = field(default_factory=list)  # ISO 639-1 codes, most rows first
    unmapped: list[str] = field(default_factory=list)  # language names without a code in the table
    source: str | None = None  # where the languages were read


def _column_counts(path: Path) -> Counter | None:
    """Row counts of the values in a local dataset's language columns; None when it has none (or is not local)."""
    counts: Counter = Counter()
    found = False
    if path.is_dir() and any((path / f).exists() for f in SAVED_DATASET_FILES):
        from datasets import DatasetDict, load_from_disk

        loaded = load_from_disk(str(path))
        for ds in loaded.values() if isinstance(loaded, DatasetDict) else [loaded]:
            for column in (c for c in LANGUAGE_COLUMNS if c in ds.column_names):
                found = True
                counts.update({k: v for k, v in Counter(ds[column]).items() if k})
    elif path.is_file() and path.suffix == ".parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        columns = [c for c in LANGUAGE_COLUMNS if c in names]
        found = bool(columns)
        for column in pq.read_table(path, columns=columns).columns if columns else []:
            counts.update(v for v in column.to_pylist() if v)
    elif path.is_file() and path.suffix in (".jsonl", ".json"):
        with path.open() as f:
            for line in f:
                try:
                    row = json.loads(line) if line.strip() else {}
                except ValueError:
                    return None  # not JSON lines (a JSON document): the trainer's loader decides; we say nothing
                for column in LANGUAGE_COLUMNS:
                    if isinstance(row, dict) and column in row:
                        found = True
                        if row[column]:
                            counts[row[column]] += 1
    return counts if found else None


def dataset_fact(path: str) -> DatasetFact:
    """What the card can say about one training dataset: its Hub id and its languages, with their source."""
    fact = DatasetFact(path=path, hub_id=path if _is_repo_id(path) else None)
    if fact.hub_id:
        meta, where = _card_metadata(_cached_hub_file(path, "README.md", "dataset")), "its dataset card (Hub cache)"
    else:
        local = Path(path).expanduser()
        counts = _column_counts(local)
        if counts is not None:
            fact.languages, fact.unmapped = to_iso_codes(name for name, _ in counts.most_common())
            fact.source = "the rows' language columns"
            return fact
        cards = [local / "README.md"] if local.is_dir() else []
        if (local.parent / STATS_FILE).is_file():  # data_generation's run folder holds the card
            cards.append(local.parent / "README.md")
        meta, where = next((m for m in map(_card_metadata, cards) if m.get("language")), {}), "its dataset card"
    language = meta.get("language")
    if language:
        fact.languages, fact.unmapped = to_iso_codes([language] if isinstance(language, str) else language)
        fact.source = where
    return fact


def training_languages(settings: FolderSettings, facts: list[DatasetFact]) -> tuple[list[str], str | None]:
    """(the card's `language:` codes, where they came from)."""
    if settings.language:
        return list(settings.language), "the training recipe"
    codes: list[str] = []
    for fact in facts:
        codes += [c for c in fact.languages if c not in codes]
    return codes, "the training data" if codes else None


def recorded_facts(model_dir: Path, settings: FolderSettings, base_model: str | None):
    """(license, dataset facts) as read now, else as recorded at an earlier render (settings.card_facts): the first
    render runs where training ran, so relative paths and the Hub cache resolve there; a later one (evaluation, on
    another machine) keeps what was found. What is read is recorded in a trainer-written folder's settings."""
    recorded = settings.card_facts or {}
    license_ = license_fact(settings, base_model)
    if not license_.license and recorded.get("base_model") == base_model and recorded.get("license"):
        license_ = LicenseFact(**recorded["license"])
    before = recorded.get("datasets", {})
    facts = []
    for path in dict.fromkeys(str(d) for d in settings.datasets):  # a mixture may draw twice from one dataset
        fact = dataset_fact(path)
        if not fact.source and before.get(path, {}).get("source"):
            fact = DatasetFact(**before[path])
        facts.append(fact)
    card_facts = {
        "base_model": base_model,
        "license": dataclasses.asdict(license_) if license_.license and not settings.license else None,
        "datasets": {f.path: dataclasses.asdict(f) for f in facts},
    }
    if card_facts != recorded and read_settings(model_dir) is not None:
        write_settings(model_dir, dataclasses.replace(settings, card_facts=card_facts))
    return license_, facts


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
    license_, facts = recorded_facts(model_dir, settings, base_model)
    languages, language_source = training_languages(settings, facts)
    evaluated = results if results and results.get("tasks") else None
    index = eval_results(evaluated, model_name) if evaluated else []
    card_data = ModelCardData(
        model_name=model_name,
        base_model=base_model if _is_repo_id(base_model) else None,
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
        repo_id=model_name if _is_repo_id(model_name) else str(model_dir),
        base_model=base_model,
        pooling=pooling or settings.pooling,
        normalize=settings.normalize,
        max_seq_length=settings.max_seq_length,
        query_template=template and template.template,
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
