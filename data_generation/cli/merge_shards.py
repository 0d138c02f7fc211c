"""Join the shards of a sharded generation run and (optionally) push the result.

for i in 0 1 2 3; do python scripts/generate.py --config R.yaml --num_shards 4 --shard_index $i & done; wait
(or scripts/launch_generation.py, which brainstorms once for all shards first and runs this at the end)
python scripts/merge_shards.py --output_dir data/e5-synthetic [--push_to_hub true --hub_dataset_id org/name]

Installed as `synthembed-merge-shards`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from synthembed_common.config import ConfigError, fail, parse_config
from synthembed_common.logs import setup_logging

logger = logging.getLogger("synthembed.merge_shards")


@dataclass
class MergeConfig:
    output_dir: str = field(default=None, metadata={"help": "The sharded run's output_dir (holds shard-*-of-*/)."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the merged dataset + card to the Hub."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Hub dataset repo id."})
    hub_private: bool = field(default=True, metadata={"help": "Create the repo private."})
    hub_token_env: str = field(default="HF_TOKEN", metadata={"help": "Environment variable holding the Hub token."})
    log_level: str = field(default="INFO", metadata={"help": "Logging level."})

    def __post_init__(self):
        if not self.output_dir or not Path(self.output_dir).is_dir():
            raise ConfigError(f"`output_dir` must be an existing sharded run directory, got {self.output_dir!r}")
        if self.push_to_hub and not self.hub_dataset_id:
            raise ConfigError("`hub_dataset_id` must be set (org/name) when push_to_hub is true")


def main(args=None) -> int:
    (config,) = parse_config([MergeConfig], args, description=__doc__)
    setup_logging(config.log_level)

    from data_generation.hub import push_to_hub
    from data_generation.merge import merge_shards
    from data_generation.output import no_space_message, write_outputs

    try:
        rows, stats, run_config = merge_shards(config.output_dir)
    except FileNotFoundError as e:
        fail(str(e), code=1)
    run_config["hub_dataset_id"] = config.hub_dataset_id or run_config.get("hub_dataset_id")
    try:
        write_outputs(Path(config.output_dir), rows, stats, run_config)
    except OSError as e:
        if no_space_message(e) is None:
            raise
        fail(no_space_message(e), code=4)
    if config.push_to_hub:
        push_to_hub(Path(config.output_dir), config.hub_dataset_id, config.hub_private, config.hub_token_env)
    return 0
