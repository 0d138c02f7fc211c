"""InfoNCE with in-batch and hard negatives, τ = 0.02 (Wang et al., 2024, Eq. 2–3; spec §5.3).

For B local queries, P positives (one per query) and M hard negatives (any number, rows without one contribute none):

    candidates = [positives of rank 0, 1, …, W-1 ; negatives of rank 0, 1, …, W-1]     # built explicitly (§8.4.1)
    logits     = cos(q_i, candidates) / τ                                           # [B, ΣP + ΣM]
    target(i)  = rank offset + i                                                    # (§8.4.2)

Optionally, a candidate whose text equals the query's positive (same id) is masked out: a duplicate label or
paraphrase elsewhere in the batch is not a negative (spec §8.9).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from synthembed.chunking import Chunk, make_chunks, pool_features
from synthembed.distributed import gather_no_grad, gather_with_grad, is_distributed


@dataclass
class LossOutput:
    loss: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


class InfoNCELoss(nn.Module):
    def __init__(
        self,
        temperature: float = 0.02,
        gather_across_devices: bool = True,
        mask_false_negatives: bool = False,
        chunk_size: int | None = None,
        token_budget: int | None = None,
        pad_to_multiple_of: int | None = None,
    ):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        for name, value in (("chunk_size", chunk_size), ("token_budget", token_budget)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        self.temperature = temperature
        self.gather_across_devices = gather_across_devices
        self.mask_false_negatives = mask_false_negatives
        self.chunk_size, self.token_budget = chunk_size, token_budget
        self.pad_to_multiple_of = pad_to_multiple_of  # None: 8 on CUDA (tensor cores), 1 elsewhere

    # ---- embedding --------------------------------------------------------------------------------------------
    def chunks(self, batch: dict) -> list[Chunk]:
        """All texts of the step (queries, then positives and negatives) in length-sorted chunks of `chunk_size` rows
        and/or `token_budget` padded tokens, each padded to its own longest text; the same count on every rank
        (every forward is collective under ZeRO-3)."""
        pooled = pool_features([batch["query"], batch["documents"]])
        device = pooled["attention_mask"].device
        multiple = self.pad_to_multiple_of or (8 if device.type == "cuda" else 1)
        kwargs = {"chunk_size": self.chunk_size, "token_budget": self.token_budget, "pad_to_multiple_of": multiple}
        chunks = make_chunks(pooled, **kwargs)
        if is_distributed():
            count = torch.tensor([len(chunks)], device=device)
            torch.distributed.all_reduce(count, op=torch.distributed.ReduceOp.MAX)
            if int(count) > len(chunks):
                chunks = make_chunks(pooled, min_chunks=int(count), **kwargs)
        return chunks

    @staticmethod
    def _assemble(chunks: list[Chunk], outputs: list[torch.Tensor]) -> torch.Tensor:
        """Chunk outputs back into batch order: [queries; positives; negatives]."""
        total = sum(len(c.rows) for c in chunks if not c.filler)
        full = outputs[0].new_empty((total, outputs[0].shape[-1]))
        for chunk, out in zip(chunks, outputs):
            if not chunk.filler:
                full[chunk.rows] = out
        return full

    def _loss_on_embeddings(self, embeddings: torch.Tensor, batch: dict) -> LossOutput:
        b = batch["query"]["attention_mask"].shape[0]
        ids = (batch.get("positive_ids"), batch.get("negative_ids"))
        return self(embeddings[:b], embeddings[b : 2 * b], embeddings[2 * b :], *ids)

    def from_model(self, model: nn.Module, batch: dict) -> LossOutput:
        """Embed a collated batch (see synthembed.data.ContrastiveCollator) and compute the loss, in one graph.

        Without chunk settings: one forward for the queries, one for the documents. With them: length-sorted chunks,
        which pad far less when lengths vary (same loss, same gradients)."""
        if self.chunk_size is None and self.token_budget is None:
            query = model(**batch["query"])  # [B, d]
            documents = model(**batch["documents"])  # [B positives + M negatives, d]
            b = query.shape[0]
            return self(query, documents[:b], documents[b:], batch.get("positive_ids"), batch.get("negative_ids"))
        chunks = self.chunks(batch)
        return self._loss_on_embeddings(self._assemble(chunks, [model(**c.features) for c in chunks]), batch)

    def forward(
        self,
        query: torch.Tensor,  # [B, d]
        positive: torch.Tensor,  # [B, d]
        negative: torch.Tensor | None = None,  # [M, d]
        positive_ids: torch.Tensor | None = None,  # [B] int64 text hashes, for false-negative masking
        negative_ids: torch.Tensor | None = None,  # [M]
    ) -> LossOutput:
        if negative is None:
            negative = positive.new_zeros((0, positive.shape[1]))
            negative_ids = None if positive_ids is None else positive_ids.new_zeros((0,))
        query, positive, negative = (F.normalize(x, dim=-1) for x in (query, positive, negative))
        gather = self.gather_across_devices and is_distributed()
        if gather:
            positive, offset = gather_with_grad(positive)
            negative, _ = gather_with_grad(negative)
        else:
            offset = 0
        candidates = torch.cat([positive, negative], dim=0)  # [ΣP + ΣM, d]
        cosine = query @ candidates.T  # [B, C]
        labels = torch.arange(query.shape[0], device=query.device) + offset
        rows = torch.arange(query.shape[0], device=query.device)

        scores = cosine / self.temperature
        masked = torch.zeros_like(cosine, dtype=torch.bool)
        if self.mask_false_negatives and positive_ids is not None:
            candidate_ids = torch.cat([positive_ids, negative_ids])
            if gather:
                candidate_ids = torch.cat([gather_no_grad(positive_ids), gather_no_grad(negative_ids)])
            masked = candidate_ids[None, :] == positive_ids[:, None]
            masked[rows, labels] = False
            scores = scores.masked_fill(masked, torch.finfo(scores.dtype).min)

        per_query = F.cross_entropy(scores, labels, reduction="none")
        # Sum over local queries / global query count, times the world size: after DDP's mean over ranks this is
        # the mean over all queries, also when ranks hold unequal batches.
        total = per_query.new_tensor(float(query.shape[0]))
        if gather:
            total = gather_no_grad(total.view(1)).sum()
        world = torch.distributed.get_world_size() if gather else 1
        loss = per_query.sum() * world / total

        with torch.no_grad():
            other = ~masked
            other[rows, labels] = False
            metrics = {
                "accuracy": (scores.argmax(dim=1) == labels).float().mean(),
                "positive_similarity": cosine[rows, labels].mean(),
                "negative_similarity": (cosine * other).sum() / other.sum().clamp(min=1),
            }
        return LossOutput(loss=loss, metrics=metrics)
