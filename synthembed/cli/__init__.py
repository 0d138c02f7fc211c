"""Console entry points (setup.cfg `console_scripts`); `recipes/train.py` and `scripts/*.py` are thin wrappers of
these, so the README's commands and the installed `synthembed-*` commands run the same code.

Each module imports only the standard library and the config dataclasses at the top: `--help` and configuration
errors return before torch, transformers or datasets load.
"""
