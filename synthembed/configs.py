"""Training configuration: model, data and training arguments, parsed from a recipe YAML plus CLI overrides.

Every field is documented; `__post_init__` rejects bad values with one line naming the field and what it expects,
before any model is loaded.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from synthembed.decontamination import TASKS_EXPECTED, tasks_setting_ok
from synthembed.evaluation.instructions import RETRIEVAL
from synthembed.model_folder import BARE_TEMPLATE, E5_TEMPLATE, PREFIX_TEMPLATE, QueryTemplate
from synthembed_common.config import ConfigError
from synthembed_common.hub import missing_local_path
from synthembed_common.seam1 import LABEL_COLUMNS

if TYPE_CHECKING:
    from synthembed.embedding import Chunking


STS_COLUMNS = ("sentence1", "sentence2", "score")
MIXTURE_KEYS = {"path", "name", "split", "fraction", "columns", "instruction", "data_dir", "config_name", "task_type"}
MIXTURE_KEYS |= {"min_score"}  # graded pairs (STS): only those scored >= min_score are positives
MIXTURE_KEYS |= {"graded"}  # graded pairs (STS) trained on their scores: CoSENT instead of InfoNCE
MIXTURE_KEYS |= {"symmetric"}  # both texts of one kind: bare under `instruct_symmetric_tasks: false`
MIXTURE_KEYS |= {"distill_weight"}  # this entry's weight of the distillation term, in place of the global one
# Optional columns naming the text a distillation teacher encodes instead of the query / positive (multilingual
# knowledge distillation: the English source of a translation, Reimers & Gurevych, 2020).
TEACHER_COLUMNS = ("teacher_query", "teacher_positive")
EVAL_KEYS = {"path", "name", "split", "columns", "instruction", "data_dir", "config_name", "max_rows"}


@dataclass
class ModelArguments:
    model_name_or_path: str = field(metadata={"help": "Local folder or Hub id of the backbone (decoder or encoder)."})
    gguf_file: str | None = field(
        default=None,
        metadata={"help": "A GGUF file (path, or name inside model_name_or_path); converted once to a cached folder."},
    )
    pooling: Literal["last_token", "mean", "weighted_mean", "cls"] = field(
        default="last_token",
        metadata={
            "help": "last_token (EOS appended by the collator, E5-mistral), mean, weighted_mean (SGPT's position-"
            "weighted mean, a Table 5 ablation) or cls."
        },
    )
    normalize: bool = field(default=True, metadata={"help": "L2-normalize embeddings in the saved model."})
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = field(
        default="auto", metadata={"help": "Weights dtype; auto = bfloat16 where the hardware has it, else float32."}
    )
    attn_implementation: str | None = field(
        default=None, metadata={"help": "sdpa, flash_attention_2, eager; default: transformers' choice."}
    )
    use_lora: bool = field(default=True, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    freeze_embeddings: bool = field(
        default=False,
        metadata={
            "help": "With use_lora: false, keep the token embedding matrix fixed (Gemma-3-270M: 168M of its 268M "
            "weights), so the optimizer and the gradient all-reduce cover the transformer layers only."
        },
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (paper: 16)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (released adapter: 32)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout (released adapter: 0.1)."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"],
        metadata={"help": "Modules that get adapters; 'all-linear' = every linear layer (paper)."},
    )
    use_bidirectional_attention: bool = field(
        default=False,
        metadata={
            "help": "Gemma-3 and other decoders whose config has `use_bidirectional_attention`: every token attends to "
            "the whole text (EmbeddingGemma, LLM2Vec); pair with pooling: mean. Saved in config.json, so "
            "SentenceTransformer(path) encodes the same way."
        },
    )
    card_license: str | None = field(
        default=None,
        metadata={"help": "Hub license id for the model card (default: the base model card's, e.g. gemma)."},
    )
    card_language: list[str] | None = field(
        default=None, metadata={"help": "ISO 639-1 codes for the model card (default: the training data's)."}
    )

    def __post_init__(self):
        if self.lora_r <= 0:
            raise ConfigError(f"`lora_r` must be a positive int, got {self.lora_r}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"`lora_dropout` must be in [0, 1), got {self.lora_dropout}")
        if self.freeze_embeddings and self.use_lora:
            raise ConfigError(
                "`freeze_embeddings` applies to use_lora: false (LoRA already leaves the embeddings fixed)"
            )
        if isinstance(self.lora_target_modules, str):
            self.lora_target_modules = [self.lora_target_modules]
        if missing_local_path(self.model_name_or_path):
            raise ConfigError(f"`model_name_or_path`: no such folder {self.model_name_or_path!r} (nor a Hub id)")


@dataclass
class DataArguments:
    dataset_mixture: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={
            "help": "List of {path, split, fraction, columns, instruction, task_type, name}: path = local jsonl/json/parquet/csv "
            "file, a save_to_disk folder or a Hub id; fraction = the paper's sampling ratio (share of rows kept, >1 "
            "repeats rows); columns maps query/positive/negative/instruction (and score) onto the dataset's column names; "
            "min_score keeps only pairs whose score is at least this (graded STS pairs as positives); graded: true trains "
            "the pairs on their scores (CoSENT: each pair's cosine ranked by its score) instead of as positives of "
            "InfoNCE; columns may also map "
            "teacher_query/teacher_positive: the text a distillation teacher encodes instead (a translation's English "
            "source, for multilingual distillation); "
            "instruction = task definition for rows without an instruction column; task_type = the rows' task type "
            "where they have none (default: the entry's name); symmetric: true marks pairs whose two texts are of one "
            "kind (paraphrases, entailment, translations), encoded bare under instruct_symmetric_tasks: false; "
            "distill_weight = this entry's weight of the distillation term in place of the global distill_weight."
        },
    )
    max_seq_length: int = field(default=512, metadata={"help": "Max tokens per text, EOS included (paper: 512)."})
    query_template: str = field(
        default=E5_TEMPLATE,
        metadata={
            "help": "Query-side template with {instruction}, ending with {query}; an empty instruction gives the bare "
            "query."
        },
    )
    use_instructions: bool = field(
        default=True,
        metadata={"help": "false = the paper's 'w/o instruction' ablation (Table 5): queries are encoded bare."},
    )
    instruct_symmetric_tasks: bool = field(
        default=True,
        metadata={
            "help": "false: texts of symmetric tasks are encoded bare, without an instruction: the rows of mixture "
            "entries marked `symmetric: true`, the STS dev sets, and in the saved prompts and the evaluator every STS, "
            "PairClassification, Summarization and BitextMining task. Queries of retrieval, reranking, classification "
            "and clustering keep their instructions. true: the paper's protocol (instructions on both sides)."
        },
    )
    task_type_prefixes: dict[str, str] | None = field(
        default=None,
        metadata={
            "help": "The paper's 'w/ task type prefix' ablation (Table 5): task type → prefix that replaces every "
            "query's instruction (template '{instruction}{query}'); every row's task_type must be listed."
        },
    )
    default_instruction: str = field(
        default=RETRIEVAL["MSMARCO"],  # the web-search instruction (Wang et al., 2024, Table 15)
        metadata={"help": "Saved as the model's default 'query' prompt."},
    )
    eval_fraction: float = field(
        default=0.0,
        metadata={"help": "Share of training rows held out as a dev set (loss and in-batch retrieval accuracy)."},
    )
    eval_datasets: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={
            "help": "Dev sets scored by the Trainer's eval loop (eval_strategy), each {path, split, name, columns, "
            "instruction, max_rows, config_name}. Rows with sentence1/sentence2/score are STS pairs (Spearman of "
            "cosine, instruction on both sides as the paper evaluates STS; default instruction: the paper's STS "
            "one; none under instruct_symmetric_tasks: false); rows with query/positive(/negative) are scored like "
            "training (loss, retrieval accuracy)."
        },
    )
    decontamination_tasks: list[str] | None = field(
        default=None,
        metadata={
            "help": "MTEB task names or local task folders: training rows with a text that copies one of their test "
            "texts (a shared 13-word n-gram, a shorter test text contained whole, or equality) are dropped, counted "
            "per task in the log (synthembed/decontamination.py; the generation gate's rule)."
        },
    )
    dataset_num_proc: int | None = field(default=None, metadata={"help": "Processes for dataset mapping."})

    def __post_init__(self):
        if self.max_seq_length < 2:
            raise ConfigError(f"`max_seq_length` must be >= 2, got {self.max_seq_length}")
        if not self.use_instructions:
            self.query_template = BARE_TEMPLATE  # collator, saved prompt and evaluator all see bare queries
        if self.task_type_prefixes is not None:
            prefixes = self.task_type_prefixes
            if not isinstance(prefixes, dict) or not all(isinstance(v, str) for v in prefixes.values()):
                raise ConfigError(f"`task_type_prefixes` must map task types to prefix strings, got {prefixes!r}")
            if not self.use_instructions:
                raise ConfigError("`task_type_prefixes` replaces the instructions: it needs `use_instructions: true`")
            self.query_template = PREFIX_TEMPLATE  # the prefix stands where the instruction stood, as is
            if not self.instruct_symmetric_tasks:
                raise ConfigError(
                    '`task_type_prefixes` gives every task type its prefix ("" for a bare one): it needs '
                    "`instruct_symmetric_tasks: true`"
                )
        try:
            QueryTemplate(self.query_template)
        except ValueError as e:
            raise ConfigError(f"`query_template`: {e}") from None
        if not self.dataset_mixture:
            raise ConfigError("`dataset_mixture` must list at least one dataset ({path: ..., split: ...})")
        if not 0 <= self.eval_fraction < 1:
            raise ConfigError(f"`eval_fraction` must be in [0, 1), got {self.eval_fraction}")
        for i, entry in enumerate(self.dataset_mixture):
            validate_dataset_entry(
                f"dataset_mixture[{i}]", entry, MIXTURE_KEYS, (*LABEL_COLUMNS, "score", *TEACHER_COLUMNS)
            )
            score = entry.get("min_score", 0)
            if not is_number(score) or score != score:
                raise ConfigError(f"`dataset_mixture[{i}].min_score` must be a number, got {score!r}")
            weight = entry.get("distill_weight", 0)
            if not is_number(weight) or not weight >= 0:
                raise ConfigError(f"`dataset_mixture[{i}].distill_weight` must be a number >= 0, got {weight!r}")
            for key in ("graded", "symmetric"):
                if not isinstance(entry.get(key, False), bool):
                    raise ConfigError(f"`dataset_mixture[{i}].{key}` must be true or false, got {entry[key]!r}")
        for i, entry in enumerate(self.eval_datasets):
            validate_dataset_entry(f"eval_datasets[{i}]", entry, EVAL_KEYS, LABEL_COLUMNS + STS_COLUMNS)
        if not tasks_setting_ok(self.decontamination_tasks):
            raise ConfigError(f"`decontamination_tasks` must be {TASKS_EXPECTED}, got {self.decontamination_tasks!r}")


def is_number(value: Any) -> bool:
    """An int or a float from YAML / JSON, not a boolean (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_dataset_entry(where: str, entry: Any, keys: set[str], columns: tuple[str, ...]) -> None:
    if not isinstance(entry, dict) or "path" not in entry:
        raise ConfigError(f"`{where}` must be a mapping with a `path`, got {entry!r}")
    unknown = set(entry) - keys
    if unknown:
        raise ConfigError(f"`{where}` has unknown key(s) {sorted(unknown)}; expected some of {sorted(keys)}")
    path = str(entry["path"])
    if missing_local_path(path):
        raise ConfigError(f"`{where}.path`: no such file or folder {path!r}")
    for name in ("fraction", "max_rows"):
        value = entry.get(name, 1)
        if not is_number(value) or value <= 0:
            raise ConfigError(f"`{where}.{name}` must be a number > 0, got {value!r}")
    mapping = entry.get("columns", {})
    if not isinstance(mapping, dict) or set(mapping) - set(columns):
        raise ConfigError(f"`{where}.columns` must map some of {list(columns)} to column names, got {mapping!r}")


@dataclass
class ContrastiveArguments:
    """The contrastive fields of the training arguments (synthembed.training_args.ContrastiveTrainingArguments adds
    transformers.TrainingArguments); checkable without importing transformers."""

    temperature: float = field(default=0.02, metadata={"help": "InfoNCE temperature τ (paper: 0.02, fixed)."})
    num_hard_negatives: int = field(
        default=1, metadata={"help": "Hard negatives per query taken from the data (paper: 1); 0 = in-batch only."}
    )
    gather_across_devices: bool = field(
        default=True, metadata={"help": "Use every process's documents as candidates (global batch negatives)."}
    )
    mask_false_negatives: bool = field(
        default=False,
        metadata={
            "help": "Mask candidates whose text equals the query's positive (duplicates in synthetic data) and other "
            "rows' positives for the same query (a sentence paired with its translations)."
        },
    )
    batch_sampling: Literal["random", "by_source", "by_task_type"] = field(
        default="random",
        metadata={"help": "random, or homogeneous global batches drawn from one dataset (by_source) or task type."},
    )
    grad_cache: bool = field(
        default=False,
        metadata={
            "help": "Train with GradCache: embed the batch in chunks without autograd, then back-propagate chunk by "
            "chunk; the same gradients as the plain step with one chunk's activations (large batches on few GPUs)."
        },
    )
    embed_chunk_size: int | None = field(
        default=None,
        metadata={
            "help": "Most texts per forward: texts are length-sorted inside the step (the batch itself stays random) "
            "and each chunk is padded to its own longest text. With grad_cache the chunk whose activations are "
            "kept (default 32 when no embed_token_budget is set); without, less padding in one graph."
        },
    )
    embed_token_budget: int | None = field(
        default=None, metadata={"help": "Most padded tokens (rows × padded length) per forward chunk."}
    )
    loss: Literal["infonce", "cached_infonce"] | None = field(
        default=None, metadata={"help": "Deprecated: `cached_infonce` means grad_cache: true."}
    )
    cache_chunk_size: int | None = field(default=None, metadata={"help": "Deprecated name of embed_chunk_size."})
    cache_token_budget: int | None = field(default=None, metadata={"help": "Deprecated name of embed_token_budget."})
    matryoshka_dims: list[int] | None = field(
        default=None,
        metadata={
            "help": "Matryoshka training: InfoNCE also over these embedding prefixes, re-normalized (descending, at "
            "most the hidden size; list the full width to keep training it), e.g. [4096, 1024, 256, 64]."
        },
    )
    matryoshka_weights: list[float] | None = field(
        default=None, metadata={"help": "One weight per matryoshka_dims entry (default: all 1); the loss is the sum."}
    )
    hardness_alpha: float = field(
        default=0.0,
        metadata={
            "help": "Hardness-weighted InfoNCE: each query's own hard negatives weigh exp(α·stopgrad(cos)) in the "
            "softmax (EmbeddingGemma: 5); 0 = off."
        },
    )
    false_negative_margin: float | None = field(
        default=None,
        metadata={
            "help": "Drop a candidate whose cosine with the query exceeds the positive's + margin (a likely unlabeled "
            "positive; Qwen3-Embedding: 0.1); null = off."
        },
    )
    gor_weight: float = field(
        default=0.0,
        metadata={"help": "Spread-out regulariser (GOR second moment over queries and over positives); 0 = off."},
    )
    distill_teacher: str | None = field(
        default=None,
        metadata={
            "help": "A SentenceTransformer (folder or Hub id) whose embeddings of every query, positive and hard "
            "negative are computed once (cached, resumable) and distilled: KL between its and the student's score "
            "distributions over the batch's candidates. Any width. null = no distillation."
        },
    )
    distill_weight: float = field(default=1.0, metadata={"help": "Weight of the distillation term next to InfoNCE."})
    distill_temperature: float | None = field(
        default=None, metadata={"help": "Temperature of the teacher's scores (default: `temperature`)."}
    )
    distill_texts: Literal["queries", "all"] = field(
        default="queries",
        metadata={
            "help": "queries: each query's score distribution over its candidates; all: every text of the batch "
            "(queries, positives, negatives) over every other one, so query-query and document-document "
            "similarities are distilled too."
        },
    )
    teacher_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where teacher embeddings are cached by text (default: $HF_HOME/synthembed/teacher-embeddings/"
            "<teacher>, shared by every run with that teacher)."
        },
    )
    teacher_batch_size: int = field(default=64, metadata={"help": "Texts per teacher forward when caching."})
    save_adapter: bool = field(default=False, metadata={"help": "Also save the LoRA adapter to output_dir/adapter."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep text columns: the collator tokenizes."})

    use_cpu: bool | None = field(
        default=None,
        metadata={
            "help": "Train on the CPU (gloo between processes). Unset: derived from the launch, true where no CUDA/XPU "
            "device is present or accelerate was told to use the CPU (`accelerate launch --cpu`, ACCELERATE_USE_CPU)."
        },
    )

    def __post_init__(self):
        self.check_contrastive()

    def check_contrastive(self) -> None:
        """Reject bad contrastive values (one line naming the field); map the deprecated names onto the new ones."""
        if not math.isfinite(self.temperature) or self.temperature <= 0:  # (NaN passes a plain `<= 0`)
            raise ConfigError(f"`temperature` must be a number > 0, got {self.temperature}")
        if self.num_hard_negatives < 0:
            raise ConfigError(f"`num_hard_negatives` must be >= 0, got {self.num_hard_negatives}")
        for name in ("hardness_alpha", "gor_weight", "distill_weight"):
            if not getattr(self, name) >= 0:  # also NaN
                raise ConfigError(f"`{name}` must be a number >= 0, got {getattr(self, name)}")
        if self.false_negative_margin is not None and not -1 <= self.false_negative_margin <= 2:
            raise ConfigError(
                f"`false_negative_margin` must be a cosine margin in [-1, 2] or null, got {self.false_negative_margin}"
            )
        if self.distill_temperature is not None and not self.distill_temperature > 0:
            raise ConfigError(f"`distill_temperature` must be > 0 or null, got {self.distill_temperature}")
        if not (isinstance(self.teacher_batch_size, int) and self.teacher_batch_size > 0):
            raise ConfigError(f"`teacher_batch_size` must be a positive int, got {self.teacher_batch_size!r}")
        if self.distill_teacher is not None and missing_local_path(self.distill_teacher):
            raise ConfigError(f"`distill_teacher`: no such folder {self.distill_teacher!r} (nor a Hub id)")
        for old, new in (("cache_chunk_size", "embed_chunk_size"), ("cache_token_budget", "embed_token_budget")):
            if getattr(self, old) is not None:
                warnings.warn(f"`{old}` is deprecated: use `{new}`", FutureWarning, stacklevel=3)
                setattr(self, new, getattr(self, new) or getattr(self, old))
        if self.loss == "cached_infonce":
            warnings.warn("`loss: cached_infonce` is deprecated: use `grad_cache: true`", FutureWarning, stacklevel=3)
            self.grad_cache = True
        for name in ("embed_chunk_size", "embed_token_budget"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"`{name}` must be a positive int or null, got {value!r}")
        self.check_matryoshka()

    def check_matryoshka(self, hidden_size: int | None = None) -> None:
        """Matryoshka dims: positive ints, strictly descending, at most `hidden_size` (known once the model's config
        is read); weights: one positive number per dim."""
        dims, weights = self.matryoshka_dims, self.matryoshka_weights
        if dims is not None:
            if not isinstance(dims, list) or not dims:
                raise ConfigError(f"`matryoshka_dims` must be a non-empty list of ints or null, got {dims!r}")
            if any(not isinstance(d, int) or isinstance(d, bool) or d <= 0 for d in dims):
                raise ConfigError(f"`matryoshka_dims` must hold positive ints, got {dims!r}")
            if any(a <= b for a, b in zip(dims, dims[1:])):
                raise ConfigError(f"`matryoshka_dims` must be strictly descending, got {dims!r}")
            if hidden_size is not None and dims[0] > hidden_size:
                raise ConfigError(f"`matryoshka_dims`: {dims[0]} exceeds the model's hidden size {hidden_size}")
        if weights is not None:
            if dims is None:
                raise ConfigError("`matryoshka_weights` needs `matryoshka_dims`")
            if not isinstance(weights, list) or len(weights) != len(dims):
                raise ConfigError(
                    f"`matryoshka_weights` must list {len(dims)} weight(s), one per dim, got {weights!r}"
                )
            if any(not is_number(w) or w <= 0 for w in weights):
                raise ConfigError(f"`matryoshka_weights` must be numbers > 0, got {weights!r}")

    @property
    def chunking(self) -> Chunking:
        from synthembed.embedding import Chunking

        return Chunking(chunk_size=self.embed_chunk_size, token_budget=self.embed_token_budget)
