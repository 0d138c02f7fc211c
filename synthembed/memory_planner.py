"""Per-GPU memory plan for cached-loss LoRA training under ZeRO-3, and the chunk size it allows.

An estimate from shapes, not a measurement: every term is written out so it can be checked (and corrected against a
measured run: `benchmarks/gpu_throughput.py` prints peak memory for one chunk on one GPU). Defaults = the paper's
recipe (Wang et al., 2024, §4.2 and Appendix A) on this project's 8 × 80 GB: Mistral-7B, LoRA r16 on all linear
layers, ZeRO-3, bf16, gradient checkpointing, global batch 2048 with one hard negative, length 512.

Terms (bytes; B = bytes per element of the compute dtype, P = frozen parameters, L = LoRA parameters, W = processes):

- weights           P·B / W                       ZeRO-3 shard of the frozen bf16 weights
- gathered weights  live_params·B                 ZeRO-3 gathers layers on the fly; bounded by stage3_max_live_parameters
                                                  and the prefetch bucket (we take the larger of one layer + prefetch
                                                  and the live-parameter cap's actual need of ~2 layers)
- LoRA + optimizer  L·(B + B + 4 + 4 + 4) / W     bf16 weights and grads, fp32 master, Adam m and v, all partitioned
- embedding cache   rows·d·4 (gathered, fp32) ×3  embeddings, their gradients, the local no-grad outputs
- activations       per token of a chunk, with per-layer gradient checkpointing:
                      layers·d·B                  the checkpointed input of every layer
                    + one layer's saved tensors while it is recomputed and back-propagated (SDPA/flash attention,
                      so no L² score matrix): d·(q, attn-out, o-in, 2 norms, residual) + 2·kv + 4·ffn elements, LoRA
                      dropout copies of the adapted inputs (5·d + ffn) when lora_dropout > 0
- overhead          CUDA context, NCCL buffers, allocator fragmentation: a fixed reserve + a share of the rest

The recommended chunk is the largest power of two of full-length texts whose estimated activations take at most
`activation_margin` (½) of the room left: GradCache's cost per chunk is small once a chunk saturates the GPU, so the
margin costs little speed and absorbs what the estimate misses (attention-kernel workspace, autocast copies).
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field, replace

GiB = 1024**3


@dataclass
class ModelShape:
    hidden: int = 4096
    layers: int = 32
    heads: int = 32
    kv_heads: int = 8
    ffn: int = 14336
    vocab: int = 32000
    name: str = "Mistral-7B"

    @property
    def kv_dim(self) -> int:
        return self.hidden // self.heads * self.kv_heads

    def parameters(self) -> int:
        per_layer = self.layer_parameters() + 2 * self.hidden  # + two RMSNorms
        return (
            self.layers * per_layer + self.vocab * self.hidden + self.hidden
        )  # + embeddings + final norm (no LM head)

    def lora_parameters(self, r: int) -> int:
        d, kv, f = self.hidden, self.kv_dim, self.ffn
        per_layer = r * ((d + d) * 2 + (d + kv) * 2 + (d + f) * 3)
        return self.layers * per_layer

    def layer_parameters(self) -> int:
        """The matrices of one decoder layer: q, o; k, v; gate, up, down."""
        d, kv, f = self.hidden, self.kv_dim, self.ffn
        return d * d * 2 + d * kv * 2 + 3 * d * f


@dataclass
class Plan:
    model: ModelShape = field(default_factory=ModelShape)
    gpus: int = 8
    gpu_memory_gib: float = 80.0
    global_batch: int = 2048
    hard_negatives: int = 1
    seq_len: int = 512
    lora_r: int = 16
    lora_dropout: float = 0.1
    bytes_per_element: int = 2  # bf16
    gradient_checkpointing: bool = True
    max_live_parameters: float = 1e9  # configs/deepspeed/zero3.json
    reserve_gib: float = 3.0  # CUDA context + NCCL buffers
    fragmentation: float = 0.10  # share of the remaining memory the allocator cannot use
    activation_margin: float = 0.5  # recommend chunks whose estimated activations use at most this share of the room

    # ---- terms (bytes) ----------------------------------------------------------------------------------------
    def weights(self) -> float:
        return self.model.parameters() * self.bytes_per_element / self.gpus

    def gathered_weights(self) -> float:
        hidden = self.model.hidden
        prefetch = 0.9 * hidden * hidden  # "auto" stage3_prefetch_bucket_size
        live = min(self.max_live_parameters, 2 * self.model.layer_parameters() + prefetch)
        return live * self.bytes_per_element

    def lora_and_optimizer(self) -> float:
        b = self.bytes_per_element
        return self.model.lora_parameters(self.lora_r) * (b + b + 4 + 4 + 4) / self.gpus

    def texts_per_gpu(self) -> int:
        return self.global_batch * (2 + self.hard_negatives) // self.gpus

    def embedding_cache(self) -> float:
        gathered = self.global_batch * (2 + self.hard_negatives)
        return 3 * gathered * self.model.hidden * 4

    def activation_bytes_per_token(self) -> float:
        m, b = self.model, self.bytes_per_element
        d, kv, f = m.hidden, m.kv_dim, m.ffn
        one_layer = 6 * d + 2 * kv + 4 * f  # saved for backward inside one decoder layer (SDPA/flash attention)
        if self.lora_dropout > 0:
            one_layer += 5 * d + f  # dropout copies of the adapted inputs (q/k/v share no copy: 7 modules, 3 inputs)
        checkpoints = m.layers * d if self.gradient_checkpointing else (m.layers - 1) * one_layer
        return (checkpoints + one_layer) * b

    def fixed(self) -> float:
        return self.weights() + self.gathered_weights() + self.lora_and_optimizer() + self.embedding_cache()

    def usable(self) -> float:
        return (self.gpu_memory_gib * GiB - self.reserve_gib * GiB) * (1 - self.fragmentation)

    def token_budget(self) -> int:
        """Most padded tokens per chunk that fit next to the fixed terms."""
        return int((self.usable() - self.fixed()) // self.activation_bytes_per_token())

    def chunk_rows(self) -> int:
        """Chunk size in full-length texts: a power of two within `activation_margin` of the token budget (the
        activation term is an unmeasured estimate; larger chunks only save per-chunk overhead, not memory)."""
        rows = max(1, int(self.token_budget() * self.activation_margin) // self.seq_len)
        return 1 << (rows.bit_length() - 1)

    def at_chunk(self, rows: int) -> dict:
        """A given chunk of full-length texts: its total per GPU and whether its activations fit."""
        per_chunk = rows * self.seq_len * self.activation_bytes_per_token()
        total = self.fixed() + per_chunk + (self.gpu_memory_gib * GiB - self.usable())
        return {"rows": rows, "total_gib": total / GiB, "fits": per_chunk <= self.usable() - self.fixed()}

    def report(self) -> dict:
        rows = self.chunk_rows()
        per_chunk = rows * self.seq_len * self.activation_bytes_per_token()
        texts = self.texts_per_gpu()
        return {
            "model": self.model.name,
            "frozen_parameters": self.model.parameters(),
            "lora_parameters": self.model.lora_parameters(self.lora_r),
            "gpus": self.gpus,
            "texts_per_gpu_per_step": texts,
            "gib": {
                "weights_shard": self.weights() / GiB,
                "gathered_weights": self.gathered_weights() / GiB,
                "lora_and_optimizer": self.lora_and_optimizer() / GiB,
                "embedding_cache": self.embedding_cache() / GiB,
                "activations_per_token_mib": self.activation_bytes_per_token() / 2**20,
                "activations_recommended_chunk": per_chunk / GiB,
                "reserve_and_fragmentation": self.gpu_memory_gib - self.usable() / GiB,
                "total_at_recommended_chunk": (self.fixed() + per_chunk) / GiB
                + (self.gpu_memory_gib - self.usable() / GiB),
            },
            "token_budget": self.token_budget(),
            "recommended_embed_chunk_size": rows,
            "recommended_embed_token_budget": rows * self.seq_len,
            "chunks_per_step": -(-texts // rows),
            "settings": {k: v for k, v in asdict(self).items() if k != "model"},
        }


def format_report(report: dict) -> str:
    g = report["gib"]
    lines = [
        f"{report['model']}: {report['frozen_parameters'] / 1e9:.2f}B frozen, "
        f"{report['lora_parameters'] / 1e6:.1f}M LoRA parameters; {report['gpus']} GPUs, "
        f"{report['texts_per_gpu_per_step']} texts per GPU per step",
        f"  weights (ZeRO-3 shard)          {g['weights_shard']:7.2f} GiB",
        f"  gathered weights (live layers)  {g['gathered_weights']:7.2f} GiB",
        f"  LoRA weights+grads+Adam         {g['lora_and_optimizer']:7.2f} GiB",
        f"  embedding cache                 {g['embedding_cache']:7.2f} GiB",
        f"  activations per token           {g['activations_per_token_mib']:7.3f} MiB",
        f"  activations, recommended chunk  {g['activations_recommended_chunk']:7.2f} GiB",
        f"  reserve + fragmentation         {g['reserve_and_fragmentation']:7.2f} GiB",
        f"  total                           {g['total_at_recommended_chunk']:7.2f} GiB",
        f"token budget that fits: {report['token_budget']:,} tokens per chunk",
        f"recommended: embed_chunk_size {report['recommended_embed_chunk_size']} "
        f"(embed_token_budget {report['recommended_embed_token_budget']:,}), "
        f"{report['chunks_per_step']} chunks per step per GPU",
    ]
    return "\n".join(lines)


def memory_markdown(plan: Plan, recipe_chunk: int | None, regenerate: str) -> str:
    """The recipe's MEMORY.md, every figure from `plan` (the file is this function's output, kept current by a test)."""
    r, m = plan.report(), plan.model
    g, rows, texts = r["gib"], r["recommended_embed_chunk_size"], r["texts_per_gpu_per_step"]
    gathered = plan.global_batch * (2 + plan.hard_negatives)
    negatives = f"{plan.hard_negatives} hard negative{'' if plan.hard_negatives == 1 else 's'}"
    small = max(1, rows // 4)
    small_gib = small * plan.seq_len * plan.activation_bytes_per_token() / GiB
    layouts = []
    for gpus, memory in ((4, 80.0), (8, 40.0)):
        if (gpus, memory) != (plan.gpus, plan.gpu_memory_gib):
            other = replace(plan, gpus=gpus, gpu_memory_gib=memory)
            chunk = other.chunk_rows()
            steps = -(-other.texts_per_gpu() // chunk)
            layouts.append(f"{gpus} × {memory:g} GB → {chunk} per chunk ({steps} chunks per step)")
    no_ckpt = replace(plan, gradient_checkpointing=False)
    lines = [
        f"## Memory: batch {plan.global_batch} on {plan.gpus} × {plan.gpu_memory_gib:g} GB with GradCache",
        "",
        f"<!-- Generated by `{regenerate}` (synthembed/memory_planner.py); tests/test_memory_plan.py fails when it is "
        "stale. Edit the planner, not this file. -->",
        "",
        f"The paper's global batch ({plan.global_batch} queries, {negatives} each: {gathered} texts of up to "
        f"{plan.seq_len} tokens per step) does not fit as one autograd graph on {plan.gpus} GPUs. `grad_cache: true` "
        "(GradCache, `synthembed/grad_cache.py`) embeds the step's texts in chunks without autograd, computes the "
        f"full-batch loss (gathered across the {plan.gpus} processes) and its gradient with respect to the embeddings, "
        "then re-embeds one chunk at a time with autograd and back-propagates that cached gradient. Only one chunk's "
        "activations are alive at any time; the loss and the LoRA gradients equal the plain loss's on the whole batch "
        "(`tests/test_grad_cache.py`).",
        "",
        "Chunks are formed per step by `embed_chunk_size` (texts) and/or `embed_token_budget` (rows × padded length): "
        "the step's texts are sorted by length, longest first, and each chunk is padded only to its own longest text. "
        "Every process runs the same number of chunks (ZeRO-3 gathers parameters in every forward).",
        "",
        f"Estimate for this recipe (bf16, ZeRO-3 over {plan.gpus} processes, LoRA r{plan.lora_r} on all linear layers, "
        f"{'per-layer activation checkpointing' if plan.gradient_checkpointing else 'no activation checkpointing'}, "
        "SDPA/flash attention), per GPU:",
        "",
        "| term | GiB |",
        "|---|---|",
        f"| frozen weights, ZeRO-3 shard ({m.parameters() / 1e9:.2f}B × {plan.bytes_per_element} B / {plan.gpus}) "
        f"| {g['weights_shard']:.2f} |",
        f"| weights gathered on the fly (≈ 2 layers + prefetch bucket) | {g['gathered_weights']:.2f} |",
        f"| LoRA ({m.lora_parameters(plan.lora_r) / 1e6:.1f}M) weights + grads + fp32 master + Adam, partitioned "
        f"| {g['lora_and_optimizer']:.2f} |",
        f"| embedding cache ({gathered} × {m.hidden} fp32: embeddings, their gradients, local outputs) "
        f"| {g['embedding_cache']:.2f} |",
        f"| activations per token of a chunk ({m.layers} layer checkpoints + one layer's recompute, LoRA dropout "
        f"copies) | {g['activations_per_token_mib']:.3f} MiB |",
        f"| activations for the recommended chunk, {rows} texts × {plan.seq_len} tokens = "
        f"{rows * plan.seq_len:,} tokens | {g['activations_recommended_chunk']:.1f} |",
        f"| CUDA context, NCCL buffers ({plan.reserve_gib:g} GiB) + {plan.fragmentation:.0%} allocator fragmentation "
        f"| {g['reserve_and_fragmentation']:.1f} |",
        f"| **total** | **≈ {g['total_at_recommended_chunk']:.0f}** |",
        "",
        f"- Room left for activations: ≈ {round(r['token_budget'], -3):,} tokens per chunk. The recommendation keeps "
        f"the estimated activations within {plan.activation_margin:.0%} of that room (the estimate is not a "
        f"measurement): **`embed_chunk_size: {rows}`** (or `embed_token_budget: {rows * plan.seq_len}`), i.e. "
        f"{r['chunks_per_step']} chunks for the {texts} texts each GPU embeds per step.",
        f"- `embed_chunk_size: {small}` is safer (≈ {small_gib:.0f} GiB of activations) and costs a little speed: "
        f"{-(-texts // small)} chunks per step, each with its own ZeRO-3 parameter gathers and gradient reduce-scatter.",
        f"- Other layouts: {'; '.join(layouts)}.",
        f"- Without activation checkpointing the activations are ≈ {no_ckpt.activation_bytes_per_token() / 2**20:.1f} "
        f"MiB per token and only ≈ {round(no_ckpt.token_budget(), -3):,} tokens fit per chunk: keep "
        "`activation_checkpointing: true`.",
        "- Gradient accumulation is not a substitute: it adds no in-batch negatives (sentence-transformers PR #1822). "
        f"With GradCache, `per_device_train_batch_size: {plan.global_batch // plan.gpus}` × {plan.gpus} processes is "
        "the contrastive batch.",
    ]
    if recipe_chunk:
        chunk = plan.at_chunk(recipe_chunk)
        verdict = "fits" if chunk["fits"] else "does NOT fit"
        lines.append(
            f"- The recipe's `embed_chunk_size: {recipe_chunk}`: ≈ {chunk['total_gib']:.0f} GiB per GPU, {verdict}."
        )
    lines += [
        f"- Measure before a long run: `python benchmarks/gpu_throughput.py --chunk-size {rows}` on one GPU prints the "
        "peak memory of one chunk of the real model shape (without ZeRO-3 sharding, so its weights term is the full "
        f"{m.parameters() * plan.bytes_per_element / 1e9:.0f} GB).",
        "- Every term: the command above with `--json` in place of `--markdown` (`--gpus 4 --gpu-memory-gib 40` for "
        "another layout).",
    ]
    return "\n".join(_wrap(line) for line in lines) + "\n"


def _wrap(line: str, width: int = 118) -> str:
    """Prose and bullets wrapped as the repository's Markdown is; headings and table rows kept whole."""
    if line.startswith(("|", "#")) or not line:
        return line
    indent = "  " if line.startswith("- ") else ""
    return textwrap.fill(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
