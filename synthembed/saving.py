"""Seam 2: write a folder that `SentenceTransformer(path)` loads offline and that encodes as the trained model did.

- LoRA is merged into the backbone (the adapter can be saved beside it);
- for last-token pooling the saved tokenizer's post-processor appends EOS (plus BOS where the base tokenizer adds
  one), so plain `SentenceTransformer.encode` pools the EOS exactly like the training collator; the tokenizer counts
  special tokens inside `max_seq_length`, so truncation keeps the EOS too;
- pooling (`lasttoken`, `mean`, `weightedmean`, `cls`) and Normalize modules, the query prompt as the named prompt "query", and
  with a query template the E5 evaluation instructions as per-task prompts (synthembed.evaluation.instructions);
- the folder settings (synthembed.model_folder) record the query template, pooling and what the card needs (its
  facts found at save time, synthembed.card_facts).
"""

from __future__ import annotations

import contextlib
import copy
import errno
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from synthembed.card_facts import with_card_facts
from synthembed.configs import DataArguments, ModelArguments
from synthembed.model_folder import (
    COMPLETION_FILES,
    MTEB_TASK_TYPES,
    FolderSettings,
    task_type_prefix,
    write_settings,
)

logger = logging.getLogger(__name__)

ST_POOLING = {"last_token": "lasttoken", "mean": "mean", "weighted_mean": "weightedmean", "cls": "cls"}


def folder_settings(model_args: ModelArguments, data_args: DataArguments, **run) -> FolderSettings:
    """What a model folder records about the run that made it (run: training, learning_curve, matryoshka_dims)."""
    return FolderSettings(
        pooling=model_args.pooling,
        normalize=model_args.normalize,
        query_template=data_args.query_template,
        default_instruction=data_args.default_instruction,
        task_type_prefixes=data_args.task_type_prefixes,
        instruct_symmetric_tasks=data_args.instruct_symmetric_tasks,
        max_seq_length=data_args.max_seq_length,
        base_model=model_args.model_name_or_path,
        datasets=[str(entry["path"]) for entry in data_args.dataset_mixture],
        license=model_args.card_license,
        language=model_args.card_language,
        **run,
    )


def eos_appending_tokenizer(tokenizer):
    """A copy of a fast tokenizer whose post-processor ends every text with EOS (keeping BOS if it added one)."""
    from tokenizers import processors

    tok = copy.deepcopy(tokenizer)
    bos, eos = tok.bos_token, tok.eos_token
    adds_bos = bos is not None and tok("a")["input_ids"][:1] == [tok.bos_token_id]
    prefix = f"{bos} " if adds_bos else ""
    special = [(eos, tok.eos_token_id)] + ([(bos, tok.bos_token_id)] if adds_bos else [])
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{prefix}$A {eos}", pair=f"{prefix}$A {eos} $B {eos}", special_tokens=special
    )
    return tok


@contextlib.contextmanager
def without_zero3_init():
    """Build plain CPU models on one rank while a ZeRO-3 run is active (zero.Init would wait for all ranks)."""
    from transformers.integrations import deepspeed as hf_deepspeed

    saved = hf_deepspeed._hf_deepspeed_config_weak_ref
    hf_deepspeed._hf_deepspeed_config_weak_ref = None
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = saved


def merged_backbone(state_dict: dict[str, torch.Tensor], model_args: ModelArguments, config):
    """Rebuild the backbone on the CPU from its config, load the trained weights, merge LoRA. Works for ZeRO-3 too,
    where the live model holds only parameter shards and the trainer hands over the gathered state dict."""
    from transformers import AutoModel

    from synthembed.modeling import add_lora

    dtype = next(iter(state_dict.values())).dtype if state_dict else torch.float32
    backbone = AutoModel.from_config(config, dtype=dtype)
    if model_args.use_lora:
        backbone = add_lora(backbone, model_args)
    weights = {k.removeprefix("backbone."): v for k, v in state_dict.items()}
    missing, unexpected = backbone.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"saved state dict does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return backbone.merge_and_unload() if model_args.use_lora else backbone, backbone


def task_type_prompts(prefixes: dict[str, str]) -> dict[str, str]:
    """SentenceTransformer prompts keyed by mteb task type (`<Type>-query` for Retrieval: its documents fall through
    to `document`, no prompt; `<Type>` for every input of the others), as the E5 protocol places instructions."""
    return {
        f"{mteb_type}-query" if mteb_type == "Retrieval" else mteb_type: task_type_prefix(prefixes, mteb_type)
        for mteb_type in MTEB_TASK_TYPES
    }


@without_zero3_init()
def export_sentence_transformer(
    state_dict: dict[str, torch.Tensor],
    config,
    tokenizer,
    model_args: ModelArguments,
    data_args: DataArguments,
    output_dir: str | os.PathLike,
    save_adapter: bool = False,
    settings: FolderSettings | None = None,
) -> Path:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    backbone, with_adapter = merged_backbone(state_dict, model_args, config)
    if save_adapter and model_args.use_lora:
        with_adapter.save_pretrained(output_dir / "adapter")
    backbone.save_pretrained(output_dir)
    if model_args.pooling == "last_token":
        tokenizer = eos_appending_tokenizer(tokenizer)
    tokenizer.save_pretrained(output_dir)

    transformer = Transformer(str(output_dir), max_seq_length=data_args.max_seq_length)
    modules = [
        transformer,
        Pooling(transformer.get_embedding_dimension(), pooling_mode=ST_POOLING[model_args.pooling]),
    ]
    if model_args.normalize:
        modules.append(Normalize())
    settings = settings or folder_settings(model_args, data_args)
    prompts = {"query": settings.default_prompt(), "document": ""}
    if settings.task_type_prefixes is not None:  # the "w/ task type prefix" ablation: one prompt per mteb task type
        prompts |= task_type_prompts(settings.task_type_prefixes)
    elif settings.template:  # the E5 evaluation protocol as per-task prompts, for plain mteb on this folder
        from synthembed.evaluation.instructions import sentence_transformer_prompts

        prompts = sentence_transformer_prompts(
            settings.template, settings.default_instruction, settings.instruct_symmetric_tasks
        )
    SentenceTransformer(modules=modules, prompts=prompts).save(str(output_dir))
    # The card's facts (license, languages) are found here, where training ran, and recorded once with the settings.
    write_settings(output_dir, with_card_facts(settings))
    logger.info("Saved a SentenceTransformer folder to %s", output_dir)
    return output_dir


# ---- writing folders whole ---------------------------------------------------------------------------------------
SAVING_PREFIX = "_saving."  # the Trainer's pushes skip "_*" names: a folder a kill left behind is never uploaded


def save_folder_atomically(folder: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """`write(tmp)` into a fresh folder inside `folder`, then rename what it wrote into `folder`.

    `folder` is the run's output_dir, which also holds checkpoints and logs, so the model's files move in one by one
    rather than the folder being swapped: the previous model's completion files (model_folder.COMPLETION_FILES) go
    first, the new ones come last. A full disk or any error while writing leaves `folder` as it was, without half a
    model; the renames take no space, and a folder that has the completion files received everything else first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{SAVING_PREFIX}*"):  # left by a run killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=SAVING_PREFIX))
    try:
        write(tmp)
        for name in COMPLETION_FILES:
            (folder / name).unlink(missing_ok=True)
        last = {name: i + 1 for i, name in enumerate(COMPLETION_FILES)}  # modules.json the very last
        for entry in sorted(tmp.iterdir(), key=lambda p: last.get(p.name, 0)):
            target = folder / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)  # os.replace cannot put a folder over a non-empty one
            os.replace(entry, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


class SaveFailed(Exception):
    """Writing a checkpoint or the model folder failed at the OS level; the message is one line naming the folder."""


DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
DISK_FULL_TEXTS = ("No space left", "os error 28", "Disk quota exceeded", "os error 122")
# torch.save's C++ writer drops errno: a failed write reads "unexpected pos" or "file write failed"
TORCH_WRITE_FAILED = ("unexpected pos", "file write failed", "PytorchStreamWriter failed")
LOW_SPACE = 256 * 2**20  # a torch write failure with less than this left is the disk filling up


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Free space on the file system that holds `folder` (or its nearest existing parent); None if unknown."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def save_failure(error: BaseException, folder: str | os.PathLike) -> SaveFailed | None:
    """A one-line SaveFailed for an error raised while writing `folder` (None: not a write failure, let it raise)."""
    chain = list(_chain(error))
    texts = [str(e) for e in chain]
    disk_full = any(isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS for e in chain) or any(
        mark in text for text in texts for mark in DISK_FULL_TEXTS
    )
    torch_write = any(mark in text for text in texts for mark in TORCH_WRITE_FAILED)
    free = free_bytes(folder)
    if torch_write and not disk_full and free is not None and free < LOW_SPACE:
        disk_full = True
    if disk_full:
        left = "" if free is None else f" ({free / 2**20:.0f} MiB free)"
        return SaveFailed(
            f"No space left on device writing {folder}{left}: free some space and run the same command again"
        )
    os_error = next((e for e in chain if isinstance(e, OSError)), None)
    if os_error is not None or torch_write:
        reason = " ".join(str(os_error or error).split())
        return SaveFailed(f"could not write {folder}: {reason}")
    return None
