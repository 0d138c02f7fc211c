"""The generation engine's layout: the mode registry agrees with the config, each mode-only setting names real fields
and modes, no module writes into another module's globals at import (corpus and translate used to register their
parsers into pipeline.PARSERS), and the relabeling settings are listed by --help."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest
from helpers.paths import REPO_ROOT


def test_the_mode_registry_and_the_config_name_the_same_modes():
    from data_generation.config import GenerationConfig
    from data_generation.mode_settings import MODE_ONLY_SETTINGS
    from data_generation.modes import MODES

    hint = typing.get_type_hints(GenerationConfig)["mode"]
    assert set(typing.get_args(hint)) == set(MODES)
    assert all(mode.name == name for name, mode in MODES.items())
    fields = {f.name for f in dataclasses.fields(GenerationConfig)}
    assert set(MODE_ONLY_SETTINGS) <= fields, set(MODE_ONLY_SETTINGS) - fields
    assert {m for modes in MODE_ONLY_SETTINGS.values() for m in modes} <= set(MODES)


def module_level_writes(root: Path) -> list[str]:
    """`module.name[...] = ...` / `module.name = ...` at the top level of a module, into a module it imports."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported |= {a.asname or a.name for a in node.names}
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for target in targets:
                while isinstance(target, ast.Subscript | ast.Attribute):
                    target = target.value
                    if isinstance(target, ast.Name) and target.id in imported:
                        found.append(f"{path.relative_to(root).as_posix()}:{node.lineno}")
    return found


def test_no_module_writes_into_another_at_import(tmp_path):
    assert module_level_writes(REPO_ROOT / "data_generation") == []
    (tmp_path / "mode.py").write_text("from data_generation import engine\n\nengine.PARSERS['x'] = print\n")
    (tmp_path / "other.py").write_text("import data_generation.engine\n\ndata_generation.engine.LIMIT = 3\n")
    assert module_level_writes(tmp_path) == ["mode.py:3", "other.py:3"]


def test_help_lists_the_flat_relabeling_and_embedder_settings(capsys):
    from data_generation.cli.generate import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    for flag in ("--relabel_enabled", "--relabel_top_k", "--relabel_negative_rank", "--reference_embedder"):
        assert flag in printed
    assert "--embedder_batch_size" in printed and "Deprecated" in printed  # the old mapping, still accepted
