"""Merge two or more trained model folders of one base into one model (weighted average, or slerp of two).

    python scripts/merge_models.py --models outputs/run-a/model outputs/run-b/model --output_dir outputs/merged \
        [--method average|slerp] [--weights 0.5 0.5] [--slerp_t 0.5]

The child is a normal model folder (SentenceTransformer-loadable, the parents' tokenizer, pooling and prompts) whose
card names its parents and the method. Installed as `synthembed-merge-models`. Parents of different bases,
architectures or usages: one `error:` line, exit status 2, nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from synthembed_common.config import ConfigError, fail, parse_config
from synthembed_common.logs import setup_logging


@dataclass
class MergeArguments:
    models: list[str] = field(metadata={"help": "Model folders written by the trainer (two or more, one base)."})
    output_dir: str = field(metadata={"help": "The merged model folder (replaced whole if it exists)."})
    method: Literal["average", "slerp"] = field(
        default="average", metadata={"help": "average: weighted mean of the weights; slerp: of exactly two models."}
    )
    weights: list[float] | None = field(
        default=None, metadata={"help": "average: one weight per model (normalized to sum 1); default: equal."}
    )
    slerp_t: float = field(default=0.5, metadata={"help": "slerp: 0 = the first model, 1 = the second."})
    model_name: str | None = field(default=None, metadata={"help": "Name in the card (default: output_dir's)."})

    def __post_init__(self):
        if len(self.models) < 2:
            raise ConfigError(f"`models` must name at least two model folders, got {len(self.models)}")
        if not 0 <= self.slerp_t <= 1:
            raise ConfigError(f"`slerp_t` must be in [0, 1], got {self.slerp_t}")
        if self.method == "slerp" and (len(self.models) != 2 or self.weights is not None):
            raise ConfigError("`method: slerp` merges exactly two `models`, weighted by `slerp_t` (not `weights`)")
        if self.weights is not None and len(self.weights) != len(self.models):
            raise ConfigError(f"`weights` must give one weight per model ({len(self.models)}), got {self.weights}")


def main(argv=None):
    (args,) = parse_config([MergeArguments], argv, description=__doc__)
    setup_logging()
    from synthembed.merging import MergeError, merge_models

    try:
        out = merge_models(args.models, args.output_dir, args.method, args.weights, args.slerp_t, args.model_name)
    except MergeError as e:
        fail(str(e))
    print(f"merged model: {out}")
    return out


def command() -> int:
    """The console script: exit status 0 (main() returns the folder, which sys.exit would print as an error)."""
    main()
    return 0
