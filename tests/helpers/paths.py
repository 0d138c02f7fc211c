"""Where things are: the repository, and ../shared beside it (present on the project's machines, not in a user's clone)."""

import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
EVALDATA_TASKS = SHARED / "evaldata" / "tasks"
TRAINDATA = SHARED / "traindata"


def load_module(path: Path, name: str):
    """A script or benchmark file (not a package) imported by path, registered in sys.modules under `name` (dataclasses
    resolve annotations through it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
