"""InfoNCE with gradient caching (GradCache, Gao et al., 2021): the paper's 2048-query batch on a few GPUs (spec §8.3).

One step, for a batch of B queries, B positives and M hard negatives:

    1. embed all B + B + M texts in chunks without autograd, saving each chunk's RNG state       # activations: 1 chunk
    2. loss = InfoNCELoss(...) on the detached embeddings (gathered across processes as usual);
       g = ∂loss/∂embeddings                                                                      # [B + B + M, d]
    3. for each chunk: restore its RNG state (dropout masks match step 1), embed it again with autograd and
       back-propagate the surrogate Σ(embedding · g), which gives the chunk's share of ∂loss/∂θ

The sum of the chunk surrogates' gradients is exactly the plain loss's gradient (the loss is a function of the
embeddings only). Every chunk backward is its own backward call — under DeepSpeed its own `engine.backward`, the
non-final ones off the accumulation boundary; under DDP the non-final ones inside `no_sync` — so no parameter's gradient
hook fires twice within one backward (the "gradient computed twice" failure of nesting all chunk backwards inside one
loss.backward(), sentence-transformers #3173). Chunks are made by `synthembed.chunking` (token budget, length-sorted
inside the step, dynamic padding), the same number of chunks on every process.

`step()` does the backward passes through a callback; `ContrastiveTrainer.training_step` supplies one that cooperates
with accelerate / DeepSpeed. `from_model()` is the no-grad (evaluation) path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import get_device_states, set_device_states

from synthembed.losses.infonce import InfoNCELoss, LossOutput

BackwardFn = Callable[[torch.Tensor, bool], None]  # (scalar surrogate, is this the step's last backward)


class RandContext:
    """Captures the CPU and accelerator RNG states now; `with ctx:` replays them, then restores the RNG as it was."""

    def __init__(self, *tensors: torch.Tensor):
        self.cpu_state = torch.get_rng_state()
        self.devices, self.device_states = get_device_states(*tensors)
        self._fork: Any = None

    def __enter__(self):
        self._fork = torch.random.fork_rng(devices=self.devices)
        self._fork.__enter__()
        torch.set_rng_state(self.cpu_state)
        set_device_states(self.devices, self.device_states)

    def __exit__(self, *exc):
        self._fork.__exit__(*exc)
        self._fork = None


class CachedInfoNCELoss(InfoNCELoss):
    """InfoNCELoss computed with GradCache; `chunk_size` rows and/or `token_budget` padded tokens per chunk."""

    runs_own_backward = True  # ContrastiveTrainer calls step() instead of backward() on from_model()'s loss

    def __init__(
        self,
        temperature: float = 0.02,
        gather_across_devices: bool = True,
        mask_false_negatives: bool = False,
        chunk_size: int | None = None,
        token_budget: int | None = None,
        pad_to_multiple_of: int | None = None,
    ):
        if chunk_size is None and token_budget is None:
            chunk_size = 32
        super().__init__(
            temperature, gather_across_devices, mask_false_negatives, chunk_size, token_budget, pad_to_multiple_of
        )

    # ---- evaluation -------------------------------------------------------------------------------------------
    def from_model(self, model: nn.Module, batch: dict) -> LossOutput:
        """No-grad path (evaluation): the same loss as InfoNCELoss.from_model, embedded in chunks."""
        if torch.is_grad_enabled():
            raise RuntimeError(
                "CachedInfoNCELoss runs its own backward passes: call .step(model, batch, backward=...) "
                "(ContrastiveTrainer.training_step does) instead of from_model() with autograd enabled"
            )
        chunks = self.chunks(batch)
        embeddings = self._assemble(chunks, [model(**c.features) for c in chunks])
        return self._loss_on_embeddings(embeddings, batch)

    # ---- training ---------------------------------------------------------------------------------------------
    def step(
        self,
        model: nn.Module,
        batch: dict,
        backward: BackwardFn | None = None,
        no_sync: Callable[[], contextlib.AbstractContextManager] | None = None,
    ) -> LossOutput:
        """Loss and parameter gradients of one batch. Returns the (detached) loss and metrics.

        backward(surrogate, last): runs the backward pass of one chunk (default: surrogate.backward()).
        no_sync(): context for all but the last chunk's forward + backward (DDP: skip the gradient all-reduce).
        """
        backward = backward or (lambda surrogate, last: surrogate.backward())
        no_sync = no_sync or contextlib.nullcontext
        chunks = self.chunks(batch)

        # 1. embed without autograd, remembering each chunk's RNG state
        states, outputs = [], []
        with torch.no_grad():
            for chunk in chunks:
                states.append(RandContext(*chunk.features.values()))
                outputs.append(model(**chunk.features))
        embeddings = self._assemble(chunks, outputs)
        del outputs

        # 2. the full-batch loss and its gradient w.r.t. the embeddings (fp32 at least; gathered inside the loss)
        dtype = torch.promote_types(embeddings.dtype, torch.float32)
        leaf = embeddings.detach().to(dtype).requires_grad_()
        with torch.enable_grad():
            out = self._loss_on_embeddings(leaf, batch)
            (grad,) = torch.autograd.grad(out.loss, leaf)
        del embeddings, leaf

        # 3. re-embed each chunk with autograd under its replayed RNG state, back-propagate the cached gradient
        last = len(chunks) - 1
        for i, (chunk, state) in enumerate(zip(chunks, states)):
            with no_sync() if i < last else contextlib.nullcontext(), state, torch.enable_grad():
                emb = model(**chunk.features)
                chunk_grad = torch.zeros_like(emb) if chunk.filler else grad[chunk.rows].to(emb.dtype)
                surrogate = (emb * chunk_grad).sum()
                backward(surrogate, i == last)
            del emb, surrogate
        return LossOutput(loss=out.loss.detach(), metrics=out.metrics)
