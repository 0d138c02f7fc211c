"""`ContrastiveTrainingArguments`: transformers.TrainingArguments plus the contrastive fields (synthembed.configs),
and the checks of the launch environment its `__post_init__` runs (numbers, `use_cpu`, the DeepSpeed config).

In a module of its own because it imports transformers (seconds): synthembed.configs stays fast to import and check,
and nothing there imports this module back.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from transformers import TrainingArguments

from synthembed.configs import ContrastiveArguments
from synthembed_common.config import ConfigError


@dataclass
class ContrastiveTrainingArguments(ContrastiveArguments, TrainingArguments):
    """Every field of transformers.TrainingArguments, and the contrastive ones (whose `use_cpu` and
    `remove_unused_columns` replace TrainingArguments')."""

    def __post_init__(self):
        check_training_numbers(self)  # before the model loads: a batch size 0 failed only once it had
        self.use_cpu = resolve_use_cpu(self.use_cpu)
        check_deepspeed_config(self)  # before transformers/DeepSpeed meet it: one line instead of a traceback per rank
        TrainingArguments.__post_init__(self)
        if self.max_steps == 0 and (self.deepspeed or os.environ.get("ACCELERATE_USE_DEEPSPEED") == "true"):
            raise ConfigError("`max_steps: 0` (save the untrained model) runs without DeepSpeed: one process or DDP")
        self.check_contrastive()
        self.move_token_to_environment()

    def move_token_to_environment(self) -> None:
        """The Trainer pickles these arguments into training_args.bin, in the output folder, every checkpoint and
        what push_to_hub uploads: a `hub_token` would be published with them. It moves to HF_TOKEN instead, where
        huggingface_hub reads it at call time (the Trainer passes `hub_token` None on: the environment's token),
        and leaves no trace in the arguments."""
        if self.hub_token:
            os.environ["HF_TOKEN"] = self.hub_token
            self.hub_token = None


# TrainingArguments' numbers that transformers accepts and fails on only once the model has loaded (a batch size 0) or
# never (a negative learning rate): (field, lowest allowed value, whether it must be an int).
TRAINING_NUMBERS = (
    ("per_device_train_batch_size", 1, True),
    ("per_device_eval_batch_size", 1, True),
    ("gradient_accumulation_steps", 1, True),
    ("max_steps", -1, True),
    ("learning_rate", 0, False),
    ("weight_decay", 0, False),
    ("warmup_steps", 0, False),
    ("num_train_epochs", 0, False),
    ("max_grad_norm", 0, False),
)


def check_training_numbers(args: TrainingArguments) -> None:
    """Reject impossible TrainingArguments numbers with one line naming the field, before anything loads."""
    for name, lowest, integer in TRAINING_NUMBERS:
        value = getattr(args, name, None)
        if value is None:
            continue
        kind = "an int" if integer else "a number"
        wrong_type = isinstance(value, bool) or not isinstance(value, int if integer else (int, float))
        if wrong_type or not math.isfinite(value) or value < lowest:
            hint = " (-1: train num_train_epochs)" if name == "max_steps" else ""
            raise ConfigError(f"`{name}` must be {kind} >= {lowest}{hint}, got {value!r}")
    for name in ("save_steps", "eval_steps"):
        value = getattr(args, name, None)
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise ConfigError(
                f"`{name}` must be a number > 0 (a count of steps, or a fraction of the run), got {value!r}"
            )


def resolve_use_cpu(use_cpu: bool | None) -> bool:
    """`use_cpu` as the launch implies it where the recipe leaves it unset.

    accelerate's DeepSpeed and torchrun launchers do not pass the accelerate config's `use_cpu` on to the processes,
    and transformers sets up gloo only when `use_cpu` is true: without it, several CPU processes would each train an
    unconnected copy (DDP) or disagree with DeepSpeed on the world size (`train_batch_size ... 16 != 16 * 1 * 2`).
    Without CUDA there is nothing else to train on, so an explicit `false` is overridden there too when several
    processes run.
    """
    launched_on_cpu = os.environ.get("ACCELERATE_USE_CPU", "false").lower() in ("1", "true", "yes")
    if use_cpu is None:
        return launched_on_cpu or not _has_accelerator()
    if not use_cpu and int(os.environ.get("WORLD_SIZE", "1")) > 1 and not _has_accelerator():
        return True
    return bool(use_cpu)


def deepspeed_config_file(args: TrainingArguments) -> str | dict | None:
    """The DeepSpeed config this run will use: `deepspeed:` of the recipe, else the accelerate config's file."""
    if args.deepspeed:
        return args.deepspeed
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE") or None
    return None


def check_deepspeed_config(args: TrainingArguments) -> None:
    """Raise ConfigError where a fixed (not "auto") DeepSpeed value contradicts the training arguments.

    transformers fills "auto" values from the arguments and DeepSpeed asserts the batch arithmetic; both fail late,
    once per process, with a traceback. The same checks here name the key, both values and the fix.
    """
    source = deepspeed_config_file(args)
    if source is None:
        return
    where = "DeepSpeed config" if isinstance(source, dict) else f"DeepSpeed config {source}"
    if isinstance(source, str):
        if not os.path.isfile(source):
            raise ConfigError(f"{where}: no such file (paths are relative to the directory you launch from)")
        try:
            with open(source) as f:
                source = json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(source, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(source).__name__}")

    def fixed(*keys):
        node = source
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return None if node in (None, "auto") else node

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    micro, accumulation = args.per_device_train_batch_size, args.gradient_accumulation_steps
    expected = {
        "train_micro_batch_size_per_gpu": (micro, "per_device_train_batch_size"),
        "gradient_accumulation_steps": (accumulation, "gradient_accumulation_steps"),
        "train_batch_size": (
            micro * accumulation * world_size,
            f"per_device_train_batch_size {micro} × gradient_accumulation_steps {accumulation} × {world_size} "
            "process(es)",
        ),
        "gradient_clipping": (args.max_grad_norm, "max_grad_norm"),
        "bf16.enabled": (bool(args.bf16), "bf16"),
        "fp16.enabled": (bool(args.fp16), "fp16"),
    }
    for key, (value, name) in expected.items():
        ds_value = fixed(*key.split("."))
        if ds_value is not None and ds_value != value:
            raise ConfigError(f'{where}: `{key}` is {ds_value!r} but {name} gives {value!r}; set it to "auto"')


def _has_accelerator() -> bool:
    import torch

    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())
