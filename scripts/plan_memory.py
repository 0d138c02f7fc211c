"""Per-GPU memory plan for the cached-loss LoRA recipe under ZeRO-3, and the chunk size it recommends.

python scripts/plan_memory.py                                   # paper recipe: 8 × 80 GB, batch 2048, length 512
python scripts/plan_memory.py --gpus 4 --gpu-memory-gib 40 --json
"""

from __future__ import annotations

import argparse
import json

from synthembed.memory_planner import Plan, format_report


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Plan()
    p.add_argument("--gpus", type=int, default=defaults.gpus)
    p.add_argument("--gpu-memory-gib", type=float, default=defaults.gpu_memory_gib)
    p.add_argument("--global-batch", type=int, default=defaults.global_batch)
    p.add_argument("--hard-negatives", type=int, default=defaults.hard_negatives)
    p.add_argument("--seq-len", type=int, default=defaults.seq_len)
    p.add_argument("--lora-r", type=int, default=defaults.lora_r)
    p.add_argument("--lora-dropout", type=float, default=defaults.lora_dropout)
    p.add_argument("--no-gradient-checkpointing", action="store_true")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    args = p.parse_args(argv)
    plan = Plan(
        gpus=args.gpus, gpu_memory_gib=args.gpu_memory_gib, global_batch=args.global_batch,
        hard_negatives=args.hard_negatives, seq_len=args.seq_len, lora_r=args.lora_r, lora_dropout=args.lora_dropout,
        gradient_checkpointing=not args.no_gradient_checkpointing,
    )  # fmt: skip
    report = plan.report()
    print(json.dumps(report, indent=2) if args.json else format_report(report))


if __name__ == "__main__":
    main()
