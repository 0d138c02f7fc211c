"""Synthetic data generation for text embeddings, after Wang et al. 2024 (E5-mistral-7b-instruct), §3-4.

Command line (one YAML recipe, CLI overrides, auto-resume):

    python scripts/generate.py --config recipes/cpu-quickstart/generate.yaml [--base_url ... --num_examples ...]
    python scripts/merge_shards.py --output_dir <output_dir>            # after sharded runs

From Python:

    from data_generation import GenerationConfig, generate, write_outputs, LlamaServer, gemma_gguf_path
    with LlamaServer(gemma_gguf_path()) as server:                       # local llama_cpp.server, free port
        config = GenerationConfig(base_url=server.base_url, model="gemma-3-270m", output_dir="out", ...)
        result = generate(config)                                        # {"rows": [...], "stats": {...}}
    write_outputs("out", result["rows"], result["stats"], config.to_dict())   # dataset/, parquet, card, chart

Modules: templates (the paper's prompts), placeholders (value sets, languages, sampling), config, plan (which
requests), client (openai + limits), store (durable resume), parsing (validation, dedup), engine (send, store,
parse), modes (synthetic, corpus, translate: one module each, the registry MODES), pipeline (the run function of
every mode: relabel, quality gate, ledger, stats), stats (the statistics' shape), relabel, quality, embedder,
batch (OpenAI Batch API), accounting, output (the run directory's files, seam-1 dataset), card, hub, merge,
llama_server (a local llama.cpp server), scripted_server (a canned OpenAI-compatible server for tests and benchmarks).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "GenerationConfig": "data_generation.config",
    "generate": "data_generation.pipeline",
    "run_dir": "data_generation.engine",
    "write_outputs": "data_generation.output",
    "push_to_hub": "data_generation.hub",
    "merge_shards": "data_generation.merge",
    "LlamaServer": "data_generation.llama_server",
    "gemma_gguf_path": "data_generation.llama_server",
    "ScriptedServer": "data_generation.scripted_server",
    "PROMPT_VERSION": "data_generation.templates",
    "TASK_TYPES": "data_generation.templates",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):  # lazy: `import data_generation` stays cheap (no datasets/openai import)
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'data_generation' has no attribute {name!r}")
