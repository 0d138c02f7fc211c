"""An embedding model: a Hugging Face backbone (decoder or encoder) + pooling, optionally with LoRA adapters."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from synthembed.configs import ModelArguments

logger = logging.getLogger(__name__)


def resolve_model_dir(model_args: ModelArguments) -> str:
    """The folder (or Hub id) to load: a GGUF file is dequantized once into a cached transformers folder."""
    if not model_args.gguf_file:
        return model_args.model_name_or_path
    from synthembed.gguf import DEFAULT_CACHE, convert_gguf

    gguf = Path(model_args.gguf_file)
    if not gguf.is_absolute() and os.path.isdir(model_args.model_name_or_path):
        gguf = Path(model_args.model_name_or_path) / gguf
    return str(convert_gguf(gguf, DEFAULT_CACHE / gguf.stem))


def pick_dtype(name: str) -> torch.dtype:
    if name == "auto":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float32
    return getattr(torch, name)


def last_token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token per row, under left or right padding (never searched by EOS id: pad = EOS)."""
    seq_len = attention_mask.shape[1]
    return seq_len - 1 - attention_mask.flip(dims=[1]).int().argmax(dim=1)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "last_token":
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return hidden[rows, last_token_positions(attention_mask)]
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    if pooling == "weighted_mean":
        # SGPT's position-weighted mean (Muennighoff, 2022; Wang et al., 2024, Table 5): the i-th real token weighs i,
        # counted from the first real token under either padding side (unilm's `weightedavg`, without its in-place
        # change of the mask). Summed in fp32 like sentence-transformers' `weightedmean`, so the saved folder agrees.
        weights = (attention_mask * attention_mask.cumsum(dim=1)).unsqueeze(-1).float()
        pooled = (hidden.float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return pooled.to(hidden.dtype)
    raise ValueError(f"pooling must be last_token, mean, weighted_mean or cls, got {pooling!r}")


class EmbeddingModel(nn.Module):
    """backbone → pooled embedding. Normalization is left to the loss (cosine) and to the saved model."""

    def __init__(self, backbone: nn.Module, pooling: str = "last_token"):
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.config = getattr(backbone, "config", None)  # DeepSpeed's "auto" buckets read hidden_size from here

    @classmethod
    def from_args(cls, model_args: ModelArguments, gradient_checkpointing: bool = False) -> EmbeddingModel:
        from transformers import AutoModel

        kwargs = {"dtype": pick_dtype(model_args.dtype)}
        if model_args.attn_implementation:
            kwargs["attn_implementation"] = model_args.attn_implementation
        path = resolve_model_dir(model_args)
        if model_args.use_bidirectional_attention:
            kwargs["config"] = bidirectional_config(path)
        backbone = AutoModel.from_pretrained(path, **kwargs)
        if hasattr(backbone.config, "use_cache"):
            backbone.config.use_cache = False
        if gradient_checkpointing:
            backbone.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        if model_args.use_lora:
            backbone = add_lora(backbone, model_args)
        elif model_args.freeze_embeddings:
            backbone.get_input_embeddings().requires_grad_(False)
        return cls(backbone, pooling=model_args.pooling)

    accepts_loss_kwargs = False  # tells the Trainer the loss is ours: no token-count rescaling

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids=None) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        return pool(hidden, attention_mask, self.pooling)

    # The Trainer enables activation (gradient) checkpointing through this when `activation_checkpointing: true`.
    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None, **kwargs):
        ckpt_kwargs = activation_checkpointing_kwargs or {"use_reentrant": False}
        self.backbone.activation_checkpointing_enable(activation_checkpointing_kwargs=ckpt_kwargs, **kwargs)

    def activation_checkpointing_disable(self):
        self.backbone.activation_checkpointing_disable()

    @property
    def is_lora(self) -> bool:
        return hasattr(self.backbone, "peft_config")


def bidirectional_config(path: str):
    """The backbone's config with `use_bidirectional_attention` on, built anew so that the config's own set-up runs
    (Gemma-3 halves its sliding window for the symmetric band); the saved config.json carries the flag."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    if not hasattr(config, "use_bidirectional_attention"):
        raise ValueError(
            f"`use_bidirectional_attention`: {type(config).__name__} has no such switch (Gemma-3 and a few other "
            "decoders do)"
        )
    settings = config.to_dict() | {"use_bidirectional_attention": True}
    return type(config).from_dict(settings)


def add_lora(backbone: nn.Module, model_args: ModelArguments) -> nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model

    targets = model_args.lora_target_modules
    config = LoraConfig(
        task_type=TaskType.FEATURE_EXTRACTION,
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        bias="none",
        target_modules="all-linear" if targets == ["all-linear"] else targets,
    )
    model = get_peft_model(backbone, config)
    trainable, total = model.get_nb_trainable_parameters()
    logger.info("LoRA r=%d: %s trainable of %s parameters", model_args.lora_r, f"{trainable:,}", f"{total:,}")
    return model
