"""One logging set-up for every entry point."""

from __future__ import annotations

import logging
import sys
import warnings


def setup_logging(level: str | int = "INFO", main_process: bool = True) -> None:
    """Plain, timestamped logging; libraries quiet down to warnings; non-main ranks log errors only."""
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stdout, force=True
    )
    logging.getLogger().setLevel(level if main_process else logging.ERROR)
    # DeepSpeed calls torch.distributed APIs that torch deprecates: one warning per collective per step otherwise.
    warnings.filterwarnings(
        "ignore", message=r".*is deprecated\. Please use `torch\.distributed", category=FutureWarning
    )
    for noisy in ("httpx", "httpx2", "openai", "urllib3", "datasets", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        import transformers

        transformers.utils.logging.set_verbosity(logging.WARNING if main_process else logging.ERROR)
    except ImportError:
        pass
