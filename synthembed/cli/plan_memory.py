"""Per-GPU memory plan for GradCache LoRA training under ZeRO-3, and the chunk size it recommends.

    python scripts/plan_memory.py                                   # paper recipe: 8 × 80 GB, batch 2048, length 512
    python scripts/plan_memory.py --config recipes/e5-mistral-7b-instruct/train.yaml --gpus 4 --gpu_memory_gib 40
    python scripts/plan_memory.py --gpus 4 --gpu-memory-gib 40 --json
    python scripts/plan_memory.py --config recipes/e5-mistral-7b-instruct/train.yaml \
        --markdown recipes/e5-mistral-7b-instruct/MEMORY.md        # the recipe's MEMORY.md, regenerated

`--config` takes a training recipe: the planner reads the keys it models (per_device_train_batch_size,
num_hard_negatives, max_seq_length, lora_r, lora_dropout, activation_checkpointing, embed_chunk_size, and the model's
shape from model_name_or_path when that is a local folder with a config.json) and ignores the rest. The global batch
is per_device_train_batch_size × gpus unless --global_batch says otherwise. Installed as `synthembed-plan-memory`.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

from synthembed_common.config import ConfigError, parse_config


@dataclass
class MemoryPlanArguments:
    gpus: int = field(default=8, metadata={"help": "Processes (GPUs) ZeRO-3 shards over; the paper: 8 per node."})
    gpu_memory_gib: float = field(default=80.0, metadata={"help": "Memory of one GPU, GiB."})
    global_batch: int | None = field(
        default=None,
        metadata={"help": "Queries per contrastive batch; default per_device_train_batch_size × gpus, else 2048."},
    )
    per_device_train_batch_size: int | None = field(
        default=None, metadata={"help": "The recipe's per-process batch (the global batch is this × gpus)."}
    )
    num_hard_negatives: int = field(default=1, metadata={"help": "Hard negatives per query (paper: 1)."})
    max_seq_length: int = field(default=512, metadata={"help": "Tokens per text (paper: 512)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (paper: 16)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout (adds dropout copies of inputs)."})
    activation_checkpointing: bool = field(default=True, metadata={"help": "Per-layer gradient checkpointing."})
    embed_chunk_size: int | None = field(
        default=None, metadata={"help": "The recipe's chunk: its memory is reported next to the recommendation."}
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A local model folder: its config.json gives the shape (default: Mistral-7B's)."},
    )
    json: bool = field(default=False, metadata={"help": "Print the plan as JSON."})
    markdown: str | None = field(
        default=None, metadata={"help": "Write the plan as a recipe's MEMORY.md to this path (written whole, or not)."}
    )
    # the script's former flag names (hyphens work for every field: --gpu-memory-gib)
    hard_negatives: int | None = field(default=None, metadata={"help": "Alias of num_hard_negatives."})
    seq_len: int | None = field(default=None, metadata={"help": "Alias of max_seq_length."})
    no_gradient_checkpointing: bool = field(default=False, metadata={"help": "activation_checkpointing: false."})

    def __post_init__(self):
        self.num_hard_negatives = self.num_hard_negatives if self.hard_negatives is None else self.hard_negatives
        self.max_seq_length = self.max_seq_length if self.seq_len is None else self.seq_len
        self.activation_checkpointing = self.activation_checkpointing and not self.no_gradient_checkpointing
        if self.global_batch is None:
            per_device = self.per_device_train_batch_size
            self.global_batch = 2048 if per_device is None else per_device * self.gpus
        for name in ("gpus", "global_batch", "max_seq_length", "lora_r"):
            if getattr(self, name) < 1:
                raise ConfigError(f"`{name}` must be a positive int, got {getattr(self, name)}")
        if self.gpu_memory_gib <= 0:
            raise ConfigError(f"`gpu_memory_gib` must be > 0, got {self.gpu_memory_gib}")


def model_shape(path: str | None):
    """The shape of a local model folder's config.json (Mistral-7B's when there is none: Hub ids are not fetched)."""
    from synthembed.memory_planner import ModelShape

    config_file = os.path.join(os.path.expanduser(path), "config.json") if path else None
    if not config_file or not os.path.isfile(config_file):
        if path:
            print(f"note: {path} is no local model folder: planning with Mistral-7B's shape", file=sys.stderr)
        return ModelShape()
    config = json.loads(open(config_file).read())
    config = config.get("text_config", config)
    try:
        heads = config["num_attention_heads"]
        return ModelShape(
            hidden=config["hidden_size"],
            layers=config["num_hidden_layers"],
            heads=heads,
            kv_heads=config.get("num_key_value_heads", heads),
            ffn=config["intermediate_size"],
            vocab=config["vocab_size"],
            name=os.path.basename(os.path.normpath(path)),
        )
    except KeyError as e:
        raise ConfigError(
            f"`model_name_or_path`: {config_file} has no {e.args[0]!r}: not a decoder's config"
        ) from None


def main(argv: list[str] | None = None) -> dict:
    (args,) = parse_config([MemoryPlanArguments], argv, description=__doc__, ignore_unknown_keys=True)
    from synthembed.memory_planner import Plan, format_report
    from synthembed_common.config import fail

    try:
        shape = model_shape(args.model_name_or_path)
    except ConfigError as e:
        fail(str(e))
    plan = Plan(
        model=shape,
        gpus=args.gpus,
        gpu_memory_gib=args.gpu_memory_gib,
        global_batch=args.global_batch,
        hard_negatives=args.num_hard_negatives,
        seq_len=args.max_seq_length,
        lora_r=args.lora_r,
        lora_dropout=args.lora_dropout,
        gradient_checkpointing=args.activation_checkpointing,
    )
    report = plan.report()
    if args.embed_chunk_size:
        report["recipe_embed_chunk_size"] = plan.at_chunk(args.embed_chunk_size)
    if args.markdown:
        from synthembed.memory_planner import memory_markdown
        from synthembed_common.files import write_text_atomic

        write_text_atomic(args.markdown, memory_markdown(plan, args.embed_chunk_size, regenerate_command(argv)))
        print(f"wrote {args.markdown}")
    elif args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
        if "recipe_embed_chunk_size" in report:
            chunk = report["recipe_embed_chunk_size"]
            verdict = "fits" if chunk["fits"] else "does NOT fit"
            print(f"recipe: embed_chunk_size {chunk['rows']}: {chunk['total_gib']:.2f} GiB per GPU, {verdict}")
    return report


def regenerate_command(argv: list[str] | None) -> str:
    """The command that writes a recipe's MEMORY.md: the recipe given, the file beside it (whatever path was given,
    so that a regenerated copy elsewhere reads the same)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    configs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"]
    configs += [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
    target = os.path.join(os.path.dirname(configs[-1]), "MEMORY.md") if configs else "MEMORY.md"
    return " ".join(["python scripts/plan_memory.py", *(f"--config {c}" for c in configs), f"--markdown {target}"])


def command() -> int:
    """The console script: exit status 0 (main() returns the report, which sys.exit would print as an error)."""
    main()
    return 0
