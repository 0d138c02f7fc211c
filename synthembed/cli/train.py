"""Train a decoder (or encoder) LLM into an embedding model with InfoNCE, the E5-mistral way.

    accelerate launch --config_file configs/accelerate/zero3.yaml recipes/train.py \
        --config recipes/e5-mistral-7b-instruct/train.yaml [--key value ...]
    synthembed-train --config recipes/cpu-quickstart/train.yaml     # one process (installed command)

Resumes from the newest complete checkpoint this run wrote in output_dir (synthembed.resume); bad config or data:
one `error:` line, exit status 2.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import warnings
from dataclasses import field
from typing import Any, Literal

from synthembed.configs import ContrastiveArguments, DataArguments, ModelArguments
from synthembed_common.config import fail, parse_config
from synthembed_common.logs import setup_logging

logger = logging.getLogger("synthembed.train")


def main(argv: list[str] | None = None) -> None:
    ################
    # Config: parsed and validated before anything heavy is imported or loaded
    ################
    argv = list(sys.argv[1:] if argv is None else argv)
    check_before_importing_transformers(argv)
    from synthembed.training_args import ContrastiveTrainingArguments  # imports transformers (seconds)

    model_args, data_args, training_args = parse_config(
        [ModelArguments, DataArguments, ContrastiveTrainingArguments], argv, description=__doc__
    )
    has_dev_set = bool(data_args.eval_datasets or data_args.eval_fraction)
    if training_args.eval_strategy != "no" and not has_dev_set:
        fail("`eval_strategy` needs a dev set: give `eval_datasets` or `eval_fraction`, or set `eval_strategy: no`")
    setup_logging("INFO", main_process=training_args.process_index == 0)
    check_backbone(model_args, training_args)
    created = not os.path.exists(training_args.output_dir)
    try:
        train(model_args, data_args, training_args, has_dev_set)
    except BaseException:
        if created and training_args.should_save:
            remove_if_nothing_saved(training_args.output_dir)
        raise
    if training_args.world_size > 1:  # the group is left (train's end); no teardown with gloo threads alive
        from synthembed.distributed import exit_without_teardown

        exit_without_teardown(0)


def train(model_args, data_args, training_args, has_dev_set: bool) -> None:
    from transformers import AutoTokenizer, set_seed

    from synthembed.data import ContrastiveCollator, DataError, EOSTokenizer, load_eval_datasets, load_mixture
    from synthembed.modeling import EmbeddingModel, resolve_model_dir
    from synthembed.saving import SaveFailed, save_failure
    from synthembed.trainer import ContrastiveTrainer

    set_seed(training_args.seed)
    resume = resume_point(model_args, data_args, training_args)

    ################
    # Data
    ################
    with training_args.main_process_first(desc="loading the dataset mixture"):
        try:
            train_dataset = load_mixture(data_args, seed=training_args.seed)
            eval_datasets = load_eval_datasets(data_args, seed=training_args.seed)
        except DataError as e:  # bad rows, unreadable files, missing columns: one line, nothing written
            fail(str(e))
    if data_args.eval_fraction > 0:
        split = train_dataset.train_test_split(test_size=data_args.eval_fraction, seed=training_args.seed)
        train_dataset, eval_datasets["heldout"] = split["train"], split["test"]
    if has_dev_set and training_args.eval_strategy == "no" and training_args.max_steps != 0:
        logger.warning("Dev sets given but eval_strategy is 'no': set eval_strategy: steps and eval_steps")
    teacher = teacher_embeddings(training_args, data_args, train_dataset) if training_args.distill_teacher else None

    ################
    # Model and tokenizer
    ################
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(model_args))
    model = EmbeddingModel.from_args(model_args, gradient_checkpointing=training_args.activation_checkpointing)
    collator = ContrastiveCollator(
        EOSTokenizer(tokenizer, data_args.max_seq_length, append_eos=model_args.pooling == "last_token"),
        data_args.query_template,
        training_args.num_hard_negatives,
        graded=any(entry.get("graded") for entry in data_args.dataset_mixture),
        distill_weights=any("distill_weight" in entry for entry in data_args.dataset_mixture),
    )
    global_batch = training_args.per_device_train_batch_size * training_args.world_size
    logger.info(
        "Global contrastive batch: %d queries (per device %d × %d processes); gradient accumulation (%d) adds no "
        "in-batch negatives",
        global_batch,
        training_args.per_device_train_batch_size,
        training_args.world_size,
        training_args.gradient_accumulation_steps,
    )

    ################
    # Training, then the save (merged SentenceTransformer folder + model card): a full disk is one line
    ################
    try:
        trainer = ContrastiveTrainer(
            model=model,
            args=training_args,
            train_dataset=train_dataset,
            eval_dataset=eval_datasets or None,
            data_collator=collator,
            processing_class=tokenizer,
            model_args=model_args,
            data_args=data_args,
        )
        trainer.teacher = teacher
        if training_args.max_steps == 0:  # the baseline: the untrained model saved exactly as a trained one would be
            logger.info("max_steps 0: saving the untrained model")
            if trainer.eval_dataset is not None:
                trainer.evaluate()  # its dev scores: the learning curve's step 0
            result = None
        else:
            result = trainer.train(resume_from_checkpoint=resume)
        if result is not None:
            trainer.log_metrics("train", result.metrics)
            try:
                trainer.save_metrics("train", result.metrics)
                trainer.save_state()
            except OSError as e:
                failure = save_failure(e, training_args.output_dir)
                if failure is None:
                    raise
                raise failure from e
        trainer.save_model(training_args.output_dir)
    except (AssertionError, ValueError) as e:
        problem = deepspeed_problem(e)
        if problem is None:
            raise
        fail(problem)
    except SaveFailed as e:  # a full disk at a checkpoint or at the final save
        fail(str(e))
    logger.info("Model saved to %s", training_args.output_dir)

    ################
    # Push
    ################
    if training_args.push_to_hub:
        trainer.push_to_hub(commit_message="synthembed: trained embedding model")
    from synthembed.distributed import leave_process_group

    leave_process_group(trainer.accelerator)


def teacher_embeddings(training_args, data_args, train_dataset):
    """The distillation teacher's embeddings of every training text: encoded by the main process into the cache
    (resumable), then loaded by every process. Encoded outside ZeRO-3's partitioned loading: the teacher is whole on
    one process, not sharded."""
    import torch
    from transformers.integrations.deepspeed import set_hf_deepspeed_config, unset_hf_deepspeed_config

    from synthembed.teacher import TeacherEmbeddings, training_texts

    teacher = TeacherEmbeddings(
        training_args.distill_teacher,
        training_args.teacher_cache_dir,
        training_args.teacher_batch_size,
        max_seq_length=data_args.max_seq_length,
    )
    texts = training_texts(train_dataset, training_args.num_hard_negatives)
    threads = torch.get_num_threads()
    with training_args.main_process_first(desc="teacher embeddings"):
        unset_hf_deepspeed_config()
        if training_args.device.type == "cpu" and training_args.local_process_index == 0:
            # the node's other processes wait at the barrier meanwhile: their cores encode too (2x on 2 processes)
            lent = threads * int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            torch.set_num_threads(min(lent, os.cpu_count() or lent))
        try:
            teacher.ensure(*texts, device=str(training_args.device))
        except (OSError, ValueError) as e:
            fail(f"`distill_teacher`: {e}")
        finally:
            torch.set_num_threads(threads)
            if getattr(training_args, "hf_deepspeed_config", None) is not None:
                set_hf_deepspeed_config(training_args.hf_deepspeed_config)
    return teacher


def resume_point(model_args, data_args, training_args) -> str | None:
    """The checkpoint to resume from: `resume_from_checkpoint` as given, else the newest checkpoint in output_dir that
    this run wrote (synthembed.resume: resuming loads pickles); this run's marker is recorded in output_dir."""
    if training_args.max_steps == 0:
        return None
    from synthembed.resume import ResumeRefused, auto_resume_checkpoint, config_digest, this_run

    resume = training_args.resume_from_checkpoint
    if resume and not os.path.isdir(resume):
        fail(f"`resume_from_checkpoint`: no such folder {resume!r}")
    run = this_run(training_args.output_dir, config_digest(model_args, data_args, training_args))
    if not resume:
        try:
            resume = auto_resume_checkpoint(training_args.output_dir, run)
        except ResumeRefused as e:
            fail(str(e))
    if resume:
        logger.info("Resuming from %s", resume)
    if training_args.should_save:
        run.write(training_args.output_dir)
    return resume


def remove_if_nothing_saved(output_dir: str) -> None:
    """A failed run's output_dir, created by it, goes again unless it holds a complete checkpoint or a model."""
    from synthembed.resume import last_complete_checkpoint

    if not os.path.isdir(output_dir) or os.path.isfile(os.path.join(output_dir, "modules.json")):
        return
    if last_complete_checkpoint(output_dir) is None:
        shutil.rmtree(output_dir, ignore_errors=True)


def check_before_importing_transformers(argv: list[str]) -> None:
    """The config errors that need no transformers, in well under a second: config files, unknown keys (the names of
    TrainingArguments' fields are read from its source), and every value of the model, data and contrastive fields.
    TrainingArguments' own values are checked by the full parse that follows. `--help` lists TrainingArguments'
    fields from a stand-in built from the same source."""
    if "-h" in argv or "--help" in argv:
        stand_in = training_arguments_for_help()
        if stand_in is not None:
            parse_config([ModelArguments, DataArguments, stand_in, ContrastiveArguments], argv, description=__doc__)
        return  # (the full parse prints the help where the stand-in cannot be built)
    names = training_argument_names()
    if names is None:
        return
    with warnings.catch_warnings():  # deprecation warnings come once, from the full parse
        warnings.simplefilter("ignore")
        parse_config([ModelArguments, DataArguments, ContrastiveArguments], argv, foreign_keys=names)


def check_backbone(model_args, training_args) -> None:
    """From the backbone's config, before the weights load: `matryoshka_dims` within its hidden size, and
    `use_bidirectional_attention` only where the architecture has the switch."""
    if not training_args.matryoshka_dims and not model_args.use_bidirectional_attention:
        return
    from transformers import AutoConfig

    from synthembed.modeling import bidirectional_config, resolve_model_dir
    from synthembed_common.config import ConfigError

    if model_args.use_bidirectional_attention:
        try:
            bidirectional_config(resolve_model_dir(model_args))
        except ValueError as e:
            fail(str(e))
    if not training_args.matryoshka_dims:
        return
    config = AutoConfig.from_pretrained(resolve_model_dir(model_args))
    hidden = getattr(config, "hidden_size", None) or getattr(config.get_text_config(), "hidden_size", None)
    try:
        training_args.check_matryoshka(hidden)
    except ConfigError as e:
        fail(str(e))


def deepspeed_problem(error: BaseException) -> str | None:
    """One line for the DeepSpeed config mismatches transformers and DeepSpeed detect late (None: not one of those)."""
    text = str(error)
    if "DeepSpeed config values that mismatch" in text:
        found = [line.strip()[2:] for line in text.splitlines() if line.strip().startswith("- ds ")]
        return f'DeepSpeed config mismatch: {"; ".join(found)}; set these DeepSpeed values to "auto"'
    if "train_batch_size is not equal" in text:
        detail = " ".join(text.split()).split("Check batch related parameters. ")[-1]
        return f'DeepSpeed batch size mismatch: {detail}; set train_batch_size to "auto" (CPU runs: use_cpu: true)'
    return None


# --help and the early check know TrainingArguments from its source: importing transformers costs seconds.
def _training_argument_nodes() -> list | None:
    """The field definitions of transformers.TrainingArguments as its source has them (ast nodes), read without
    importing transformers (seconds of start-up); None where the source cannot be read."""
    import ast
    import importlib.util

    try:
        spec = importlib.util.find_spec("transformers")
        source = os.path.join(spec.submodule_search_locations[0], "training_args.py")
        with open(source) as f:
            tree = ast.parse(f.read())
    except (AttributeError, ImportError, OSError, SyntaxError, TypeError, IndexError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "TrainingArguments":
            return [
                item
                for item in node.body
                if isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and not item.target.id.startswith("_")
                and "ClassVar" not in ast.unparse(item.annotation)
            ]
    return None


def training_argument_names() -> set[str] | None:
    """The field names of transformers.TrainingArguments (None where its source cannot be read: then the full parse
    finds unknown keys)."""
    nodes = _training_argument_nodes()
    return None if nodes is None else {node.target.id for node in nodes}


class _AnyNameIsStr(dict):
    def __missing__(self, name):  # transformers' enums (IntervalStrategy, ...) take strings on the command line
        return str


def training_arguments_for_help() -> type | None:
    """A stand-in for transformers.TrainingArguments with the same fields, defaults and help, built from its source:
    what `--help` lists, without importing transformers. None where the source cannot be read that way."""
    import ast
    import dataclasses
    import typing

    nodes = _training_argument_nodes()
    if nodes is None:
        return None
    names = {"Any": Any, "Literal": Literal, "Optional": typing.Optional, "Union": typing.Union}
    names.update({t.__name__: t for t in (str, int, float, bool, list, dict)})
    overridden = {f.name for f in dataclasses.fields(ContrastiveArguments)}
    fields = []
    for node in nodes:
        if node.target.id in overridden:
            continue
        kwargs = {k.arg: k.value for k in node.value.keywords} if isinstance(node.value, ast.Call) else {}
        default = kwargs.get("default", node.value if not kwargs else None)
        metadata = kwargs.get("metadata")
        help_text = ""
        if isinstance(metadata, ast.Dict):  # only "help": the other entries may be computed ("choices")
            for key, value in zip(metadata.keys, metadata.values):
                if isinstance(key, ast.Constant) and key.value == "help":
                    help_text = ast.literal_eval(value)
        try:
            default = ast.literal_eval(default) if default is not None else None
        except ValueError:  # an enum member or a computed value: its source text
            default = ast.unparse(default)
        if "default_factory" in kwargs:  # list, dict, or a lambda returning a literal
            factory = kwargs["default_factory"]
            factory = factory.body if isinstance(factory, ast.Lambda) else factory
            simple = {"list": [], "dict": {}}
            default = simple.get(getattr(factory, "id", None)) if isinstance(factory, ast.Name) else None
            if default is None and not isinstance(factory, ast.Name):
                try:
                    default = ast.literal_eval(factory)
                except ValueError:
                    default = None
        hint = eval(ast.unparse(node.annotation), {"__builtins__": {}}, _AnyNameIsStr(names))
        metadata = {"help": help_text}
        if isinstance(default, (list, dict)):
            made = field(default_factory=lambda value=default: value, metadata=metadata)
        else:
            made = field(default=default, metadata=metadata)
        fields.append((node.target.id, hint, made))
    return dataclasses.make_dataclass("TrainingArguments", fields)


if __name__ == "__main__":
    main()
