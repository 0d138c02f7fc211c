"""Train a decoder (or encoder) LLM into an embedding model with InfoNCE, the E5-mistral way.

    accelerate launch --config_file configs/accelerate/zero3.yaml recipes/train.py \
        --config recipes/e5-mistral-7b-instruct/train.yaml [--key value ...]
    synthembed-train --config recipes/cpu-quickstart/train.yaml     # one process (installed command)

Resumes from the newest complete checkpoint in output_dir; bad config or data: one `error:` line, exit status 2.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

from synthembed.configs import (
    ContrastiveArguments,
    DataArguments,
    ModelArguments,
    training_argument_names,
    training_arguments_for_help,
)
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
    check_matryoshka_width(model_args, training_args)

    from transformers import AutoTokenizer, set_seed

    from synthembed.data import ContrastiveCollator, DataError, EOSTokenizer, load_eval_datasets, load_mixture
    from synthembed.modeling import EmbeddingModel, resolve_model_dir
    from synthembed.trainer import ContrastiveTrainer

    set_seed(training_args.seed)
    # Auto-resume from the newest checkpoint in output_dir (alignment-handbook habit); an explicit
    # `resume_from_checkpoint: PATH` wins.
    resume = training_args.resume_from_checkpoint or last_complete_checkpoint(training_args.output_dir)
    if resume:
        logger.info("Resuming from %s", resume)

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

    ################
    # Model and tokenizer
    ################
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(model_args))
    model = EmbeddingModel.from_args(model_args, gradient_checkpointing=training_args.activation_checkpointing)
    collator = ContrastiveCollator(
        EOSTokenizer(tokenizer, data_args.max_seq_length, append_eos=model_args.pooling == "last_token"),
        data_args.query_template,
        training_args.num_hard_negatives,
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
    # Training
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
        if training_args.max_steps == 0:  # the baseline: the untrained model saved exactly as a trained one would be
            logger.info("max_steps 0: saving the untrained model")
            if trainer.eval_dataset is not None:
                trainer.evaluate()  # its dev scores: the learning curve's step 0
            result = None
        else:
            result = trainer.train(resume_from_checkpoint=resume)
    except (AssertionError, ValueError) as e:
        problem = deepspeed_problem(e)
        if problem is None:
            raise
        fail(problem)
    if result is not None:
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        trainer.save_state()

    ################
    # Save (merged SentenceTransformer folder + model card) and push
    ################
    trainer.save_model(training_args.output_dir)
    logger.info("Model saved to %s", training_args.output_dir)
    if training_args.push_to_hub:
        trainer.push_to_hub(commit_message="synthembed: trained embedding model")
    from synthembed.distributed import leave_process_group

    leave_process_group(trainer.accelerator)


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


def check_matryoshka_width(model_args, training_args) -> None:
    """`matryoshka_dims` within the backbone's hidden size, read from its config before the weights load."""
    if not training_args.matryoshka_dims:
        return
    from transformers import AutoConfig

    from synthembed.modeling import resolve_model_dir
    from synthembed_common.config import ConfigError

    config = AutoConfig.from_pretrained(resolve_model_dir(model_args))
    hidden = getattr(config, "hidden_size", None) or getattr(config.get_text_config(), "hidden_size", None)
    try:
        training_args.check_matryoshka(hidden)
    except ConfigError as e:
        fail(str(e))


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The newest `checkpoint-N` in output_dir that was written to the end (a run killed while saving leaves a folder
    without trainer_state.json, which the Trainer writes last); None when there is none."""
    if not os.path.isdir(output_dir):
        return None
    steps = sorted(
        (int(name.split("-")[1]), name)
        for name in os.listdir(output_dir)
        if name.startswith("checkpoint-") and name.split("-")[1].isdigit()
    )
    for _, name in reversed(steps):
        path = os.path.join(output_dir, name)
        if os.path.isfile(os.path.join(path, "trainer_state.json")):
            return path
        logger.warning("Skipping %s: incomplete (the run was killed while saving it)", path)
    return None


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


if __name__ == "__main__":
    main()
