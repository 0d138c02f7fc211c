"""ContrastiveTrainer: transformers.Trainer with the InfoNCE loss, an evaluation loop on dev sets, GradCache as a
training-step strategy, and a SentenceTransformer export.

The RewardTrainer pattern from TRL: override `compute_loss` and `prediction_step`, average side metrics per mode
(train / eval) over processes into the logs, write a model card when saving. Checkpoints stay the Trainer's own
(resumable, also under DeepSpeed); only the final `save_model()` writes the merged SentenceTransformer folder (seam 2)
with its learning curve and card.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils import DistributedType
from transformers import EvalPrediction, Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from synthembed.configs import DataArguments, ModelArguments
from synthembed.data import HomogeneousBatchSampler, entry_name
from synthembed.embedding import embed, split
from synthembed.grad_cache import grad_cache_step
from synthembed.learning_curve import CURVE_NAME, dev_metrics, plot_learning_curve
from synthembed.losses import InfoNCELoss
from synthembed.resume import mark_checkpoint
from synthembed.saving import export_sentence_transformer, folder_settings, save_failure, save_folder_atomically
from synthembed.training_args import ContrastiveTrainingArguments

logger = logging.getLogger(__name__)

# The training arguments recorded in the saved folder (the card's "Training" table), in this order.
OPTIMIZER_KEYS = ("learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm")
RUN_KEYS = ("per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs", "max_steps", "seed")
LOSS_KEYS = ("temperature", "num_hard_negatives", "gather_across_devices", "batch_sampling", "grad_cache")
BEYOND_E5_KEYS = ("hardness_alpha", "false_negative_margin", "gor_weight", "distill_teacher", "distill_weight")
MATRYOSHKA_KEYS = ("matryoshka_dims", "matryoshka_weights")  # in the summary when set
SUMMARY_KEYS = OPTIMIZER_KEYS + RUN_KEYS + LOSS_KEYS


def sts_metrics(prediction: EvalPrediction) -> dict[str, float]:
    """Spearman's rank correlation of cosine similarity with the gold score (mteb's STS main score)."""
    from scipy.stats import spearmanr

    cosine, gold = np.asarray(prediction.predictions).ravel(), np.asarray(prediction.label_ids).ravel()
    return {"cosine_spearman": float(spearmanr(cosine, gold).statistic)}


class ContrastiveTrainer(Trainer):
    args: ContrastiveTrainingArguments

    def __init__(self, *args, model_args: ModelArguments, data_args: DataArguments, **kwargs):
        kwargs.setdefault("compute_metrics", sts_metrics)
        super().__init__(*args, **kwargs)
        self.model_args, self.data_args = model_args, data_args
        self.loss_fn = InfoNCELoss(
            self.args.temperature,
            self.args.gather_across_devices,
            self.args.mask_false_negatives,
            self.args.matryoshka_dims,
            self.args.matryoshka_weights,
            hardness_alpha=self.args.hardness_alpha,
            false_negative_margin=self.args.false_negative_margin,
            gor_weight=self.args.gor_weight,
            distill_weight=self.args.distill_weight if self.args.distill_teacher else 0.0,
            distill_temperature=self.args.distill_temperature,
            distill_texts=self.args.distill_texts,
        )
        self.teacher = None  # synthembed.teacher.TeacherEmbeddings, set by the entry point when distilling
        self.chunking = self.args.chunking
        self.can_return_loss = True  # the model computes no loss itself and no batch carries label columns:
        self.label_names = []  # compute_loss / prediction_step below own both
        self._metrics: dict[str, dict[str, list[float]]] = {"train": defaultdict(list), "eval": defaultdict(list)}
        self._tensorboard_under_output_dir()

    def _tensorboard_under_output_dir(self) -> None:
        """TensorBoard events go under output_dir/runs also when evaluate() logs before any train() (the 0-step
        baseline): the callback only picks that folder in on_train_begin, and would otherwise write ./runs."""
        from transformers.integrations import TensorBoardCallback
        from transformers.integrations.integration_utils import default_logdir

        for callback in self.callback_handler.callbacks:
            if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
                callback.logging_dir = os.path.join(self.args.output_dir, default_logdir())

    # ---- loss -------------------------------------------------------------------------------------------------
    def with_teacher(self, inputs: dict) -> dict:
        """The batch plus the cached teacher embeddings of its bare queries, positives and hard negatives."""
        if self.teacher is None or "query_ids" not in inputs:
            return inputs
        device = inputs["query_ids"].device
        kinds = (("teacher_query", "query_ids", "query"), ("teacher_positive", "positive_ids", "document"))
        kinds += (("teacher_negative", "negative_ids", "document"),)
        return inputs | {key: self.teacher.lookup(inputs[ids], kind).to(device) for key, ids, kind in kinds}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:  # dev rows have no cached teacher embeddings: their loss is InfoNCE alone
            inputs = self.with_teacher(inputs)
        out = self.loss_fn(**split(embed(model, inputs, self.chunking), inputs))
        self._record_metrics(out.metrics, "train" if model.training else "eval")
        return (out.loss, out) if return_outputs else out.loss

    def _record_metrics(self, metrics: dict[str, torch.Tensor], mode: str) -> None:
        for name, value in metrics.items():
            gathered = self.accelerator.gather_for_metrics(value.detach().reshape(1))
            self._metrics[mode][name].append(gathered.float().mean().item())

    def training_step(self, model, inputs, num_items_in_batch=None):
        if not self.args.grad_cache:
            return super().training_step(model, inputs, num_items_in_batch)
        return self._grad_cache_training_step(model, inputs)

    def _grad_cache_training_step(self, model, inputs):
        """GradCache step: one backward per chunk, each through accelerate / DeepSpeed (synthembed.grad_cache).

        Mirrors Trainer.training_step's scaling (loss / gradient-accumulation steps; DeepSpeed told not to rescale).
        All chunk backwards but the last: under DDP inside `no_sync` (no all-reduce), under DeepSpeed a bare
        `engine.backward` off the accumulation boundary (ZeRO-3 reduce-scatters and accumulates the partitioned
        gradients; no optimizer step). The last goes through `accelerator.backward`, which keeps the Trainer's
        accumulation boundary: DDP syncs and DeepSpeed steps only when `sync_gradients` is set.
        """
        model.train()
        if hasattr(self.optimizer, "train") and callable(self.optimizer.train):
            self.optimizer.train()
        inputs = self.with_teacher(self._prepare_inputs(inputs))
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

        def no_sync():
            return self.accelerator.no_sync(model=model)

        with self.compute_loss_context_manager():
            out = grad_cache_step(model, inputs, self.loss_fn, self.chunking, backward=backward, no_sync=no_sync)
        self._record_metrics(out.metrics, "train")
        return out.loss.detach() * scale

    # ---- evaluation -------------------------------------------------------------------------------------------
    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """STS pairs → (no loss, cosine [B], gold score [B]); training-shaped rows → (loss, None, None), with the
        loss's side metrics (retrieval accuracy among the eval batch's candidates) recorded for the eval mode."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            if "score" in inputs:
                cosine = F.cosine_similarity(model(**inputs["sentence1"]), model(**inputs["sentence2"])).float()
                return None, cosine, inputs["score"]
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def evaluation_loop(self, *args, metric_key_prefix: str = "eval", **kwargs):
        self._metrics["eval"].clear()
        output = super().evaluation_loop(*args, metric_key_prefix=metric_key_prefix, **kwargs)
        for name, values in self._metrics["eval"].items():
            output.metrics[f"{metric_key_prefix}_{name}"] = sum(values) / len(values)
        self._metrics["eval"].clear()
        return output

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log: the averages since the last one
            for name, values in self._metrics["train"].items():
                if values:
                    logs[name] = sum(values) / len(values)
            self._metrics["train"].clear()
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
        # push_to_hub saves the final folder as an internal call without a folder: that is the export too (the raw
        # weights, the plain tokenizer and training_args.bin would overwrite it), and skipped when just written.
        final = not _internal_call or output_dir is None
        if final and _internal_call and getattr(self, "_exported_step", None) == self.state.global_step:
            return
        self._export_sentence_transformer = final
        try:
            super().save_model(output_dir, _internal_call)
        finally:
            self._export_sentence_transformer = False
        if final:
            self._exported_step = self.state.global_step

    def _save_checkpoint(self, model, trial) -> None:
        """The Trainer's checkpoint, carrying this run's marker (synthembed.resume: only such checkpoints are resumed
        automatically) before trainer_state.json completes it. A failed write (a full disk) becomes one line naming
        the folder, and the half-written checkpoint is removed: it would only hold the space."""
        folder = os.path.join(self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        try:
            if self.args.should_save:
                mark_checkpoint(self.args.output_dir, folder)
            super()._save_checkpoint(model, trial)
        except Exception as e:
            failure = save_failure(e, folder)
            if failure is None:
                raise
            if self.args.should_save:
                shutil.rmtree(folder, ignore_errors=True)
            raise failure from e

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

        def write(folder) -> None:
            curve = plot_learning_curve(self.state.log_history, os.path.join(folder, CURVE_NAME))
            settings = folder_settings(
                self.model_args,
                self.data_args,
                training=self.training_summary(),
                learning_curve=curve and CURVE_NAME,
                matryoshka_dims=self.args.matryoshka_dims,
            )
            arguments = (model.config, self.processing_class, self.model_args, self.data_args, folder)
            export_sentence_transformer(state_dict, *arguments, save_adapter=self.args.save_adapter, settings=settings)
            self.create_model_card(directory=folder)

        try:  # written aside and moved in whole: a full disk leaves no half model in output_dir
            save_folder_atomically(output_dir, write)
        except Exception as e:
            failure = save_failure(e, output_dir)
            if failure is None:
                raise
            raise failure from e

    def training_summary(self) -> dict:
        summary = {k: getattr(self.args, k) for k in SUMMARY_KEYS}
        summary.update({k: getattr(self.args, k) for k in MATRYOSHKA_KEYS if getattr(self.args, k) is not None})
        summary.update({k: getattr(self.args, k) for k in BEYOND_E5_KEYS if getattr(self.args, k)})  # those on
        if self.teacher is not None:
            summary["teacher_encode_s"] = round(self.teacher.encode_seconds)
            if self.args.distill_temperature is not None:
                summary["distill_temperature"] = self.args.distill_temperature
            summary["distill_texts"] = self.args.distill_texts
            own = {entry_name(e, i): e["distill_weight"] for i, e in enumerate(self.data_args.dataset_mixture)
                   if "distill_weight" in e}  # fmt: skip
            if own:
                summary["distill_weight_by_entry"] = own
        if self.args.max_steps > 0:
            del summary["num_train_epochs"]  # max_steps wins
        summary["lr_scheduler_type"] = str(summary["lr_scheduler_type"]).split(".")[-1].lower()
        lora = self.model_args.use_lora
        runtime = self._last_logged("train_runtime")
        summary.update(
            world_size=self.args.world_size,
            global_batch_size=self.args.per_device_train_batch_size * self.args.world_size,
            global_step=self.state.global_step,
            lora={"r": self.model_args.lora_r, "alpha": self.model_args.lora_alpha} if lora else None,
            pooling=self.model_args.pooling,
            max_seq_length=self.data_args.max_seq_length,
            train_runtime_s=None if runtime is None else round(runtime),
            final_loss=self._last_logged("loss"),
            dev=dev_metrics(self.state.log_history) or None,
        )
        return summary

    def _last_logged(self, key: str):
        return next((h[key] for h in reversed(self.state.log_history) if key in h), None)

    def create_model_card(self, *args, directory: str | None = None, **kwargs) -> None:
        """Replaces the Trainer's card (which push_to_hub would write) with ours, rendered from the saved folder."""
        if not self.is_world_process_zero():
            return
        from synthembed.model_card import render_model_card

        render_model_card(
            directory or self.args.output_dir,
            model_name=self.args.hub_model_id or os.path.basename(os.path.abspath(self.args.output_dir)),
        )
