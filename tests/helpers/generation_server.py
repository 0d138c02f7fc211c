"""Test-only helpers around the scripted OpenAI-compatible server (helpers/scripted_server.py): a small recipe
against it, the generate.py command line, and a child environment holding a throwaway API key."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from helpers.paths import REPO_ROOT
from helpers.scripted_server import REPLY_KEYS, ScriptedServer, request_hash

__all__ = [
    "ALL_TYPES",
    "REPO_ROOT",
    "TEST_KEY",
    "TEST_KEY_ENV",
    "ScriptedServer",
    "child_env",
    "generate_cmd",
    "request_hash",
    "write_config",
]

TEST_KEY_ENV = "SYNTHEMBED_TEST_API_KEY"
TEST_KEY = "sk-test-9f8e7d6c5b4a-do-not-leak"
ALL_TYPES = {t: 1 for t in REPLY_KEYS}
SYNTHETIC_ONLY = ("task_proportions", "tasks_per_brainstorm", "examples_per_task")


def write_config(path: Path, base_url: str | None, output_dir: Path, **overrides) -> Path:
    """A small generation recipe against the scripted server (overrides win)."""
    config = {
        "base_url": base_url,
        "model": "scripted-model",
        "api_key_env": TEST_KEY_ENV,
        "num_examples": 24,
        "task_proportions": ALL_TYPES,
        "tasks_per_brainstorm": 5,
        "examples_per_task": 2,
        "max_concurrency": 4,
        "max_retries": 4,
        "request_timeout": 30,
        "seed": 1234,
        "output_dir": str(output_dir),
        "progress": False,
        "prices": {"scripted-model": {"prompt": 1.0, "completion": 2.0}},
        "quality_language_check": "off",  # canned replies are pseudo-words, in no row's language
        **overrides,
    }
    if base_url is None:  # a fleet: the overrides give `endpoints`
        del config["base_url"]
    if config.get("mode", "synthetic") != "synthetic":  # settings of the synthetic mode, which the others refuse
        for key in SYNTHETIC_ONLY:
            if key not in overrides:
                del config[key]
    path.write_text(yaml.safe_dump(config))
    return path


def generate_cmd(config: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "scripts" / "generate.py"), "--config", str(config), *extra]


def child_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update({TEST_KEY_ENV: TEST_KEY, "PYTHONPATH": str(REPO_ROOT)}, **extra)
    return env
