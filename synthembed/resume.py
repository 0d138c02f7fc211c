"""Which checkpoint a rerun resumes from: only one this run wrote.

Resuming unpickles files of the checkpoint (the Trainer's RNG state; under DeepSpeed `torch.load(weights_only=False)`
of the optimizer states), so a checkpoint-N that came into output_dir from elsewhere could run code. A run records a
marker in output_dir when it starts (a random run id and a digest of the settings that make the run what it is) and
copies it into every checkpoint before the checkpoint is complete; a rerun of the same command resumes only from a
checkpoint carrying that marker. Anything else needs `--resume_from_checkpoint PATH`: the user's explicit trust.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from synthembed_common.files import write_text_atomic

logger = logging.getLogger(__name__)

RUN_MARKER = "synthembed_run.json"
CHECKPOINT_COMPLETE = "trainer_state.json"  # the Trainer writes it last
# The training settings (besides all model and data arguments) whose change makes another run; not where it saves or
# logs, nor how long it runs (raising max_steps and rerunning continues the run).
RUN_SETTINGS = (
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "seed",
    "temperature",
    "num_hard_negatives",
    "gather_across_devices",
    "mask_false_negatives",
    "batch_sampling",
    "grad_cache",
    "matryoshka_dims",
    "matryoshka_weights",
)


class ResumeRefused(Exception):
    """output_dir's newest checkpoint was not written by this run; the message is one line."""


@dataclass(frozen=True)
class RunMarker:
    run_id: str
    settings: str  # config_digest of the run

    def write(self, folder: str | os.PathLike) -> None:
        write_text_atomic(Path(folder) / RUN_MARKER, json.dumps(dataclasses.asdict(self)) + "\n")

    @classmethod
    def read(cls, folder: str | os.PathLike) -> RunMarker | None:
        try:
            stored = json.loads((Path(folder) / RUN_MARKER).read_text())
            return cls(run_id=str(stored["run_id"]), settings=str(stored["settings"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def config_digest(model_args, data_args, training_args) -> str:
    """sha256 of the model and data arguments and the RUN_SETTINGS: equal for every rank and every rerun of a command."""
    settings = {name: getattr(training_args, name, None) for name in RUN_SETTINGS}
    payload = [dataclasses.asdict(model_args), dataclasses.asdict(data_args), settings]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def this_run(output_dir: str | os.PathLike, digest: str) -> RunMarker:
    """The run output_dir records, where its settings are these; else a new run."""
    recorded = RunMarker.read(output_dir)
    if recorded is not None and recorded.settings == digest:
        return recorded
    return RunMarker(run_id=uuid.uuid4().hex, settings=digest)


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest `checkpoint-N` in output_dir that was written to the end (a run killed while saving leaves a folder
    without trainer_state.json); None when there is none."""
    if not os.path.isdir(output_dir):
        return None
    steps = sorted(
        (int(name.split("-")[1]), name)
        for name in os.listdir(output_dir)
        if name.startswith("checkpoint-") and name.split("-")[1].isdigit()
    )
    for _, name in reversed(steps):
        path = os.path.join(output_dir, name)
        if os.path.isfile(os.path.join(path, CHECKPOINT_COMPLETE)):
            return path
        logger.warning("Skipping %s: incomplete (the run was killed while saving it)", path)
    return None


def auto_resume_checkpoint(output_dir: str | os.PathLike, run: RunMarker) -> str | None:
    """output_dir's newest complete checkpoint if this run wrote it; None if there is none; ResumeRefused else."""
    newest = last_complete_checkpoint(output_dir)
    if newest is None:
        return None
    marker = RunMarker.read(newest)
    if marker == run:
        return newest
    if marker is None:
        why = f"carries no {RUN_MARKER} (copied in, or written before runs were marked)"
    elif marker.settings != run.settings:
        why = "was written with other model, data or training settings"
    else:
        why = "was written by another run"
    raise ResumeRefused(
        f"{newest} {why}: resuming loads its pickled files, so only a run's own checkpoints resume by themselves; "
        f"pass --resume_from_checkpoint {newest} if you trust it, or choose another output_dir"
    )


def mark_checkpoint(output_dir: str | os.PathLike, checkpoint_dir: str | os.PathLike) -> None:
    """Copy output_dir's run marker into a checkpoint being written (nothing where output_dir has none)."""
    marker = RunMarker.read(output_dir)
    if marker is not None:
        os.makedirs(checkpoint_dir, exist_ok=True)
        marker.write(checkpoint_dir)
