"""Smaller embeddings, measured: every (dimension, precision) pair scored by mteb on the same tasks in one run.

    python scripts/evaluate.py --model_name_or_path M --tasks STSBenchmark \
        --truncate_dims 1024 256 --embedding_precisions float32 int8 binary

mteb's evaluators run unchanged on a wrapping encoder (`QuantizedEncoder`) that takes the full-width float
embeddings of the E5 protocol encoder, keeps the first `dim` coordinates (re-normalized where the protocol
normalizes, as Matryoshka training scores them), quantizes them with sentence-transformers' `quantize_embeddings`
and hands mteb float vectors that score as an index of the quantized codes would:

- int8 / uint8: the codes as floats, with per-coordinate ranges calibrated once per task on its documents (the
  corpus of a retrieval task, every text elsewhere), so queries and documents share one codebook;
- binary / ubinary: the packed sign bits unpacked to ±1; cosine over ±1 vectors is 1 − 2·hamming/dim, so every
  ranking and Spearman correlation equals the Hamming-distance one.

The full-width float32 pass runs first for each task (the reference row); it fills the protocol encoder's per-task
cache, so every other pair reuses the same embeddings and only re-scores. Outputs beside the summary:
`quantized.json`, `quantized.md` (score and bytes per vector per pair) and `quantized.png` (score against bytes).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np
from mteb.models.abs_encoder import AbsEncoder
from mteb.types import PromptType

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")  # quantize_embeddings' precisions
CHART_NAME = "quantized.png"


def bytes_per_vector(dim: int, precision: str) -> int:
    return {"float32": 4 * dim, "int8": dim, "uint8": dim}.get(precision, -(-dim // 8))


@dataclass(frozen=True)
class Variant:
    dim: int
    precision: str

    @property
    def label(self) -> str:
        return f"{self.dim}d-{self.precision}"


class QuantizedEncoder(AbsEncoder):
    """The protocol encoder's embeddings, truncated and quantized as `variant` says. `calibration` maps a task name
    to the full-width document embeddings the reference pass recorded (filled when `record` is set)."""

    def __init__(self, base, variant: Variant, calibration: dict[str, list[np.ndarray]], record: bool = False):
        self.base, self.variant, self.calibration, self.record = base, variant, calibration, record
        meta = base.mteb_model_meta
        self.mteb_model_meta = meta.model_copy(
            update={"name": f"{meta.name}-{variant.label}", "embed_dim": variant.dim}
        )

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str, prompt_type=None, **kwargs: Any):
        full = self.base.encode(
            inputs,
            task_metadata=task_metadata,
            hf_split=hf_split,
            hf_subset=hf_subset,
            prompt_type=prompt_type,
            **kwargs,
        )
        if self.record and not (task_metadata.type == "Retrieval" and prompt_type == PromptType.query):
            self.calibration.setdefault(task_metadata.name, []).append(full)  # documents (all texts off retrieval)
        return self.transform(full, task_metadata.name, task_metadata.type)

    def _cut(self, embeddings: np.ndarray, task_type: str) -> np.ndarray:
        cut = np.asarray(embeddings, dtype=np.float32)[:, : self.variant.dim]
        if self.base.normalizes(task_type):  # the prefix re-normalized (a no-op at full width)
            cut = cut / np.clip(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12, None)
        return cut

    def transform(self, embeddings: np.ndarray, task_name: str, task_type: str) -> np.ndarray:
        from sentence_transformers.util.quantization import quantize_embeddings

        cut, precision = self._cut(embeddings, task_type), self.variant.precision
        if precision == "float32":
            return cut
        if precision.endswith("int8"):
            calibration = self._cut(np.concatenate(self.calibration[task_name]), task_type)
            codes = quantize_embeddings(cut, precision, calibration_embeddings=calibration)
            return codes.astype(np.float32)
        packed = quantize_embeddings(cut, precision)  # [n, ceil(dim / 8)] sign bits
        unsigned = packed.astype(np.int16) + 128 if precision == "binary" else packed  # binary packs bits - 128
        bits = np.unpackbits(unsigned.astype(np.uint8), axis=1)[:, : self.variant.dim]
        return bits.astype(np.float32) * 2 - 1


def variants(full_dim: int, dims: list[int] | None, precisions: list[str] | None) -> list[Variant]:
    """Full width float32 first (the reference and the calibration pass), then every requested pair once."""
    dims = [full_dim] + [d for d in dict.fromkeys(dims or [full_dim]) if d != full_dim]
    pairs = [Variant(full_dim, "float32")]
    for dim in sorted(dims, reverse=True):
        for precision in precisions or ["float32"]:
            if Variant(dim, precision) not in pairs:
                pairs.append(Variant(dim, precision))
    return pairs


def check_options(dims: list[int] | None, precisions: list[str] | None, full_dim: int | None = None) -> None:
    """ValueError (one line naming the option) for dims that are not positive or exceed the width, or precisions
    quantize_embeddings does not know."""
    for dim in dims or []:
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"`truncate_dims` must be positive ints, got {dims!r}")
        if full_dim is not None and dim > full_dim:
            raise ValueError(f"`truncate_dims`: {dim} exceeds the model's embedding width {full_dim}")
    unknown = [p for p in precisions or [] if p not in PRECISIONS]
    if unknown:
        raise ValueError(f"`embedding_precisions` must be some of {', '.join(PRECISIONS)}, got {unknown}")


def evaluate_quantized(
    encoder,
    tasks: list,
    dims: list[int] | None,
    precisions: list[str] | None,
    output_dir: str | Path,
    batch_size: int = 32,
    show_progress_bar: bool = False,
) -> dict:
    """Score every variant on every task with mteb (results under output_dir/results/<model>-<dim>d-<precision>/);
    write quantized.json/.md/.png; return {"tasks", "full_dim", "rows": [{dim, precision, bytes, scores, average}]}."""
    import mteb

    from synthembed.evaluation.runner import task_detail

    full_dim = encoder.mteb_model_meta.embed_dim
    check_options(dims, precisions, full_dim)
    pairs = variants(full_dim, dims, precisions)
    output_dir = Path(output_dir)
    cache = mteb.ResultCache(output_dir)
    calibration: dict[str, list[np.ndarray]] = {}
    scores: dict[Variant, dict[str, float]] = {v: {} for v in pairs}
    for task in reversed(tasks):  # the last task the plain evaluation ran is still in the encoder's cache
        name = task.metadata.name
        split = task_detail(task)["split"]
        preloaded = task.data_loaded
        if not preloaded:
            task.load_data()  # once for all variants (mteb unloads data it loaded itself)
        for i, variant in enumerate(pairs):
            wrapped = QuantizedEncoder(encoder, variant, calibration, record=i == 0)
            result = mteb.evaluate(
                wrapped,
                [task],
                cache=cache,
                overwrite_strategy="always",
                encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress_bar},
                show_progress_bar=False,
            )
            score = round(100 * float(result.task_results[0].get_score(splits=[split])), 2)
            scores[variant][name] = score
            size = bytes_per_vector(variant.dim, variant.precision)
            logger.info("%s %s: %.2f (%d bytes per vector)", name, variant.label, score, size)
        calibration.pop(name, None)
        if not preloaded:
            task.unload_data()
    names = [t.metadata.name for t in tasks]
    rows = [
        {
            "dim": v.dim,
            "precision": v.precision,
            "bytes": bytes_per_vector(v.dim, v.precision),
            "scores": scores[v],
            "average": round(mean(scores[v].values()), 2),
        }
        for v in pairs
    ]
    report = {"tasks": names, "full_dim": full_dim, "rows": rows}
    (output_dir / "quantized.json").write_text(json.dumps(report, indent=2) + "\n")
    (output_dir / "quantized.md").write_text(quantized_markdown(report))
    plot_quantized(report, output_dir / CHART_NAME)
    return report


def add_to_summary(summary: dict, report: dict, output_dir: str | Path) -> None:
    """The report into the summary (summary.json's `quantized`, a section of summary.md), for the card too."""
    output_dir = Path(output_dir)
    summary["quantized"] = report
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    with (output_dir / "summary.md").open("a") as f:
        f.write(f"\n## Dimensions × precision\n\n![score against bytes per vector]({CHART_NAME})\n\n")
        f.write(quantized_markdown(report))


def quantized_markdown(report: dict) -> str:
    """One row per (dim, precision): each task's main score × 100, their average, the change against full-width
    float32, and bytes per vector (with the compression factor)."""
    tasks = report["tasks"]
    reference = report["rows"][0]
    lines = [
        f"| dim | precision | bytes per vector | {' | '.join(tasks)} | average | vs {reference['dim']}d float32 |",
        "|---|---|---|" + "---|" * (len(tasks) + 2),
    ]
    for row in report["rows"]:
        factor = reference["bytes"] / row["bytes"]
        size = f"{row['bytes']} (×{factor:.0f} smaller)" if factor > 1 else str(row["bytes"])
        cells = " | ".join(f"{row['scores'][t]:.2f}" for t in tasks)
        delta = row["average"] - reference["average"]
        lines.append(f"| {row['dim']} | {row['precision']} | {size} | {cells} | {row['average']:.2f} | {delta:+.2f} |")
    return "\n".join(lines) + "\n"


def plot_quantized(report: dict, path: Path) -> Path:
    """Average score against bytes per vector (log scale), one line per precision, points labelled by dim."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    by_precision: dict[str, list[dict]] = {}
    for row in report["rows"]:
        by_precision.setdefault(row["precision"], []).append(row)
    for precision, rows in by_precision.items():
        rows = sorted(rows, key=lambda r: r["bytes"])
        ax.plot([r["bytes"] for r in rows], [r["average"] for r in rows], marker="o", label=precision)
        for r in rows:
            ax.annotate(
                str(r["dim"]), (r["bytes"], r["average"]), textcoords="offset points", xytext=(3, 4), fontsize=7
            )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("bytes per vector (log scale)")
    ax.set_ylabel("main score x100" + (" (average)" if len(report["tasks"]) > 1 else ""))
    ax.set_title(f"{', '.join(report['tasks'])}: score against bytes per vector", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
