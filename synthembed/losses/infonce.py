"""InfoNCE with in-batch and hard negatives, τ = 0.02 (Wang et al., 2024, §3, Eq. 2–3): a function of embeddings.

For B local queries, B positives (one per query) and M hard negatives (any number; rows without one add none),
gathered over W processes when `gather_across_devices`:

    candidates = [positives of rank 0, 1, …, W-1 ; negatives of rank 0, 1, …, W-1]     # [ΣB + ΣM, d]
    logits     = cos(q_i, candidates) / τ                                           # [B, ΣB + ΣM]
    target(i)  = (positives before this rank) + i

Optionally a candidate whose text equals the query's positive (same text id) is masked out: a duplicate label or a
repeated sentence elsewhere in the batch is not a negative; and so is the positive of another row with the same query
(one English sentence paired with its translations into several languages, which a task-homogeneous batch gathers).
How the embeddings are computed (in chunks, with GradCache) is not the loss's business: see synthembed.embedding and
synthembed.grad_cache.

Matryoshka (Kusupati et al., 2022): with `matryoshka_dims` [d1 > d2 > …] the loss is Σ_k w_k · InfoNCE over the first
d_k coordinates of every embedding, re-normalized. The candidates are gathered once at full width and truncated
after, so one all-gather serves every prefix (and its backward sums the prefixes' gradients); the false-negative
mask and the labels do not depend on the width. Written here rather than with sentence-transformers' MatryoshkaLoss,
which wraps its own losses (models and features, not embeddings) and could not share this gather or GradCache.

What 2025-26 small embedders add, each off by default (checked against sentence-transformers where it has the same
definition: tests/test_losses_beyond_e5.py):

- `hardness_alpha` α (EmbeddingGemma, Schechter Vera et al., 2025: α = 5): each query's own hard negatives weigh
  exp(α · stopgrad(cos(q, d⁻))) in the softmax denominator, i.e. α · stopgrad(cos) is added to their logits
  (sentence-transformers' `MultipleNegativesRankingLoss(hardness_mode="hard_negatives", hardness_strength=α)`).
- `false_negative_margin` m (Qwen3-Embedding: 0.1): a candidate other than the positive whose cosine with the query
  exceeds the positive's + m is dropped from that query's softmax (a likely unlabeled positive), at every width.
- `gor_weight` (Zhang et al., 2017; EmbeddingGemma's spread-out regulariser): the second moment of the cosines among
  the batch's queries and among its positives, above 1/d (relu(M₂ − 1/d), summed over the two, as
  `GlobalOrthogonalRegularizationLoss(mean_weight=0, aggregation="sum")`), over the whole gathered batch.
- distillation (`distill_weight` > 0 and teacher embeddings passed in): KL(teacher ‖ student) between the softmaxes of
  the teacher's cosines / `distill_temperature` and the student's / τ over the same candidates (masked ones left
  out), mean over queries; `distill_weights` [B] gives rows their own weight (a mixture entry's `distill_weight`;
  NaN: the global one; under `distill_texts="all"` a row's positive and negatives weigh as its query). Teacher
  embeddings may have another width: only scores are compared.
  sentence-transformers' `DistillKLDivLoss` is the same KL over one query's (positive, negatives) times τ².
  `distill_texts="all"` distils the batch's whole similarity structure instead: every text (query, positive,
  negative) is a row, its candidates every other text of the gathered batch (itself left out, no mask), so the
  student also learns the teacher's query–query and document–document similarities (the relations STS scores and
  that a score distribution over one query's candidates never shows). Written here: no library loss takes a batch's
  texts against each other with a teacher (tests/test_losses_beyond_e5.py checks it against a naive loop).
- graded pairs (`pair_scores`, from mixture entries with `graded: true`; NaN for the other rows): CoSENT over the
  gathered batch's graded pairs, each pair's cosine ranked as its score, added to the InfoNCE mean over the other
  rows (a graded pair is nobody's InfoNCE query; its texts stay candidates). sentence-transformers' `CoSENTLoss`
  with scale 1/τ on the same pairs; written here to share the gather and the mixed batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from synthembed.distributed import gather_no_grad, gather_with_grad, is_distributed

DISTILL_TEXTS = ("queries", "all")


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
        hardness_alpha: float = 0.0,
        false_negative_margin: float | None = None,
        gor_weight: float = 0.0,
        distill_weight: float = 0.0,
        distill_temperature: float | None = None,
        distill_texts: str = "queries",
    ):
        super().__init__()
        if hardness_alpha < 0 or gor_weight < 0 or distill_weight < 0:
            raise ValueError("hardness_alpha, gor_weight and distill_weight must be >= 0")
        if distill_temperature is not None and distill_temperature <= 0:
            raise ValueError(f"distill_temperature must be > 0, got {distill_temperature}")
        if distill_texts not in DISTILL_TEXTS:
            raise ValueError(f"distill_texts must be one of {DISTILL_TEXTS}, got {distill_texts!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if matryoshka_weights is not None and len(matryoshka_weights) != len(matryoshka_dims or []):
            raise ValueError("matryoshka_weights needs one weight per entry of matryoshka_dims")
        self.temperature = temperature
        self.gather_across_devices = gather_across_devices
        self.mask_false_negatives = mask_false_negatives
        self.matryoshka_dims = list(matryoshka_dims) if matryoshka_dims else None
        self.matryoshka_weights = list(matryoshka_weights or [1.0] * len(self.matryoshka_dims or []))
        self.hardness_alpha, self.false_negative_margin = hardness_alpha, false_negative_margin
        self.gor_weight, self.distill_weight = gor_weight, distill_weight
        self.distill_temperature = distill_temperature or temperature
        self.distill_texts = distill_texts

    def forward(
        self,
        query: torch.Tensor,  # [B, d]
        positive: torch.Tensor,  # [B, d]
        negative: torch.Tensor | None = None,  # [M, d]
        positive_ids: torch.Tensor | None = None,  # [B] int64 text ids, for false-negative masking
        negative_ids: torch.Tensor | None = None,  # [M]
        negative_owners: torch.Tensor | None = None,  # [M] int64: the local row whose hard negative each one is
        query_ids: torch.Tensor | None = None,  # [B] int64 text ids of the bare queries, for false-negative masking
        teacher_query: torch.Tensor | None = None,  # [B, d_t] teacher embeddings, for distillation
        teacher_positive: torch.Tensor | None = None,  # [B, d_t]
        teacher_negative: torch.Tensor | None = None,  # [M, d_t]
        pair_scores: torch.Tensor | None = None,  # [B] a graded pair's score (CoSENT), NaN where not graded
        distill_weights: torch.Tensor | None = None,  # [B] a row's distillation weight, NaN: `distill_weight`
    ) -> LossOutput:
        if negative is None:
            negative = positive.new_zeros((0, positive.shape[1]))
            negative_ids = None if positive_ids is None else positive_ids.new_zeros((0,))
            negative_owners = None
        local_negatives = negative.shape[0]
        query, positive, negative = (F.normalize(x, dim=-1) for x in (query, positive, negative))
        local_query, local_positive, local_negative = query, positive, negative
        gather = self.gather_across_devices and is_distributed()
        offset, negative_offset = 0, 0
        if gather:  # full-width embeddings: every Matryoshka prefix is cut from this one gather
            positive, offset = gather_with_grad(positive)
            negative, negative_offset = gather_with_grad(negative)
        candidates = torch.cat([positive, negative])  # [C, d], full width
        rows = torch.arange(query.shape[0], device=query.device)
        labels = rows + offset
        own_negatives = None  # [B, C] bool: each query's own hard negatives (hardness weighting)
        if self.hardness_alpha > 0 and local_negatives:
            if negative_owners is None:
                raise ValueError("hardness_alpha needs negative_owners (the row of each hard negative)")
            own_negatives = torch.zeros((query.shape[0], candidates.shape[0]), dtype=torch.bool, device=query.device)
            columns = positive.shape[0] + negative_offset + torch.arange(local_negatives, device=query.device)
            own_negatives[negative_owners.to(query.device), columns] = True

        masked = query.new_zeros((query.shape[0], candidates.shape[0]), dtype=torch.bool)
        if self.mask_false_negatives and positive_ids is not None:
            candidate_ids = torch.cat([positive_ids, negative_ids])
            if gather:
                candidate_ids = torch.cat([gather_no_grad(positive_ids), gather_no_grad(negative_ids)])
            masked = candidate_ids[None, :] == positive_ids[:, None]
            if query_ids is not None:  # another row's positive for the same query is a positive too
                all_query_ids = gather_no_grad(query_ids) if gather else query_ids
                masked[:, : positive.shape[0]] |= all_query_ids[None, :] == query_ids[:, None]
            masked[rows, labels] = False
        if self.false_negative_margin is not None:  # at full width, so the mask is the same for every prefix
            with torch.no_grad():
                cosine = query @ candidates.T
                likely_positive = cosine > cosine[rows, labels][:, None] + self.false_negative_margin
                likely_positive[rows, labels] = False
            masked = masked | likely_positive

        # Sum over local queries / global query count × world size: after DDP's mean over ranks this is the mean
        # over all queries, also when ranks hold unequal batches. Graded pairs are CoSENT's, not InfoNCE's queries.
        graded = None
        if pair_scores is not None:
            pair_scores = pair_scores.to(query.device)
            graded = ~torch.isnan(pair_scores)
        contrastive = query.new_tensor(float(query.shape[0]) if graded is None else float((~graded).sum()))
        total = query.new_tensor(float(query.shape[0]))
        world = 1
        if gather:
            world = torch.distributed.get_world_size()
            total, contrastive = gather_no_grad(torch.stack([total, contrastive]).view(1, 2)).sum(0)

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
            scores = cosine / self.temperature
            if own_negatives is not None:  # + α·stopgrad(cos): weight exp(α·cos) in the denominator
                scores = scores + self.hardness_alpha * cosine.detach() * own_negatives
            scores = scores.masked_fill(masked, torch.finfo(cosine.dtype).min)
            per_query = F.cross_entropy(scores, labels, reduction="none")  # [B]
            cosent = None
            if graded is not None:  # every rank computes the same global CoSENT; the gather's backward sums it back
                per_query = per_query.masked_fill(graded, 0.0)
                cosent = self._cosent(cosine[rows, labels], pair_scores, gather)
            term = per_query.sum() * world / contrastive.clamp(min=1)
            if cosent is not None:
                term = term + cosent
            loss = weight * term if loss is None else loss + weight * term
            if not metrics:  # the widest prefix's retrieval metrics
                metrics = self._metrics(scores, cosine, masked, rows, labels)
            if self.matryoshka_dims:
                metrics[f"loss_dim{dim}"] = term.detach()
            if cosent is not None:
                metrics.setdefault("cosent", cosent.detach())  # the widest prefix's
        if teacher_query is not None and (self.distill_weight > 0 or distill_weights is not None):
            if teacher_negative is None:
                teacher_negative = teacher_positive.new_zeros((0, teacher_positive.shape[1]))
            teachers = (teacher_query, teacher_positive, teacher_negative)
            weights = self.distill_weight
            if distill_weights is not None:  # the mixture entries' own weights, NaN: the global one
                distill_weights = distill_weights.to(query)
                weights = torch.where(torch.isnan(distill_weights), self.distill_weight, distill_weights)
            if self.distill_texts == "all":
                local = (local_query, local_positive, local_negative)
                offsets = (offset, negative_offset, positive.shape[0])
                kl = self._distill_all_texts(local, candidates, offsets, gather, teachers)
                if distill_weights is not None:  # a row's positive and hard negatives weigh as its query
                    if local_negatives and negative_owners is None:
                        raise ValueError("distill_weights needs negative_owners (the row of each hard negative)")
                    owners = weights[negative_owners.to(weights.device)] if local_negatives else weights[:0]
                    weights = torch.cat([weights, weights, owners])
                texts = query.new_tensor(float(kl.shape[0]))
                count = (gather_no_grad(texts.view(1)).sum() if gather else texts) / world
            else:
                kl = self._distillation(query @ candidates.T, masked, teachers, gather)
                count = total / world
            term = kl.sum() / count
            loss = loss + (weights * kl).sum() / count
            metrics["distill_kl"] = term.detach()
        if self.gor_weight > 0:
            term = self._spread_out(local_query, gather) + self._spread_out(local_positive, gather)
            loss = loss + self.gor_weight * term
            metrics["gor"] = term.detach()
        return LossOutput(loss=loss, metrics=metrics)

    def _distillation(self, cosine, masked, teachers, gather) -> torch.Tensor:
        """[B] KL(p_teacher ‖ p_student) per query over the candidates (masked ones have probability 0 in both)."""
        teacher_query, *teacher = (F.normalize(t.to(cosine.dtype), dim=-1) for t in teachers)
        if gather:
            teacher = [gather_no_grad(t) for t in teacher]
        return self._kl(teacher_query @ torch.cat(teacher).T, cosine, masked)

    def _kl(self, teacher_cosine, student_cosine, masked) -> torch.Tensor:
        """Per row, KL between the softmaxes of the teacher's cosines / distill_temperature and the student's / τ,
        the `masked` candidates left out of both."""
        lowest = torch.finfo(student_cosine.dtype).min
        teacher_log_p = (teacher_cosine / self.distill_temperature).masked_fill(masked, lowest).log_softmax(-1)
        student_log_p = (student_cosine / self.temperature).masked_fill(masked, lowest).log_softmax(-1)
        return F.kl_div(student_log_p, teacher_log_p, log_target=True, reduction="none").sum(-1)

    def _distill_all_texts(self, local, candidates, offsets, gather, teacher_local) -> torch.Tensor:
        """[L] KL per local text (its queries, positives, negatives) over every text of the gathered batch but itself.
        `candidates` = [all positives; all negatives] as gathered by `forward`; `offsets` = where this rank's
        positives and negatives start among them, and how many positives there are."""
        query, positive, negative = local
        offset, negative_offset, all_positives = offsets
        teacher = [F.normalize(t.to(query.dtype), dim=-1) for t in teacher_local]
        queries, query_offset = gather_with_grad(query) if gather else (query, 0)
        teacher_columns = torch.cat([gather_no_grad(t) for t in teacher] if gather else teacher)
        columns = torch.cat([queries, candidates])
        starts = (query_offset, queries.shape[0] + offset, queries.shape[0] + all_positives + negative_offset)
        own = torch.cat([start + torch.arange(x.shape[0]) for start, x in zip(starts, local)]).to(query.device)
        rows = torch.cat(local)
        itself = torch.zeros((rows.shape[0], columns.shape[0]), dtype=torch.bool, device=query.device)
        itself[torch.arange(rows.shape[0], device=query.device), own] = True
        return self._kl(torch.cat(teacher) @ teacher_columns.T, rows @ columns.T, itself)

    def _cosent(self, pair_cosine: torch.Tensor, pair_scores: torch.Tensor, gather: bool) -> torch.Tensor:
        """CoSENT (Su, 2022) over the (gathered) batch's graded pairs: log(1 + Σ_{s_i > s_j} exp(λ(cos_j − cos_i))),
        λ = 1/τ (sentence-transformers' CoSENTLoss with scale 1/τ: its default 20 is the recipe's τ = 0.05). Rows
        with a NaN score (not graded) take no part; a batch with fewer than two graded pairs adds 0."""
        if gather:
            pair_cosine, _ = gather_with_grad(pair_cosine[:, None])
            pair_cosine, pair_scores = pair_cosine[:, 0], gather_no_grad(pair_scores[:, None])[:, 0]
        keep = ~torch.isnan(pair_scores)
        cosine, scores = pair_cosine[keep], pair_scores[keep]
        if cosine.dtype in (torch.float16, torch.bfloat16):  # as CoSENTLoss: exp of differences up to 2/τ
            cosine = cosine.float()
        cosine = cosine / self.temperature
        above = scores[:, None] > scores[None, :]  # (i, j): pair i is scored above pair j
        differences = (cosine[None, :] - cosine[:, None])[above]  # λ(cos_j − cos_i)
        return torch.logsumexp(torch.cat([differences.new_zeros(1), differences]), dim=0)

    @staticmethod
    def _spread_out(embeddings: torch.Tensor, gather: bool) -> torch.Tensor:
        """relu(M₂ − 1/d): M₂ the mean squared cosine between distinct rows of the (gathered) batch. Every rank
        computes the same global value; gather_with_grad's backward sums it back onto each rank's own rows."""
        if gather:
            embeddings, _ = gather_with_grad(embeddings)
        n, d = embeddings.shape
        cosine = embeddings @ embeddings.T
        off_diagonal = cosine.pow(2).sum() - cosine.diagonal().pow(2).sum()
        return torch.relu(off_diagonal / max(n * (n - 1), 1) - 1.0 / d)

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
