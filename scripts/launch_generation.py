#!/usr/bin/env python
"""Generation in N shards: shared brainstorm, shards, merge (data_generation/cli/launch.py)."""

import sys

from data_generation.cli.launch import main

if __name__ == "__main__":
    sys.exit(main())
