"""GradCache (Gao et al., 2021) as a training step: the paper's 2048-query batch on a few GPUs.

One step, for a batch of B queries, B positives and M hard negatives, with any loss that is a function of the
embeddings only:

    1. embed all B + B + M texts in chunks without autograd, saving each chunk's RNG state       # activations: 1 chunk
    2. loss = loss_fn(embeddings) (gathered across processes as usual); g = ∂loss/∂embeddings    # [B + B + M, d]
    3. for each chunk: restore its RNG state (dropout masks match step 1), embed it again with autograd and
       back-propagate the surrogate Σ(embedding · g), which gives the chunk's share of ∂loss/∂θ

The chunk surrogates' gradients sum exactly to the plain step's gradient. Every chunk backward is its own backward
call (under DeepSpeed its own `engine.backward`, the non-final ones off the accumulation boundary; under DDP the
non-final ones inside `no_sync`), so no parameter's gradient hook fires twice within one backward (the "gradient
computed twice" failure of nesting all chunk backwards inside one loss.backward(), sentence-transformers #3173).
The backward and no_sync callbacks come from the trainer, which knows the accelerate / DeepSpeed set-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import get_device_states, set_device_states

from synthembed.embedding import Chunking, assemble, plan_chunks, split
from synthembed.losses import LossOutput

BackwardFn = Callable[[torch.Tensor, bool], None]  # (scalar surrogate, is this the step's last backward)
DEFAULT_CHUNKING = Chunking(chunk_size=32)


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


def grad_cache_step(
    model: nn.Module,
    batch: dict,
    loss_fn: Callable[..., LossOutput],
    chunking: Chunking | None = None,
    backward: BackwardFn | None = None,
    no_sync: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> LossOutput:
    """Loss and parameter gradients of one batch; returns the (detached) loss and metrics.

    backward(surrogate, last): runs the backward pass of one chunk (default: surrogate.backward()).
    no_sync(): context for all but the last chunk's forward + backward (DDP: skip the gradient all-reduce).
    """
    chunking = chunking if chunking is not None and chunking.enabled else DEFAULT_CHUNKING
    backward = backward or (lambda surrogate, last: surrogate.backward())
    no_sync = no_sync or contextlib.nullcontext
    chunks = plan_chunks(batch, chunking)

    # 1. embed without autograd, remembering each chunk's RNG state
    states, outputs = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(RandContext(*chunk.features.values()))
            outputs.append(model(**chunk.features))
    embeddings = assemble(chunks, outputs)
    del outputs

    # 2. the full-batch loss and its gradient w.r.t. the embeddings (fp32 at least; gathered inside the loss)
    leaf = embeddings.detach().to(torch.promote_types(embeddings.dtype, torch.float32)).requires_grad_()
    with torch.enable_grad():
        out = loss_fn(**split(leaf, batch))
        (grad,) = torch.autograd.grad(out.loss, leaf)
    del embeddings, leaf

    # 3. re-embed each chunk with autograd under its replayed RNG state, back-propagate the cached gradient
    last = len(chunks) - 1
    for i, (chunk, state) in enumerate(zip(chunks, states)):
        with no_sync() if i < last else contextlib.nullcontext(), state, torch.enable_grad():
            emb = model(**chunk.features)
            chunk_grad = torch.zeros_like(emb) if chunk.filler else grad[chunk.rows].to(emb.dtype)
            backward((emb * chunk_grad).sum(), i == last)
        del emb
    return LossOutput(loss=out.loss.detach(), metrics=out.metrics)
