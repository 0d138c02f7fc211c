"""InfoNCE with in-batch and hard negatives, τ = 0.02 (Wang et al., 2024, §3, Eq. 2–3): a function of embeddings.

For B local queries, B positives (one per query) and M hard negatives (any number; rows without one add none),
gathered over W processes when `gather_across_devices`:

    candidates = [positives of rank 0, 1, …, W-1 ; negatives of rank 0, 1, …, W-1]     # [ΣB + ΣM, d]
    logits     = cos(q_i, candidates) / τ                                           # [B, ΣB + ΣM]
    target(i)  = (positives before this rank) + i

Optionally a candidate whose text equals the query's positive (same text id) is masked out: a duplicate label or a
repeated sentence elsewhere in the batch is not a negative. How the embeddings are computed (in chunks, with
GradCache) is not the loss's business: see synthembed.embedding and synthembed.grad_cache.

Matryoshka (Kusupati et al., 2022): with `matryoshka_dims` [d1 > d2 > …] the loss is Σ_k w_k · InfoNCE over the first
d_k coordinates of every embedding, re-normalized. The candidates are gathered once at full width and truncated
after, so one all-gather serves every prefix (and its backward sums the prefixes' gradients); the false-negative
mask and the labels do not depend on the width. Written here rather than with sentence-transformers' MatryoshkaLoss,
which wraps its own losses (models and features, not embeddings) and could not share this gather or GradCache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

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
        mask_false_negatives=False,
        matryoshka_dims: list[int] | None = None,
        matryoshka_weights: list[float] | None = None,
    ):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if matryoshka_weights is not None and len(matryoshka_weights) != len(matryoshka_dims or []):
            raise ValueError("matryoshka_weights needs one weight per entry of matryoshka_dims")
        self.temperature = temperature
        self.gather_across_devices = gather_across_devices
        self.mask_false_negatives = mask_false_negatives
        self.matryoshka_dims = list(matryoshka_dims) if matryoshka_dims else None
        self.matryoshka_weights = list(matryoshka_weights or [1.0] * len(self.matryoshka_dims or []))

    def forward(
        self,
        query: torch.Tensor,  # [B, d]
        positive: torch.Tensor,  # [B, d]
        negative: torch.Tensor | None = None,  # [M, d]
        positive_ids: torch.Tensor | None = None,  # [B] int64 text ids, for false-negative masking
        negative_ids: torch.Tensor | None = None,  # [M]
    ) -> LossOutput:
        if negative is None:
            negative = positive.new_zeros((0, positive.shape[1]))
            negative_ids = None if positive_ids is None else positive_ids.new_zeros((0,))
        query, positive, negative = (F.normalize(x, dim=-1) for x in (query, positive, negative))
        gather = self.gather_across_devices and is_distributed()
        offset = 0
        if gather:  # full-width embeddings: every Matryoshka prefix is cut from this one gather
            positive, offset = gather_with_grad(positive)
            negative, _ = gather_with_grad(negative)
        candidates = torch.cat([positive, negative])  # [C, d], full width
        rows = torch.arange(query.shape[0], device=query.device)
        labels = rows + offset

        masked = query.new_zeros((query.shape[0], candidates.shape[0]), dtype=torch.bool)
        if self.mask_false_negatives and positive_ids is not None:
            candidate_ids = torch.cat([positive_ids, negative_ids])
            if gather:
                candidate_ids = torch.cat([gather_no_grad(positive_ids), gather_no_grad(negative_ids)])
            masked = candidate_ids[None, :] == positive_ids[:, None]
            masked[rows, labels] = False

        # Sum over local queries / global query count × world size: after DDP's mean over ranks this is the mean
        # over all queries, also when ranks hold unequal batches.
        total = query.new_tensor(float(query.shape[0]))
        world = 1
        if gather:
            total, world = gather_no_grad(total.view(1)).sum(), torch.distributed.get_world_size()

        full = query.shape[1]
        widths = list(zip(self.matryoshka_dims, self.matryoshka_weights)) if self.matryoshka_dims else [(full, 1.0)]
        loss, metrics = None, {}
        for dim, weight in widths:
            if dim > full:
                raise ValueError(f"matryoshka dimension {dim} exceeds the embedding width {full}")
            q, c = query, candidates
            if dim < full:  # the prefix, re-normalized (normalize(x)[:d] ∝ x[:d])
                q, c = F.normalize(query[:, :dim], dim=-1), F.normalize(candidates[:, :dim], dim=-1)
            cosine = q @ c.T  # [B, C]
            scores = (cosine / self.temperature).masked_fill(masked, torch.finfo(cosine.dtype).min)
            per_query = F.cross_entropy(scores, labels, reduction="none")  # [B]
            term = per_query.sum() * world / total
            loss = weight * term if loss is None else loss + weight * term
            if not metrics:  # the widest prefix's retrieval metrics
                metrics = self._metrics(scores, cosine, masked, rows, labels)
            if self.matryoshka_dims:
                metrics[f"loss_dim{dim}"] = term.detach()
        return LossOutput(loss=loss, metrics=metrics)

    @staticmethod
    @torch.no_grad()
    def _metrics(scores, cosine, masked, rows, labels) -> dict[str, torch.Tensor]:
        others = ~masked
        others[rows, labels] = False
        return {
            "accuracy": (scores.argmax(dim=1) == labels).float().mean(),
            "positive_similarity": cosine[rows, labels].mean(),
            "negative_similarity": (cosine * others).sum() / others.sum().clamp(min=1),
        }
