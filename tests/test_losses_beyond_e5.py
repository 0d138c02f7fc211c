"""The loss options beyond the paper (hardness weighting, margin false-negative mask, spread-out regulariser,
distillation, CoSENT on graded pairs), each against sentence-transformers' implementation on the same embeddings
where it has the same definition, else against a naive loop; loss and gradients to 1e-6."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from synthembed.losses import InfoNCELoss

TAU = 0.05
st_losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
st_util = pytest.importorskip("sentence_transformers.util")


def make(b, m, d=8, seed=0, dt=None):
    g = torch.Generator().manual_seed(seed)
    q, p = (torch.randn(b, d, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2))
    n = torch.randn(m, d, generator=g, dtype=torch.float64, requires_grad=True)
    if dt is None:
        return q, p, n
    teacher = [torch.randn(k, dt, generator=g, dtype=torch.float64) for k in (b, b, m)]
    return q, p, n, teacher


def assert_same(loss, ref, tensors):
    assert loss.item() == pytest.approx(ref.item(), abs=1e-6)
    for g, r in zip(torch.autograd.grad(loss, tensors, retain_graph=True), torch.autograd.grad(ref, tensors)):
        torch.testing.assert_close(g, r, atol=1e-6, rtol=0)


@pytest.mark.parametrize("alpha", [1.0, 5.0])
def test_hardness_weighting_matches_sentence_transformers(alpha):
    """One hard negative per query, as sentence-transformers lays them out: [positives; negatives], row i's own at B+i."""
    q, p, n = make(6, 6, seed=1)
    ours = InfoNCELoss(TAU, gather_across_devices=False, hardness_alpha=alpha)(
        q, p, n, negative_owners=torch.arange(6)
    )
    st = st_losses.MultipleNegativesRankingLoss(
        None, scale=1 / TAU, hardness_mode="hard_negatives", hardness_strength=alpha
    )
    assert_same(ours.loss, st.compute_loss_from_embeddings([q, p, n], None), (q, p, n))


def test_hardness_weights_only_the_querys_own_negatives():
    """Rows with 0, 2 and 1 hard negatives (the collator's flat layout): written out as exp(α·cos) weights."""
    q, p, n = make(3, 3, seed=2)
    owners, alpha = torch.tensor([1, 1, 2]), 5.0
    out = InfoNCELoss(TAU, hardness_alpha=alpha)(q, p, n, negative_owners=owners)
    cands = torch.cat([p, n])
    total = 0.0
    for i in range(3):
        cos = F.cosine_similarity(q[i][None], cands)
        weight = torch.ones(6, dtype=torch.float64)
        for m, owner in enumerate(owners.tolist()):
            if owner == i:
                weight[3 + m] = torch.exp(alpha * cos[3 + m].detach())
        phi = weight * torch.exp(cos / TAU)
        total = total - torch.log(phi[i] / phi.sum())
    assert_same(out.loss, total / 3, (q, p, n))


@pytest.mark.parametrize("margin", [0.0, 0.1])
def test_margin_false_negative_mask_matches_naive(margin):
    q, p, n = make(8, 8, d=4, seed=3)  # 4 dims: some candidates beat the positive
    out = InfoNCELoss(TAU, false_negative_margin=margin)(q, p, n)
    cands, total, dropped = torch.cat([p, n]), 0.0, 0
    for i in range(8):
        cos = F.cosine_similarity(q[i][None], cands)
        keep = cos.detach() <= cos[i].detach() + margin
        keep[i] = True
        dropped += int((~keep).sum())
        total = total - (cos[i] / TAU - torch.logsumexp(cos[keep] / TAU, 0))
    assert dropped > 0  # the test exercises the mask
    assert_same(out.loss, total / 8, (q, p, n))


def test_spread_out_regulariser_matches_sentence_transformers():
    q, p, n = make(7, 7, d=4, seed=4)
    with torch.no_grad():  # clustered, so the second moment is above 1/d
        q += 1.5
        p += 1.5
    gor = st_losses.GlobalOrthogonalRegularizationLoss(
        None, mean_weight=None, second_moment_weight=1.0, aggregation="sum"
    ).compute_loss_from_embeddings([q, p])["gor_second_moment"]
    assert gor.item() > 0
    plain = InfoNCELoss(TAU)(q, p, n).loss
    with_gor = InfoNCELoss(TAU, gor_weight=0.5)(q, p, n)
    assert_same(with_gor.loss, plain + 0.5 * gor, (q, p, n))
    assert with_gor.metrics["gor"].item() == pytest.approx(gor.item(), abs=1e-9)


def test_distillation_matches_sentence_transformers_kl_for_one_query():
    """One query: the candidates are its positive and negatives, DistillKLDivLoss's setting (which scales by τ²)."""
    q, p, n, (tq, tp, tn) = make(1, 3, seed=5, dt=12)
    loss = InfoNCELoss(TAU, distill_weight=1.0, distill_temperature=0.1)
    out = loss(q, p, n, teacher_query=tq, teacher_positive=tp, teacher_negative=tn)
    teacher_scores = F.cosine_similarity(tq, torch.cat([tp, tn]))[None]  # [1, 4]
    kl = st_losses.DistillKLDivLoss(
        None, similarity_fct=st_util.pairwise_cos_sim, student_temperature=TAU, teacher_temperature=0.1
    )
    ref = kl.compute_loss_from_embeddings([q, p, n[:1], n[1:2], n[2:]], teacher_scores) / TAU**2
    infonce = InfoNCELoss(TAU)(q, p, n).loss
    assert_same(out.loss, infonce + ref, (q, p, n))


def naive_kl_per_query(q, p, n, tq, tp, tn, pos_ids, neg_ids, teacher_temperature=TAU):
    """[B] KL(teacher ‖ student) of each query over its unmasked candidates, one query at a time."""
    cands, tcands, ids = torch.cat([p, n]), torch.cat([tp, tn]), torch.cat([pos_ids, neg_ids])
    kls = []
    for i in range(len(q)):
        keep = ids != pos_ids[i]
        keep[i] = True
        s = F.log_softmax(F.cosine_similarity(q[i][None], cands)[keep] / TAU, 0)
        t = F.softmax(F.cosine_similarity(tq[i][None], tcands)[keep] / teacher_temperature, 0)
        kls.append((t * (t.log() - s)).sum())
    return torch.stack(kls)


def naive_kl_per_text(q, p, n, tq, tp, tn, teacher_temperature=0.1):
    """[B + B + M] KL of each text (queries, positives, negatives) over every other text of the batch."""
    texts, teacher = torch.cat([q, p, n]), torch.cat([tq, tp, tn])
    kls = []
    for i in range(len(texts)):
        others = [j for j in range(len(texts)) if j != i]
        s = F.log_softmax(F.cosine_similarity(texts[i][None], texts[others]) / TAU, 0)
        t = F.softmax(F.cosine_similarity(teacher[i][None], teacher[others]) / teacher_temperature, 0)
        kls.append((t * (t.log() - s)).sum())
    return torch.stack(kls)


def test_distillation_with_in_batch_candidates_and_masks_matches_naive():
    q, p, n, (tq, tp, tn) = make(5, 4, seed=6, dt=3)
    pos_ids, neg_ids = torch.tensor([1, 2, 1, 3, 4]), torch.tensor([9, 2, 8, 7])  # masked duplicates
    loss = InfoNCELoss(TAU, mask_false_negatives=True, distill_weight=0.7)
    out = loss(q, p, n, pos_ids, neg_ids, teacher_query=tq, teacher_positive=tp, teacher_negative=tn)
    kl = naive_kl_per_query(q, p, n, tq, tp, tn, pos_ids, neg_ids)
    plain = InfoNCELoss(TAU, mask_false_negatives=True)(q, p, n, pos_ids, neg_ids).loss
    assert_same(out.loss, plain + 0.7 * kl.mean(), (q, p, n))
    assert out.metrics["distill_kl"].item() == pytest.approx(kl.mean().item(), abs=1e-9)


def test_distillation_of_all_texts_matches_naive():
    """distill_texts="all": each text (queries, positives, negatives) against every other text of the batch."""
    q, p, n, (tq, tp, tn) = make(4, 3, seed=7, dt=5)
    pos_ids, neg_ids = torch.tensor([1, 2, 1, 3]), torch.tensor([9, 2, 8])  # masks change InfoNCE, not this term
    loss = InfoNCELoss(
        TAU, mask_false_negatives=True, distill_weight=0.7, distill_temperature=0.1, distill_texts="all"
    )
    out = loss(q, p, n, pos_ids, neg_ids, teacher_query=tq, teacher_positive=tp, teacher_negative=tn)
    kl = naive_kl_per_text(q, p, n, tq, tp, tn)
    plain = InfoNCELoss(TAU, mask_false_negatives=True)(q, p, n, pos_ids, neg_ids).loss
    assert_same(out.loss, plain + 0.7 * kl.mean(), (q, p, n))
    assert out.metrics["distill_kl"].item() == pytest.approx(kl.mean().item(), abs=1e-9)


@pytest.mark.parametrize("distill_texts", ["queries", "all"])
def test_per_row_distill_weights_match_naive(distill_texts):
    """A mixture entry's own `distill_weight`: each row's KL weighs its weight (NaN: the global 0.7), still divided by
    the batch's row (or text) count; under "all" a row's positive and hard negatives weigh as its query."""
    q, p, n, (tq, tp, tn) = make(4, 3, seed=10, dt=5)
    pos_ids, neg_ids, owners = torch.tensor([1, 2, 3, 4]), torch.tensor([9, 8, 7]), torch.tensor([0, 2, 2])
    weights = torch.tensor([2.0, float("nan"), 0.0, 1.0], dtype=torch.float64)
    options = dict(mask_false_negatives=True, distill_temperature=TAU, distill_texts=distill_texts)
    out = InfoNCELoss(TAU, distill_weight=0.7, **options)(
        q, p, n, pos_ids, neg_ids, negative_owners=owners, distill_weights=weights,
        teacher_query=tq, teacher_positive=tp, teacher_negative=tn,
    )  # fmt: skip
    rows = torch.tensor([2.0, 0.7, 0.0, 1.0], dtype=torch.float64)
    if distill_texts == "all":
        kl, rows = naive_kl_per_text(q, p, n, tq, tp, tn, TAU), torch.cat([rows, rows, rows[owners]])
    else:
        kl = naive_kl_per_query(q, p, n, tq, tp, tn, pos_ids, neg_ids)
    plain = InfoNCELoss(TAU, mask_false_negatives=True)(q, p, n, pos_ids, neg_ids).loss
    assert_same(out.loss, plain + (rows * kl).sum() / len(kl), (q, p, n))
    assert out.metrics["distill_kl"].item() == pytest.approx(kl.mean().item(), abs=1e-9)


def test_graded_pairs_match_sentence_transformers_cosent():
    """Every row a graded pair (scores with ties): the loss is CoSENTLoss with scale 1/τ on the same embeddings."""
    q, p, n = make(8, 0, seed=8)
    scores = torch.tensor([0.1, 0.9, 0.5, 0.5, 0.0, 0.75, 0.9, 0.3], dtype=torch.float64)
    out = InfoNCELoss(TAU)(q, p, n, pair_scores=scores)
    ref = st_losses.CoSENTLoss(None, scale=1 / TAU).compute_loss_from_embeddings([q, p], scores)
    assert_same(out.loss, ref, (q, p))
    assert out.metrics["cosent"].item() == pytest.approx(ref.item(), abs=1e-9)


def test_graded_rows_leave_infonce_to_the_other_rows():
    """A mixed batch: InfoNCE is the mean over the ungraded rows (every positive and negative still a candidate),
    plus CoSENT over the graded ones; graded pairs are nobody's InfoNCE query."""
    q, p, n = make(6, 3, seed=9)
    scores = torch.tensor([float("nan"), 0.2, float("nan"), 0.8, 0.4, float("nan")], dtype=torch.float64)
    owners = torch.tensor([0, 2, 3])
    out = InfoNCELoss(TAU, hardness_alpha=5.0)(q, p, n, negative_owners=owners, pair_scores=scores)
    cands, infonce = torch.cat([p, n]), 0.0
    for i in (0, 2, 5):
        cos = F.cosine_similarity(q[i][None], cands)
        logits = cos / TAU + 5.0 * cos.detach() * torch.cat([torch.zeros(6), (owners == i).double()])
        infonce = infonce - F.log_softmax(logits, 0)[i]
    graded = torch.tensor([1, 3, 4])
    st = st_losses.CoSENTLoss(None, scale=1 / TAU)
    cosent = st.compute_loss_from_embeddings([q[graded], p[graded]], scores[graded])
    assert_same(out.loss, infonce / 3 + cosent, (q, p, n))


def test_options_refuse_bad_values():
    for kwargs in ({"hardness_alpha": -1}, {"gor_weight": -0.1}, {"distill_weight": -1}, {"distill_temperature": 0},
                   {"distill_texts": "documents"}):  # fmt: skip
        with pytest.raises(ValueError):
            InfoNCELoss(TAU, **kwargs)
    q, p, n = make(2, 2)
    with pytest.raises(ValueError, match="negative_owners"):
        InfoNCELoss(TAU, hardness_alpha=5)(q, p, n)
