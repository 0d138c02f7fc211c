"""Embedding a collated contrastive batch, the one way both training strategies share.

`embed(model, batch, chunking)` returns the embeddings of every text of the step in one tensor, in batch order:

    [B queries ; B positives ; M hard negatives]                                     # [B + B + M, d]

Without chunk settings the queries and the documents are two forwards. With `chunk_size` (rows) and/or
`token_budget` (rows × padded length) the texts of the step are pooled, sorted by length and embedded in chunks
padded to their own longest text (synthembed.chunking): the same embeddings with far less padding. The plain step
embeds all chunks in one autograd graph; the GradCache step (synthembed.grad_cache) embeds the same chunks without
autograd, then again one at a time. Under ZeRO-3 every forward is collective, so every process runs the same
number of chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from synthembed.chunking import Chunk, make_chunks, pool_features
from synthembed.distributed import is_distributed


@dataclass(frozen=True)
class Chunking:
    chunk_size: int | None = None  # most texts per forward
    token_budget: int | None = None  # most padded tokens (rows × padded length) per forward
    pad_to_multiple_of: int | None = None  # None: 8 on CUDA (tensor cores), 1 elsewhere

    def __post_init__(self):
        for name in ("chunk_size", "token_budget"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    @property
    def enabled(self) -> bool:
        return self.chunk_size is not None or self.token_budget is not None


def plan_chunks(batch: dict, chunking: Chunking) -> list[Chunk]:
    """All texts of the step (queries, then positives and negatives) cut into chunks; the same count on every rank."""
    pooled = pool_features([batch["query"], batch["documents"]])
    device = pooled["attention_mask"].device
    multiple = chunking.pad_to_multiple_of or (8 if device.type == "cuda" else 1)
    kwargs = {"chunk_size": chunking.chunk_size, "token_budget": chunking.token_budget, "pad_to_multiple_of": multiple}
    chunks = make_chunks(pooled, **kwargs)
    if is_distributed():
        count = torch.tensor([len(chunks)], device=device)
        torch.distributed.all_reduce(count, op=torch.distributed.ReduceOp.MAX)
        if int(count) > len(chunks):
            chunks = make_chunks(pooled, min_chunks=int(count), **kwargs)
    return chunks


def assemble(chunks: list[Chunk], outputs: list[torch.Tensor]) -> torch.Tensor:
    """Chunk outputs back into batch order (filler chunks dropped)."""
    total = sum(len(c.rows) for c in chunks if not c.filler)
    full = outputs[0].new_empty((total, outputs[0].shape[-1]))
    for chunk, out in zip(chunks, outputs):
        if not chunk.filler:
            full[chunk.rows] = out
    return full


def embed(model: nn.Module, batch: dict, chunking: Chunking | None = None) -> torch.Tensor:
    """[B + B + M, d] embeddings of a collated batch (synthembed.data.ContrastiveCollator), with autograd as set."""
    if chunking is None or not chunking.enabled:
        return torch.cat([model(**batch["query"]), model(**batch["documents"])])
    chunks = plan_chunks(batch, chunking)
    return assemble(chunks, [model(**c.features) for c in chunks])


TEACHER_KEYS = ("teacher_query", "teacher_positive", "teacher_negative")


def split(embeddings: torch.Tensor, batch: dict) -> dict[str, torch.Tensor | None]:
    """The loss's keyword arguments: query / positive / negative embeddings and the text ids for masking."""
    b = batch["query"]["attention_mask"].shape[0]
    return {
        "query": embeddings[:b],  # [B, d]
        "positive": embeddings[b : 2 * b],  # [B, d]
        "negative": embeddings[2 * b :],  # [M, d]
        "query_ids": batch.get("query_ids"),
        "positive_ids": batch.get("positive_ids"),
        "negative_ids": batch.get("negative_ids"),
        "negative_owners": batch.get("negative_owners"),
        "pair_scores": batch.get("pair_scores"),
        "distill_weights": batch.get("distill_weights"),
        **{k: batch[k] for k in TEACHER_KEYS if k in batch},  # added by the trainer when distilling
    }
