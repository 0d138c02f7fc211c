"""Run a generation recipe as N shards: the shared brainstorm once, then the shards in parallel, then merge_shards.

    python scripts/launch_generation.py --recipe R.yaml --base_urls http://node1:8000/v1,http://node2:8000/v1
    python scripts/launch_generation.py --recipe R.yaml --num_shards 8            # N shards on the recipe's base_url
    python scripts/launch_generation.py --recipe R.yaml --num_shards 8 --step shard --shard_index 3   # one step

Every shard reads the one deduplicated task list of the brainstorm step (Wang et al., 2024, §3.1: tasks are
brainstormed, then examples are generated for them), so no task is brainstormed twice and the shards share them out.
`--step` runs one step (a SLURM array runs `shard` per array task: recipes/e5-mistral-7b-instruct/generate_slurm.sh);
`--print_commands` prints the commands instead of running them. Each step resumes like generate.py itself.
Exit status: 0 done, else the first failing step's status.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from synthembed_common.config import ConfigError, parse_config
from synthembed_common.logs import setup_logging

logger = logging.getLogger("synthembed.launch_generation")
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@dataclass
class LaunchConfig:
    recipe: str = field(default=None, metadata={"help": "The generation YAML (scripts/generate.py --config)."})
    base_urls: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated endpoints, one shard each (default: the recipe's base_url for every shard)."
        },
    )
    num_shards: int | None = field(default=None, metadata={"help": "Shards (default: one per base_urls entry)."})
    step: Literal["all", "brainstorm", "shard", "merge"] = field(
        default="all", metadata={"help": "all | brainstorm | shard (one, `shard_index`) | merge."}
    )
    shard_index: int | None = field(default=None, metadata={"help": "The shard `step: shard` runs."})
    print_commands: bool = field(default=False, metadata={"help": "Print the commands, run nothing."})
    log_level: str = field(default="INFO", metadata={"help": "Logging level."})

    def __post_init__(self):
        if not self.recipe or not Path(self.recipe).is_file():
            raise ConfigError(f"`recipe` must be an existing generation YAML, got {self.recipe!r}")
        self.urls = [u.strip() for u in (self.base_urls or "").split(",") if u.strip()]
        if self.num_shards is None:
            self.num_shards = len(self.urls) or 1
        if not isinstance(self.num_shards, int) or self.num_shards < 1:
            raise ConfigError(f"`num_shards` must be a positive integer, got {self.num_shards!r}")
        if self.step == "shard" and not (
            isinstance(self.shard_index, int) and 0 <= self.shard_index < self.num_shards
        ):
            raise ConfigError(
                f"`shard_index` must be in [0, {self.num_shards}) for step shard, got {self.shard_index}"
            )
        self.output_dir = (yaml.safe_load(Path(self.recipe).read_text()) or {}).get("output_dir")
        if not self.output_dir:
            raise ConfigError(f"`recipe` must set output_dir, {self.recipe} does not")


def _generate(config: LaunchConfig, *args: str, url_index: int = 0) -> list[str]:
    url = ["--base_url", config.urls[url_index % len(config.urls)]] if config.urls else []
    return [sys.executable, str(SCRIPTS / "generate.py"), "--config", config.recipe, *url, *args]


def brainstorm_command(config: LaunchConfig) -> list[str]:
    return _generate(config, "--stage", "brainstorm", "--num_shards", str(config.num_shards))


def shard_command(config: LaunchConfig, index: int) -> list[str]:
    shard = ["--num_shards", str(config.num_shards), "--shard_index", str(index)]
    return _generate(config, "--stage", "generate", *shard, url_index=index)


def merge_command(config: LaunchConfig) -> list[str]:
    return [sys.executable, str(SCRIPTS / "merge_shards.py"), "--output_dir", config.output_dir]


def _run_all(commands: list[list[str]]) -> int:
    """Run the commands at once; the first non-zero exit status, or 0."""
    procs = [subprocess.Popen(c) for c in commands]
    codes = [p.wait() for p in procs]
    for command, code in zip(commands, codes):
        if code:
            logger.error("exit %d: %s", code, shlex.join(command))
    return next((c for c in codes if c), 0)


def main(args=None) -> int:
    (config,) = parse_config([LaunchConfig], args, description=__doc__)
    setup_logging(config.log_level)
    if config.step == "shard":
        steps = [[shard_command(config, config.shard_index)]]
    else:
        steps = {
            "brainstorm": [[brainstorm_command(config)]],
            "merge": [[merge_command(config)]],
            "all": [
                [brainstorm_command(config)],
                [shard_command(config, i) for i in range(config.num_shards)],
                [merge_command(config)],
            ],
        }[config.step]
    if config.print_commands:
        print("\n".join(shlex.join(c) for step in steps for c in step))
        return 0
    for step in steps:  # a step starts only once the one before it has finished cleanly
        code = _run_all(step)
        if code:
            return code
    return 0
