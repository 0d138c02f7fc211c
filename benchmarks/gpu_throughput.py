"""GPU training throughput of the cached loss: a Mistral-7B-shaped model (random weights), bf16, SDPA, LoRA r16.

    python benchmarks/gpu_throughput.py                 # one GPU, ~3–5 minutes on an H100 (most of it model init)
    python benchmarks/gpu_throughput.py --tiny          # CPU dry run: 2-layer model, a few short texts

Each step: `--batch` triplets = 3 × batch texts of exactly `--seq-len` tokens (random ids), the GradCache step
(synthembed.grad_cache) with `--chunk-size` texts per chunk, gradient checkpointing, AdamW on the LoRA parameters.
Prints tokens/s, MFU and peak memory (torch.cuda.max_memory_allocated / reserved).

FLOP accounting (per token, N = frozen parameters in the decoder's matrices, i.e. everything but embeddings and norms;
s = sequence length, d = hidden, l = layers; attention: 2·2·s·d per layer forward (QKᵀ and AV), causal not halved):

    model FLOPs    = forward 2N + 4·l·s·d  +  backward w.r.t. activations 2N + 8·l·s·d          (LoRA weight grads
                     and LoRA matmuls ~1 % are left out; frozen weights need no weight gradient)
    hardware FLOPs = model FLOPs + the no-grad cache forward (2N + 4·l·s·d) + the checkpoint recompute (2N + 4·l·s·d)

MFU = model FLOPs/s ÷ peak dense bf16 (`--peak-tflops`, default 989 = H100 SXM); HFU likewise with hardware FLOPs.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from synthembed.memory_planner import ModelShape

TINY = ModelShape(hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, vocab=512, name="tiny")
TINY_EXTRA = {"max_position_embeddings": 4096}
MISTRAL_7B = ModelShape()  # mistralai/Mistral-7B-v0.1 config.json, with these:
MISTRAL_7B_EXTRA = {"max_position_embeddings": 32768, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}


def mistral_config(shape: ModelShape, **extra):
    from transformers import MistralConfig

    sizes = {"vocab_size": shape.vocab, "hidden_size": shape.hidden, "intermediate_size": shape.ffn}
    heads = {"num_attention_heads": shape.heads, "num_key_value_heads": shape.kv_heads}
    return MistralConfig(num_hidden_layers=shape.layers, **sizes, **heads, **extra)


def build(args):
    from transformers import MistralModel

    from synthembed.configs import ModelArguments
    from synthembed.modeling import EmbeddingModel, add_lora

    shape, extra = (TINY, TINY_EXTRA) if args.tiny else (MISTRAL_7B, MISTRAL_7B_EXTRA)
    config = mistral_config(shape, **extra)
    config._attn_implementation = "sdpa"
    config.use_cache = False
    dtype = torch.float32 if args.tiny else torch.bfloat16
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(args.device):
            backbone = MistralModel(config)
    finally:
        torch.set_default_dtype(default)
    backbone.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    lora = ModelArguments(model_name_or_path="random/mistral-7b-shaped", lora_r=16, lora_alpha=32, lora_dropout=0.1)
    model = EmbeddingModel(add_lora(backbone, lora), pooling="last_token").train()
    return model, shape


def flops_per_token(shape: ModelShape, seq_len: int) -> tuple[float, float]:
    n = shape.layers * shape.layer_parameters()  # the decoder's matrices
    forward = 2 * n + 4 * shape.layers * seq_len * shape.hidden
    model = forward + 2 * forward  # backward w.r.t. activations: 2N for the matmuls, 8·l·s·d for attention
    hardware = model + 2 * forward  # + cache forward + checkpoint recompute
    return model, hardware


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="CPU dry run with a 2-layer model")
    p.add_argument("--batch", type=int, default=64, help="triplets per step (3 texts each)")
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--chunk-size", type=int, default=64, help="texts per chunk")
    p.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the card (H100 SXM: 989)")
    args = p.parse_args(argv)
    if args.tiny:
        args.batch, args.seq_len, args.chunk_size, args.steps = min(args.batch, 4), min(args.seq_len, 32), 4, 1
    args.device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda"

    from synthembed.embedding import Chunking
    from synthembed.grad_cache import grad_cache_step
    from synthembed.losses import InfoNCELoss

    start = time.perf_counter()
    model, shape = build(args)
    init_s = time.perf_counter() - start
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1)
    loss_fn = InfoNCELoss(temperature=0.02, gather_across_devices=False)
    chunking = Chunking(chunk_size=args.chunk_size)

    g = torch.Generator().manual_seed(0)

    def features(rows):
        ids = torch.randint(3, shape.vocab, (rows, args.seq_len), generator=g)
        ids[:, -1] = 2  # EOS last, as the collator appends it
        return {"input_ids": ids.to(args.device), "attention_mask": torch.ones_like(ids).to(args.device)}

    def step():
        batch = {"query": features(args.batch), "documents": features(2 * args.batch)}
        out = grad_cache_step(model, batch, loss_fn, chunking)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return out.loss.item()

    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    step()  # warm-up
    sync()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    sync()
    seconds = time.perf_counter() - start

    tokens = 3 * args.batch * args.seq_len * args.steps
    model_flops, hardware_flops = flops_per_token(shape, args.seq_len)
    result = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "model": "tiny" if args.tiny else "Mistral-7B-shaped (random weights), bf16, SDPA, LoRA r16, grad ckpt",
        "batch_triplets": args.batch,
        "seq_len": args.seq_len,
        "chunk_size": args.chunk_size,
        "init_s": round(init_s, 1),
        "step_s": seconds / args.steps,
        "tokens_per_s": tokens / seconds,
        "model_tflops_per_s": model_flops * tokens / seconds / 1e12,
        "mfu": model_flops * tokens / seconds / (args.peak_tflops * 1e12),
        "hfu": hardware_flops * tokens / seconds / (args.peak_tflops * 1e12),
        "losses": losses,
    }
    if args.device == "cuda":
        result["peak_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
        result["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
