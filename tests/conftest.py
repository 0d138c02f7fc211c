"""Shared fixtures: real small models, loaded once per session and never from the Hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.models import build_tiny_mistral
from helpers.paths import EVALDATA_TASKS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_mistral_dir(tmp_path_factory) -> Path:
    return build_tiny_mistral(tmp_path_factory.mktemp("tiny-mistral"))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from synthembed.gguf import embedded_minilm_dir

    return embedded_minilm_dir()


@pytest.fixture(scope="session")
def gemma_dir() -> Path:
    """Gemma-3-270M converted from the embedded GGUF; cached under ~/.cache/synthembed after the first run."""
    from synthembed.gguf import embedded_gemma_dir

    return embedded_gemma_dir()


@pytest.fixture(scope="session")
def evaldata_tasks() -> Path:
    if not EVALDATA_TASKS.is_dir():
        pytest.skip("../shared/evaldata/tasks is not present")
    return EVALDATA_TASKS
