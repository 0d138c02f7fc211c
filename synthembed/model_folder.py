"""Seam 2's facts in one place: the query template, and the settings file a trained model folder carries.

A folder saved by the trainer is a plain SentenceTransformer folder plus `synthembed_config.json`, which records how
the model was trained to be used (pooling, normalization, the query template and default instruction, the maximum
length) and what the model card needs (base model, datasets, the training summary, the learning-curve plot). The
collator, the saver, the evaluation encoder and the model card all read the template and the settings from here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from synthembed_common.files import write_text_atomic

CONFIG_NAME = "synthembed_config.json"
E5_TEMPLATE = "Instruct: {instruction}\nQuery: {query}"  # unilm's get_detailed_instruct (Wang et al., 2024, section 3)
BARE_TEMPLATE = "{query}"  # the paper's "w/o instruction" ablation (Table 5)
PREFIX_TEMPLATE = "{instruction}{query}"  # the paper's "w/ task type prefix" ablation (Table 5): the prefix as is
# Under that ablation an mteb task type gets the prefix of the training task type it resembles (the paper does not say
# how the ablation was evaluated): classification and clustering as long-short (text → label), retrieval and
# reranking as short-long, the rest as the symmetric types. The placement (queries only for Retrieval) is the E5
# protocol's, unchanged.
MTEB_TASK_TYPES = {
    "Classification": "long-short",
    "Clustering": "long-short",
    "Retrieval": "short-long",
    "Reranking": "short-long",
    "PairClassification": "sts",
    "STS": "sts",
    "Summarization": "sts",
    "BitextMining": "bitext",
}


def task_type_prefix(prefixes: dict[str, str], mteb_task_type: str) -> str:
    """The prefix an mteb task type's inputs get under the "w/ task type prefix" ablation ("" for a type not listed)."""
    return prefixes.get(MTEB_TASK_TYPES.get(mteb_task_type, ""), "")


@dataclass(frozen=True)
class QueryTemplate:
    """Where the task instruction goes on the query side. Instructions are a prefix (SentenceTransformer prompts are
    prefixes too), so the template must end with `{query}`; an empty instruction gives the bare text."""

    template: str = E5_TEMPLATE

    def __post_init__(self):
        if not self.template.endswith("{query}") or self.template.count("{query}") != 1:
            raise ValueError(f"a query template must end with {{query}} (a prefix prompt), got {self.template!r}")
        if self.template != BARE_TEMPLATE and "{instruction}" not in self.template:
            raise ValueError(f"a query template must contain {{instruction}}, got {self.template!r}")

    @property
    def uses_instructions(self) -> bool:
        return "{instruction}" in self.template

    def prompt(self, instruction: str) -> str:
        """The text put before a query: the SentenceTransformer prompt for this instruction."""
        if not instruction or not self.uses_instructions:
            return ""
        return self.template.removesuffix("{query}").replace("{instruction}", instruction)

    def apply(self, instruction: str, text: str) -> str:
        return self.prompt(instruction) + text


@dataclass
class FolderSettings:
    """The contents of `synthembed_config.json`."""

    pooling: str = "last_token"
    normalize: bool = True
    query_template: str | None = None  # None: a model evaluated plainly (no instruction format)
    default_instruction: str | None = None
    task_type_prefixes: dict[str, str] | None = None  # the "w/ task type prefix" ablation: prefixes, not instructions
    # False: STS, PairClassification, Summarization and BitextMining inputs are encoded bare (DataArguments)
    instruct_symmetric_tasks: bool = True
    max_seq_length: int | None = None
    base_model: str | None = None
    datasets: list[str] = field(default_factory=list)
    training: dict | None = None  # the trainer's summary of its settings and run
    learning_curve: str | None = None  # a PNG in the folder: dev metrics against steps
    # Matryoshka-trained prefix widths (descending): `SentenceTransformer(path, truncate_dim=d)` for any of them. The
    # folder's config_sentence_transformers.json carries no `truncate_dim` (it would truncate every encode by default).
    matryoshka_dims: list[int] | None = None
    # The card's Hub metadata where the recipe states it (else the card reads the base model's card / the data):
    license: str | None = None  # a Hub license id, e.g. "apache-2.0", "gemma", or "other" with a name and link
    license_name: str | None = None
    license_link: str | None = None
    language: list[str] | None = None  # ISO 639-1 codes
    # What the model card states that the saver found where training ran (the base model's license, the datasets'
    # languages), kept for a later render elsewhere (synthembed.card_facts.with_card_facts; the card only reads it).
    card_facts: dict | None = None
    # A model merged from trained folders (synthembed.merging): {method, slerp_t, parents: [{path, weight, ...}]}.
    merge: dict | None = None

    @property
    def template(self) -> QueryTemplate | None:
        return QueryTemplate(self.query_template) if self.query_template else None

    def default_prompt(self) -> str:
        if self.task_type_prefixes is not None:
            return task_type_prefix(self.task_type_prefixes, "Retrieval")
        template = self.template
        return template.prompt(self.default_instruction or "") if template else ""


def read_settings(model_dir: str | Path) -> FolderSettings | None:
    """The folder's settings, or None for a folder the trainer did not write (e.g. all-MiniLM-L6-v2)."""
    path = Path(model_dir) / CONFIG_NAME
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    known = {f.name for f in dataclasses.fields(FolderSettings)}
    return FolderSettings(**{k: v for k, v in stored.items() if k in known})


def write_settings(model_dir: str | Path, settings: FolderSettings) -> Path:
    path = Path(model_dir) / CONFIG_NAME
    write_text_atomic(path, json.dumps(dataclasses.asdict(settings), indent=2, default=str) + "\n")
    return path


# What the trainer's saver moves into a model folder last (synthembed.saving.save_folder_atomically): a folder that
# has them received every other file first.
COMPLETION_FILES = (CONFIG_NAME, "modules.json")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TRAINING_TRACES = ("trainer_state.json", "training_args.bin", "train_results.json", "all_results.json")
TRAINER_WRITES_FIRST = ("learning_curve.png", "adapter")  # before the SentenceTransformer save
# SentenceTransformer writes these (and its module folders) first and modules.json last
SENTENCE_TRANSFORMER_WRITES_FIRST = ("config_sentence_transformers.json", "sentence_bert_config.json")


class IncompleteModelFolder(ValueError):
    """A model folder whose save did not finish (a full disk, a killed run): loading it would score a half model."""


def missing_files(model_dir: str | Path) -> list[str]:
    """The files `model_dir` lacks to be a complete model folder ([] when complete).

    Every model folder needs config.json and weights (in the folder, or in a module folder where modules.json puts
    the transformer there, as older SentenceTransformer folders do). A folder the trainer wrote
    (synthembed_config.json, its learning curve or adapter, or the Trainer's state files) also needs modules.json and
    synthembed_config.json, which its saver moves in last; a SentenceTransformer save that began needs modules.json;
    a plain transformers folder loads with mean pooling and needs neither."""
    folder = Path(model_dir)
    missing = []
    trained_here = any((folder / name).exists() for name in (CONFIG_NAME, *TRAINING_TRACES, *TRAINER_WRITES_FIRST))
    started = trained_here or any((folder / name).is_file() for name in SENTENCE_TRANSFORMER_WRITES_FIRST)
    needed = ["modules.json"] * started + [CONFIG_NAME] * trained_here
    missing += [name for name in needed if not (folder / name).is_file()]
    listed = [""]  # no modules.json: the folder is the transformer
    if (folder / "modules.json").is_file():
        try:
            listed = [entry.get("path", "") for entry in json.loads((folder / "modules.json").read_text())]
        except (ValueError, AttributeError, TypeError):
            return [*missing, "modules.json (not a JSON list of modules)"]
    if "" in listed:  # the transformer module is the folder itself
        if not (folder / "config.json").is_file():
            missing.append("config.json")
        if not any((folder / name).is_file() for name in WEIGHT_FILES):
            missing.append("model.safetensors")
    return missing


def check_complete(model_dir: str | Path) -> None:
    """Raise IncompleteModelFolder (one line naming the folder and the missing files) for a folder whose save did not
    finish; return for a complete one. The caller decides what a folder that does not exist means."""
    missing = missing_files(model_dir)
    if missing:
        raise IncompleteModelFolder(
            f"{model_dir}: an incomplete model folder (missing {', '.join(missing)}): its save did not finish "
            "(a full disk or a killed run); save or train it again"
        )
