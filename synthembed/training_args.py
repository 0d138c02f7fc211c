"""`ContrastiveTrainingArguments`: transformers.TrainingArguments plus the contrastive fields (synthembed.configs).

In a module of its own because it imports transformers (seconds): synthembed.configs stays fast to import and check,
and nothing there imports this module back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from transformers import TrainingArguments

from synthembed.configs import ContrastiveArguments, check_deepspeed_config, check_training_numbers, resolve_use_cpu
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
