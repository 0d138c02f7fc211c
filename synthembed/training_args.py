"""`ContrastiveTrainingArguments`: transformers.TrainingArguments plus the contrastive fields (synthembed.configs).

In a module of its own because it imports transformers (seconds): synthembed.configs stays fast to import and check,
and nothing there imports this module back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from transformers import TrainingArguments

from synthembed.configs import ContrastiveArguments, check_deepspeed_config, resolve_use_cpu
from synthembed_common.config import ConfigError


@dataclass
class ContrastiveTrainingArguments(ContrastiveArguments, TrainingArguments):
    """Every field of transformers.TrainingArguments, and the contrastive ones (whose `use_cpu` and
    `remove_unused_columns` replace TrainingArguments')."""

    def __post_init__(self):
        self.use_cpu = resolve_use_cpu(self.use_cpu)
        check_deepspeed_config(self)  # before transformers/DeepSpeed meet it: one line instead of a traceback per rank
        TrainingArguments.__post_init__(self)
        if self.max_steps == 0 and (self.deepspeed or os.environ.get("ACCELERATE_USE_DEEPSPEED") == "true"):
            raise ConfigError("`max_steps: 0` (save the untrained model) runs without DeepSpeed: one process or DDP")
        self.check_contrastive()
