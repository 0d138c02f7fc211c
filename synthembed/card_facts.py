"""What a model card states about a model's origin, found once by the saver and recorded in the folder's settings.

The saver (synthembed.saving, synthembed.merging) calls `with_card_facts` where training ran, so relative paths and
the Hub cache resolve there; the card (synthembed.model_card) renders from `card_facts` as recorded, also on another
machine where they do not. What is found, and claimed only where something shows it:

- the license: the recipe's (settings.license), else the base model's own card (a local folder's README.md or the
  Hub cache's copy), else the Gemma terms for a Gemma base (its config's model type); otherwise none;
- the languages of each dataset: the ISO 639-1 codes of a local dataset's `language` / `source_language` /
  `target_language` columns (a seam-1 dataset writes names, mapped by synthembed_common.languages), else its dataset
  card (a local README.md or the Hub cache's copy); the recipe's `language` wins over them;
- `datasets` and `base_model` as Hub metadata: Hub ids only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from synthembed.model_folder import FolderSettings
from synthembed_common.hub import is_hub_id
from synthembed_common.languages import to_iso_codes
from synthembed_common.seam1 import STATS_FILE

logger = logging.getLogger(__name__)

LANGUAGE_COLUMNS = ("language", "source_language", "target_language")
SAVED_DATASET_FILES = ("dataset_info.json", "state.json", "dataset_dict.json")
GEMMA_TERMS = "https://ai.google.dev/gemma/terms"


def is_repo_id(name: str | None) -> bool:
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
    from huggingface_hub import ModelCard

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
    if not is_local and is_repo_id(base_model):
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
    fact = DatasetFact(path=path, hub_id=path if is_repo_id(path) else None)
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


# ------------------------------------------------------------------------------------------------------- record


def with_card_facts(settings: FolderSettings) -> FolderSettings:
    """The settings with `card_facts` found now: the base model's license (where the recipe states none) and each
    dataset's languages. A fact not found now keeps what the settings already recorded for the same source (a merged
    model's parent, saved where its data resolved)."""
    before = settings.card_facts or {}
    license_ = license_fact(settings, settings.base_model)
    if not license_.license and before.get("base_model") == settings.base_model and before.get("license"):
        license_ = LicenseFact(**before["license"])
    datasets = {}
    for path in dict.fromkeys(str(d) for d in settings.datasets):  # a mixture may draw twice from one dataset
        fact = dataset_fact(path)
        if not fact.source and before.get("datasets", {}).get(path, {}).get("source"):
            fact = DatasetFact(**before["datasets"][path])
        datasets[path] = dataclasses.asdict(fact)
    card_facts = {
        "base_model": settings.base_model,
        "license": dataclasses.asdict(license_) if license_.license and not settings.license else None,
        "datasets": datasets,
    }
    return dataclasses.replace(settings, card_facts=card_facts)


# --------------------------------------------------------------------------------------------------------- read


def recorded_facts(settings: FolderSettings, base_model: str | None) -> tuple[LicenseFact, list[DatasetFact]]:
    """(license, dataset facts) as the saver recorded them; nothing is looked up again and nothing is written. A
    folder whose saver recorded none (a model trained elsewhere, or saved before facts were recorded) gets them found
    now, for this render only."""
    if settings.card_facts is None:
        settings = with_card_facts(dataclasses.replace(settings, base_model=base_model))
    recorded = settings.card_facts
    if settings.license:
        license_ = LicenseFact(settings.license, settings.license_name, settings.license_link, "the training recipe")
    elif recorded.get("base_model") == base_model and recorded.get("license"):
        license_ = LicenseFact(**recorded["license"])
    else:
        license_ = LicenseFact()
    facts = []
    for path in dict.fromkeys(str(d) for d in settings.datasets):
        found = recorded.get("datasets", {}).get(path)
        facts.append(DatasetFact(**found) if found else DatasetFact(path, hub_id=path if is_repo_id(path) else None))
    return license_, facts


def training_languages(settings: FolderSettings, facts: list[DatasetFact]) -> tuple[list[str], str | None]:
    """(the card's `language:` codes, where they came from)."""
    if settings.language:
        return list(settings.language), "the training recipe"
    codes: list[str] = []
    for fact in facts:
        codes += [c for c in fact.languages if c not in codes]
    return codes, "the training data" if codes else None
