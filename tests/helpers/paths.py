"""Where things are: the repository, and ../shared beside it (present on the project's machines, not in a user's clone)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
EVALDATA_TASKS = SHARED / "evaldata" / "tasks"
TRAINDATA = SHARED / "traindata"
