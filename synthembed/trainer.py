"""ContrastiveTrainer: transformers.Trainer with the InfoNCE loss, gathered side metrics and a SentenceTransformer export.

The RewardTrainer pattern from TRL: override `compute_loss`, average side metrics over processes into the logs,
write a model card when saving. Checkpoints stay the Trainer's own (resumable, also under DeepSpeed); only the final
`save_model()` writes the merged SentenceTransformer folder (seam 2).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections import defaultdict

from accelerate.utils import DistributedType
from transformers import Trainer

from synthembed.configs import ContrastiveTrainingArguments, DataArguments, ModelArguments
from synthembed.data import HomogeneousBatchSampler
from synthembed.losses import InfoNCELoss
from synthembed.saving import export_sentence_transformer

logger = logging.getLogger(__name__)


def build_loss(args: ContrastiveTrainingArguments) -> InfoNCELoss:
    kwargs = {
        "temperature": args.temperature,
        "gather_across_devices": args.gather_across_devices,
        "mask_false_negatives": args.mask_false_negatives,
    }
    if args.loss == "cached_infonce":
        from synthembed.losses.cached_infonce import CachedInfoNCELoss

        return CachedInfoNCELoss(**kwargs, chunk_size=args.cache_chunk_size, token_budget=args.cache_token_budget)
    return InfoNCELoss(**kwargs, chunk_size=args.cache_chunk_size, token_budget=args.cache_token_budget)


class ContrastiveTrainer(Trainer):
    args: ContrastiveTrainingArguments

    def __init__(self, *args, model_args: ModelArguments, data_args: DataArguments, **kwargs):
        super().__init__(*args, **kwargs)
        self.model_args, self.data_args = model_args, data_args
        self.loss_fn = build_loss(self.args)
        self._metrics: dict[str, list[float]] = defaultdict(list)

    # ---- loss -------------------------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = self.loss_fn.from_model(model, inputs)
        self._record_metrics(out)
        return (out.loss, out) if return_outputs else out.loss

    def _record_metrics(self, out) -> None:
        for name, value in out.metrics.items():
            self._metrics[name].append(self.accelerator.gather_for_metrics(value.detach().reshape(1)).mean().item())

    def training_step(self, model, inputs, num_items_in_batch=None):
        if not getattr(self.loss_fn, "runs_own_backward", False):
            return super().training_step(model, inputs, num_items_in_batch)
        return self._cached_training_step(model, inputs)

    def _cached_training_step(self, model, inputs):
        """GradCache step: one backward per chunk, each through accelerate / DeepSpeed (spec §8.5).

        Mirrors Trainer.training_step's scaling (loss / gradient-accumulation steps; DeepSpeed told not to rescale).
        All chunk backwards but the last: under DDP inside `no_sync` (no all-reduce), under DeepSpeed a bare
        `engine.backward` off the accumulation boundary (ZeRO-3 reduce-scatters and accumulates the partitioned
        gradients; no optimizer step). The last goes through `accelerator.backward`, which keeps the Trainer's
        accumulation boundary: DDP syncs and DeepSpeed steps only when `sync_gradients` is set.
        """
        model.train()
        if hasattr(self.optimizer, "train") and callable(self.optimizer.train):
            self.optimizer.train()
        inputs = self._prepare_inputs(inputs)
        scale = 1.0 if self.loss_is_scaled_for_ga else 1.0 / self.current_gradient_accumulation_steps
        deepspeed = self.accelerator.distributed_type == DistributedType.DEEPSPEED
        kwargs = {"scale_wrt_gas": False} if deepspeed else {}

        def backward(surrogate, last: bool) -> None:
            surrogate = surrogate * scale
            if last or not deepspeed:
                self.accelerator.backward(surrogate, **kwargs)
            else:
                engine = self.accelerator.deepspeed_engine_wrapped.engine
                engine.set_gradient_accumulation_boundary(is_boundary=False)
                engine.backward(surrogate, **kwargs)

        with self.compute_loss_context_manager():
            out = self.loss_fn.step(
                model, inputs, backward=backward, no_sync=functools.partial(self.accelerator.no_sync, model=model)
            )
        self._record_metrics(out)
        return out.loss.detach() * scale

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        prefix = "eval_" if any(k.startswith("eval_") for k in logs) else ""
        for name, values in self._metrics.items():
            if values:
                logs[f"{prefix}{name}"] = sum(values) / len(values)
        self._metrics.clear()
        super().log(logs, start_time)

    # ---- batches ----------------------------------------------------------------------------------------------
    def _get_train_sampler(self, train_dataset=None):
        column = {"by_source": "source", "by_task_type": "task_type"}.get(self.args.batch_sampling)
        if column is None:
            return super()._get_train_sampler(train_dataset)
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        global_batch = self.args.per_device_train_batch_size * self.args.world_size
        return HomogeneousBatchSampler(dataset[column], global_batch, seed=self.args.seed)

    # ---- saving -----------------------------------------------------------------------------------------------
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        self._export_sentence_transformer = not _internal_call
        try:
            super().save_model(output_dir, _internal_call)
        finally:
            self._export_sentence_transformer = False

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        if not getattr(self, "_export_sentence_transformer", False):
            return super()._save(output_dir, state_dict)
        if not self.args.should_save:
            return
        output_dir = output_dir or self.args.output_dir
        model = self.accelerator.unwrap_model(self.model)
        if state_dict is None:
            state_dict = model.state_dict()
        state_dict = {k: v.detach().to("cpu") for k, v in state_dict.items()}
        export_sentence_transformer(
            state_dict,
            model.config,
            self.processing_class,
            self.model_args,
            self.data_args,
            output_dir,
            save_adapter=self.args.save_adapter,
        )
        self.create_model_card(directory=output_dir)

    def training_summary(self) -> dict:
        keys = (
            "learning_rate",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "num_train_epochs",
            "max_steps",
            "warmup_steps",
            "weight_decay",
            "lr_scheduler_type",
            "temperature",
            "num_hard_negatives",
            "gather_across_devices",
            "batch_sampling",
            "loss",
            "seed",
        )
        summary = {k: getattr(self.args, k) for k in keys}
        summary["lr_scheduler_type"] = str(summary["lr_scheduler_type"]).split(".")[-1].lower()
        summary.update(
            world_size=self.args.world_size,
            global_batch_size=self.args.per_device_train_batch_size * self.args.world_size,
            global_step=self.state.global_step,
            lora=(
                {
                    "r": self.model_args.lora_r,
                    "alpha": self.model_args.lora_alpha,
                    "dropout": self.model_args.lora_dropout,
                }
                if self.model_args.use_lora
                else None
            ),
            max_seq_length=self.data_args.max_seq_length,
            final_loss=next((h["loss"] for h in reversed(self.state.log_history) if "loss" in h), None),
        )
        return summary

    def create_model_card(self, *args, directory: str | None = None, **kwargs) -> None:
        """Replaces the Trainer's card (which push_to_hub would write) with ours, also written at save time into the
        folder being saved (`directory`, default output_dir)."""
        if not self.is_world_process_zero():
            return
        from synthembed.model_card import render_model_card

        directory = directory or self.args.output_dir
        summary = self.training_summary()
        with open(os.path.join(directory, "training_summary.json"), "w") as f:
            json.dump(summary, f, indent=2, default=str)
        render_model_card(
            directory,
            base_model=self.model_args.model_name_or_path,
            pooling=self.model_args.pooling,
            training_summary=summary,
            datasets=[str(e.get("name") or e["path"]) for e in self.data_args.dataset_mixture],
            model_name=self.args.hub_model_id or os.path.basename(os.path.abspath(self.args.output_dir)),
        )
