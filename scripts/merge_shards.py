#!/usr/bin/env python
"""Join a sharded generation run (data_generation/cli/merge_shards.py; installed as `synthembed-merge-shards`)."""

import sys

from data_generation.cli.merge_shards import main

if __name__ == "__main__":
    sys.exit(main())
