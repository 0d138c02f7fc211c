"""InfoNCE against a naive reference (loss and gradients), and 2-process gathering against one process."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist
from helpers.spawn import process_group, spawn

from synthembed.losses import InfoNCELoss

TAU = 0.02


def naive_infonce(query, positive, negative, tau=TAU, positive_ids=None, negative_ids=None, query_ids=None):
    """Eq. 2–3 written out with loops: -log(φ(q,d+) / (φ(q,d+) + Σ_n φ(q,n))), φ = exp(cos/τ); with ids, a candidate
    equal to the query's positive, or the positive of another row with the same query, is left out."""
    candidates = list(positive) + (list(negative) if negative is not None else [])
    ids = None
    if positive_ids is not None:
        ids = list(positive_ids) + (list(negative_ids) if negative_ids is not None else [])
    total = 0.0
    for i, q in enumerate(query):
        phi = []
        for j, d in enumerate(candidates):
            if ids is not None and j != i and ids[j] == positive_ids[i]:
                continue
            if query_ids is not None and j != i and j < len(query_ids) and query_ids[j] == query_ids[i]:
                continue
            phi.append(torch.exp(torch.nn.functional.cosine_similarity(q, d, dim=0) / tau))
        positive_phi = torch.exp(torch.nn.functional.cosine_similarity(q, positive[i], dim=0) / tau)
        total = total - torch.log(positive_phi / sum(phi))
    return total / len(query)


def make_batch(b, m, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, d, generator=g, dtype=torch.float64, requires_grad=True)
    p = torch.randn(b, d, generator=g, dtype=torch.float64, requires_grad=True)
    n = torch.randn(m, d, generator=g, dtype=torch.float64, requires_grad=True) if m else None
    return q, p, n


@pytest.mark.parametrize("b,m,d", [(1, 0, 4), (4, 0, 8), (4, 4, 8), (7, 14, 16), (16, 5, 32)])
def test_loss_and_gradients_match_naive_reference(b, m, d):
    q, p, n = make_batch(b, m, d)
    out = InfoNCELoss(temperature=TAU)(q, p, n)
    tensors = [t for t in (q, p, n) if t is not None]
    grads = torch.autograd.grad(out.loss, tensors)
    ref = naive_infonce(q, p, n)
    ref_grads = torch.autograd.grad(ref, tensors)
    assert out.loss.item() == pytest.approx(ref.item(), abs=1e-6)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-6, rtol=0)


def naive_matryoshka(query, positive, negative, dims, weights, **kwargs):
    """Σ_k w_k · InfoNCE over the first d_k coordinates (naive_infonce's cosine re-normalizes each prefix)."""
    cut = [lambda x, d=d: None if x is None else x[:, :d] for d in dims]
    return sum(w * naive_infonce(c(query), c(positive), c(negative), **kwargs) for c, w in zip(cut, weights))


@pytest.mark.parametrize("b,m,dims,weights", [(4, 4, [8, 4, 2], None), (7, 14, [12, 5], [1.0, 0.25])])
def test_matryoshka_loss_and_gradients_match_naive_reference(b, m, dims, weights):
    """The first dim below the full width (16): only the listed prefixes are trained."""
    q, p, n = make_batch(b, m, 16, seed=4)
    pos_ids, neg_ids = torch.arange(b) % 3, torch.arange(m) % 5  # false negatives to mask, at every width
    loss_fn = InfoNCELoss(TAU, mask_false_negatives=True, matryoshka_dims=dims, matryoshka_weights=weights)
    out = loss_fn(q, p, n, pos_ids, neg_ids)
    grads = torch.autograd.grad(out.loss, (q, p, n))
    ref = naive_matryoshka(q, p, n, dims, weights or [1.0] * len(dims), positive_ids=pos_ids, negative_ids=neg_ids)
    ref_grads = torch.autograd.grad(ref, (q, p, n))
    assert out.loss.item() == pytest.approx(ref.item(), abs=1e-6)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-6, rtol=0)
    assert set(out.metrics) >= {f"loss_dim{d}" for d in dims} | {"accuracy"}
    # the full-width list equals the plain loss
    full = InfoNCELoss(TAU, matryoshka_dims=[16])(q, p, n).loss
    assert full.item() == pytest.approx(InfoNCELoss(TAU)(q, p, n).loss.item(), abs=1e-12)


def test_false_negative_masking_matches_reference():
    q, p, n = make_batch(6, 6, 8, seed=1)
    pos_ids = torch.tensor([10, 11, 10, 12, 13, 11])  # rows 0/2 and 1/5 share a positive text
    neg_ids = torch.tensor([12, 20, 21, 22, 10, 23])
    out = InfoNCELoss(temperature=TAU, mask_false_negatives=True)(q, p, n, pos_ids, neg_ids)
    ref = naive_infonce(q, p, n, positive_ids=pos_ids, negative_ids=neg_ids)
    assert out.loss.item() == pytest.approx(ref.item(), abs=1e-6)
    unmasked = InfoNCELoss(temperature=TAU)(q, p, n)
    assert unmasked.loss.item() > out.loss.item()


def test_rows_sharing_a_query_do_not_count_as_negatives():
    """A sentence paired with its translations (rows 0, 2, 4 share the English query): each translation is a positive
    of the others' query, not a negative (a task-homogeneous batch of parallel rows gathers them)."""
    q, p, n = make_batch(6, 3, 8, seed=2)
    pos_ids, neg_ids = torch.arange(10, 16), torch.arange(20, 23)
    query_ids = torch.tensor([1, 2, 1, 3, 1, 4])
    out = InfoNCELoss(temperature=TAU, mask_false_negatives=True)(q, p, n, pos_ids, neg_ids, query_ids=query_ids)
    ref = naive_infonce(q, p, n, positive_ids=pos_ids, negative_ids=neg_ids, query_ids=query_ids)
    assert out.loss.item() == pytest.approx(ref.item(), abs=1e-6)
    distinct = InfoNCELoss(temperature=TAU, mask_false_negatives=True)(q, p, n, pos_ids, neg_ids)
    assert out.loss.item() != pytest.approx(distinct.loss.item(), abs=1e-6)


def test_metrics_are_sane():
    q = torch.eye(4, dtype=torch.float64)
    out = InfoNCELoss()(q, q.clone(), -q.clone())
    assert out.metrics["accuracy"].item() == 1.0
    assert out.metrics["positive_similarity"].item() == pytest.approx(1.0)
    assert out.loss.item() == pytest.approx(0.0, abs=1e-6)
    assert math.isfinite(out.metrics["negative_similarity"].item())


LOSS_OPTIONS = {"plain": {}, "matryoshka": {"matryoshka_dims": [6, 4, 2], "matryoshka_weights": [1.0, 0.5, 0.25]}}
# Every option beyond the paper at once (tests/test_losses_beyond_e5.py checks each against its reference)
LOSS_OPTIONS["every"] = {
    **LOSS_OPTIONS["matryoshka"],
    **dict(hardness_alpha=5.0, false_negative_margin=0.1, gor_weight=0.5, distill_weight=1.0, distill_temperature=0.1),
}
LOSS_OPTIONS["every_all_texts"] = {**LOSS_OPTIONS["every"], "distill_texts": "all"}
LOSS_OPTIONS["every_graded"] = LOSS_OPTIONS["every_all_texts"]  # ... with graded pairs on both ranks (CoSENT)
LOSS_OPTIONS["every_weighted"] = LOSS_OPTIONS["every_all_texts"]  # ... with rows' own distillation weights
PAIR_SCORES = torch.tensor([float("nan"), 0.2, 0.9, float("nan"), 0.5, 0.2], dtype=torch.float64)
DISTILL_WEIGHTS = torch.tensor([2.0, float("nan"), 0.0, 0.5, float("nan"), 3.0], dtype=torch.float64)
OWNERS = torch.tensor([2, 4, 4, 5, 5])  # the query row of each hard negative (each rank's own: see the sizes below)
QUERY_IDS = torch.tensor([30, 31, 32, 33, 30, 31])  # rows 0/4 and 1/5 share a query, across the two ranks


def _extras(options, qs, qe, ns, ne) -> dict:
    """The keyword inputs of the 'every' options for rows qs:qe and negatives ns:ne (owners counted locally)."""
    if not options.startswith("every"):
        return {}
    g = torch.Generator().manual_seed(5)
    teacher = [torch.randn(n, 3, generator=g, dtype=torch.float64) for n in (6, 6, 5)]  # another width
    per_row = {"every_graded": {"pair_scores": PAIR_SCORES[qs:qe]}}
    per_row["every_weighted"] = {"distill_weights": DISTILL_WEIGHTS[qs:qe]}
    return per_row.get(options, {}) | {
        "negative_owners": OWNERS[ns:ne] - qs,
        "query_ids": QUERY_IDS[qs:qe],
        "teacher_query": teacher[0][qs:qe],
        "teacher_positive": teacher[1][qs:qe],
        "teacher_negative": teacher[2][ns:ne],
    }


def _worker(rank, world, port, sizes, result_path, options):
    """Each rank takes its slice of the same global batch (unequal slices allowed) through a shared linear encoder."""
    torch.manual_seed(0)
    encoder = torch.nn.Linear(8, 6, dtype=torch.float64)
    x_q, x_p, x_n, pos_ids, neg_ids = _global_inputs()
    (qs, qe), (ns, ne) = sizes[rank]
    with process_group(rank, world, port):
        out = InfoNCELoss(temperature=TAU, mask_false_negatives=True, **LOSS_OPTIONS[options])(
            encoder(x_q[qs:qe]), encoder(x_p[qs:qe]), encoder(x_n[ns:ne]), pos_ids[qs:qe], neg_ids[ns:ne],
            **_extras(options, qs, qe, ns, ne),
        )  # fmt: skip
        out.loss.backward()
        for param in encoder.parameters():  # what DDP / DeepSpeed do: average gradients over ranks
            dist.all_reduce(param.grad)
            param.grad /= world
        loss = out.loss.detach().clone()
        dist.all_reduce(loss)
        if rank == 0:
            torch.save({"loss": loss / world, "grads": [p.grad for p in encoder.parameters()]}, result_path)


def _global_inputs():
    g = torch.Generator().manual_seed(3)
    x_q, x_p, x_n = (torch.randn(n, 8, generator=g, dtype=torch.float64) for n in (6, 6, 5))
    pos_ids = torch.tensor([1, 2, 3, 1, 4, 5])
    neg_ids = torch.tensor([6, 2, 7, 8, 9])
    return x_q, x_p, x_n, pos_ids, neg_ids


@pytest.mark.parametrize(
    "sizes,options",
    [
        ([((0, 3), (0, 3)), ((3, 6), (3, 5))], "plain"),
        ([((0, 4), (0, 1)), ((4, 6), (1, 5))], "plain"),
        ([((0, 4), (0, 1)), ((4, 6), (1, 5))], "matryoshka"),  # gathered at full width, truncated after
        ([((0, 4), (0, 1)), ((4, 6), (1, 5))], "every"),  # hardness, margin mask, GOR, distillation, Matryoshka
        ([((0, 4), (0, 1)), ((4, 6), (1, 5))], "every_all_texts"),  # distillation of every text against every other
        ([((0, 4), (0, 1)), ((4, 6), (1, 5))], "every_graded"),  # ... and CoSENT over the graded rows of both ranks
        ([((0, 4), (0, 1)), ((4, 6), (1, 5))], "every_weighted"),  # ... each row with its own distillation weight
    ],
)
def test_two_process_gather_equals_one_process_on_concatenated_batch(tmp_path, sizes, options):
    result = tmp_path / "rank0.pt"
    spawn(_worker, sizes, str(result), options)
    got = torch.load(result)

    torch.manual_seed(0)
    encoder = torch.nn.Linear(8, 6, dtype=torch.float64)
    x_q, x_p, x_n, pos_ids, neg_ids = _global_inputs()
    # One process sees the ranks' rows in rank order: positives [r0; r1], negatives [r0; r1] — the same global layout.
    ref = InfoNCELoss(temperature=TAU, mask_false_negatives=True, **LOSS_OPTIONS[options])(
        encoder(x_q), encoder(x_p), encoder(x_n), pos_ids, neg_ids, **_extras(options, 0, 6, 0, 5)
    )
    ref.loss.backward()
    assert got["loss"].item() == pytest.approx(ref.loss.item(), abs=1e-10)
    for g, p in zip(got["grads"], encoder.parameters()):
        torch.testing.assert_close(g, p.grad, atol=1e-10, rtol=1e-8)
