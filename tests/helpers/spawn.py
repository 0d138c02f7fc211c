"""Tests that run ranks with `torch.multiprocessing.spawn` in a gloo group, set up and left as the launchers are.

A worker loads its model BEFORE joining the group, then does its collective work inside `process_group(...)`, which
leaves the group the way `synthembed.distributed.leave_process_group` leaves an `accelerate launch`: every rank waits
at a barrier for the others (rank 0's `torch.save` included), then the group is destroyed. A rank that exited while
gloo's threads still served a group (a model loaded after `init_process_group`, or rank 0 still writing) aborted with
"terminate called without an active exception" (SIGABRT) and failed the test after correct work.
"""

from __future__ import annotations

import contextlib
import os
from types import SimpleNamespace

import torch.distributed as dist
import torch.multiprocessing as mp

from data_generation.llama_server import free_port
from synthembed.distributed import leave_process_group


def spawn(worker, *args, world: int = 2) -> None:
    """Run `worker(rank, world, port, *args)` in `world` fresh processes; raises if any rank fails."""
    mp.spawn(worker, args=(world, free_port(), *args), nprocs=world, join=True)


@contextlib.contextmanager
def process_group(rank: int, world: int, port: int):
    """A gloo group for the body; left behind a barrier when the body succeeds. When it raises, the error propagates
    at once (a barrier would wait for ranks that may never come) and spawn reports it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    yield
    leave_process_group(SimpleNamespace(wait_for_everyone=dist.barrier))  # the accelerator's barrier is dist's
