"""Synthetic data generation for text embeddings, after Wang et al. 2024 (E5-mistral-7b-instruct), §3-4.

Command line (one YAML recipe, CLI overrides, auto-resume):

    python scripts/generate.py --config recipes/cpu-quickstart/generate.yaml [--base_url ... --num_examples ...]
    python scripts/merge_shards.py --output_dir <output_dir>            # after sharded runs

From Python (each name from its module: importing this package loads nothing, so start-up stays fast):

    from data_generation.config import GenerationConfig
    from data_generation.llama_server import LlamaServer, gemma_gguf_path
    from data_generation.output import write_outputs
    from data_generation.pipeline import generate
    with LlamaServer(gemma_gguf_path()) as server:                       # local llama_cpp.server, free port
        config = GenerationConfig(base_url=server.base_url, model="gemma-3-270m", output_dir="out", ...)
        result = generate(config)                                        # {"rows": [...], "stats": {...}}
    write_outputs("out", result["rows"], result["stats"], config.to_dict())   # dataset/, parquet, card, chart

Modules: templates (the paper's prompts), placeholders (value sets, languages, sampling), config, plan (which
requests), client (openai + limits), store (durable resume), parsing (validation, dedup), engine (send, store,
parse), modes (synthetic, corpus, translate: one module each, the registry MODES), pipeline (the run function of
every mode: relabel, quality gate, ledger, stats), stats (the statistics' shape), relabel, quality, embedder,
batch (OpenAI Batch API), accounting, output (the run directory's files, seam-1 dataset), card, hub, merge,
llama_server (a local llama.cpp server). The canned OpenAI-compatible server of the tests and benchmarks is a test
double, not part of the package: tests/helpers/scripted_server.py.
"""
