#!/usr/bin/env python
"""Generate E5-style synthetic data (data_generation/cli/generate.py; installed as `synthembed-generate`)."""

import sys

from data_generation.cli.generate import main

if __name__ == "__main__":
    sys.exit(main())
