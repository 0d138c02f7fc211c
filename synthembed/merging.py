"""Merge trained model folders of one base into one model: a weighted average of their weights, or a slerp of two.

The parents are seam-2 folders (LoRA already merged into the backbone), so merging is plain arithmetic on the
safetensors weights; the child is the first parent's folder (tokenizer, pooling, prompts, settings) with merged
weights and a card naming its parents. Parents must share the architecture (config.json), the SentenceTransformer
modules and prompts, the tensor names and shapes, and (where the trainer wrote them) the base model, pooling,
normalization and query template: a merge of different models or usages is refused with one line naming the
difference. Weights are merged shard by shard (each parent's safetensors index), so memory holds one shard per parent,
not whole models (a 7B merge fits where a 7B model fits).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from synthembed.card_facts import with_card_facts
from synthembed.model_folder import CONFIG_NAME, read_settings, write_settings
from synthembed.resume import RUN_MARKER
from synthembed_common.files import write_dir_atomic

METHODS = ("average", "slerp")
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
# config.json keys that say where and how a folder was written, not what the model is.
CONFIG_NOISE = {"_name_or_path", "transformers_version", "dtype", "torch_dtype"}
# synthembed_config.json keys that fix how the model is used: a merge of parents that differ here has no one usage.
SETTINGS_KEYS = (
    "base_model",
    "pooling",
    "normalize",
    "query_template",
    "default_instruction",
    "max_seq_length",
    "instruct_symmetric_tasks",
)
ST_FILES = ("modules.json", "config_sentence_transformers.json")
# What the child does not take from its first parent: weights, card, plots, settings (rewritten), one run's records.
NOT_COPIED = {"README.md", "learning_curve.png", "mteb_categories.png", SINGLE_FILE, INDEX_FILE, CONFIG_NAME}
NOT_COPIED |= {"trainer_state.json", "training_args.bin", RUN_MARKER}
NOT_COPIED |= {f"{k}_results.json" for k in ("all", "train", "eval")}


class MergeError(ValueError):
    """The parents cannot be merged (or the request is malformed); the message says why in one line."""


@dataclass
class Parent:
    path: Path
    weight_files: dict[str, str]  # tensor name -> file in the folder

    @property
    def name(self) -> str:
        return self.path.name


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def read_parent(path: str | Path) -> Parent:
    path = Path(path)
    if not (path / "modules.json").is_file():
        raise MergeError(f"{path}: not a SentenceTransformer model folder (no modules.json)")
    if read_settings(path) is None:
        raise MergeError(f"{path}: not a model trained by synthembed (no {CONFIG_NAME}: base and usage unknown)")
    if (path / INDEX_FILE).is_file():
        weight_files = _json(path / INDEX_FILE)["weight_map"]
    elif (path / SINGLE_FILE).is_file():
        from safetensors import safe_open

        with safe_open(str(path / SINGLE_FILE), "pt") as f:
            weight_files = dict.fromkeys(f.keys(), SINGLE_FILE)
    else:
        raise MergeError(f"{path}: no {SINGLE_FILE} or {INDEX_FILE} (only safetensors weights can be merged)")
    return Parent(path, weight_files)


def _first_difference(a, b) -> str | None:
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return None if a == b else f"{a!r} vs {b!r}"
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} vs {b.get(key)!r}"
    return None


def _shapes(parent: Parent) -> dict[str, tuple[str, list[int]]]:
    from safetensors import safe_open

    shapes = {}
    for file in sorted(set(parent.weight_files.values())):
        with safe_open(str(parent.path / file), "pt") as f:
            for name in f.keys():
                piece = f.get_slice(name)
                shapes[name] = (piece.get_dtype(), piece.get_shape())
    return shapes


def check_compatible(parents: list[Parent]) -> None:
    """Raise MergeError naming the first thing in which a parent differs from the first one."""
    first = parents[0]
    first_config = {k: v for k, v in _json(first.path / "config.json").items() if k not in CONFIG_NOISE}
    first_settings = read_settings(first.path)
    first_shapes = _shapes(first)
    for other in parents[1:]:
        where = f"{other.path} differs from {first.path}"
        config = {k: v for k, v in _json(other.path / "config.json").items() if k not in CONFIG_NOISE}
        difference = _first_difference(first_config, config)
        if difference:
            raise MergeError(f"{where} in config.json ({difference}): not one architecture")
        for name in ST_FILES:
            difference = _first_difference(_json(first.path / name), _json(other.path / name))
            if difference:
                raise MergeError(f"{where} in {name} ({difference})")
        settings = read_settings(other.path)
        for key in SETTINGS_KEYS:
            mine, theirs = getattr(first_settings, key), getattr(settings, key)
            if mine != theirs:
                raise MergeError(f"{where} in `{key}` ({mine!r} vs {theirs!r}): not one base and usage")
        shapes = _shapes(other)
        difference = _first_difference(first_shapes, shapes)
        if difference:
            raise MergeError(f"{where} in its weights ({difference})")


def normalized_weights(weights: list[float] | None, count: int) -> list[float]:
    weights = [1.0] * count if weights is None else list(weights)
    if len(weights) != count:
        raise MergeError(f"`weights` must give one weight per model ({count}), got {len(weights)}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise MergeError(f"`weights` must be >= 0 with a positive sum, got {weights}")
    return [w / sum(weights) for w in weights]


def average(tensors: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """The weighted mean (weights summing to 1): peft's task arithmetic over the parents' tensors, in float32."""
    from peft.utils.merge_utils import task_arithmetic

    return task_arithmetic([t.float() for t in tensors], torch.tensor(weights))


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-8) -> torch.Tensor:
    """Spherical interpolation between two tensors seen as flat vectors (t=0: a, t=1: b): the angle comes from the
    directions, the magnitudes interpolate with it; nearly parallel tensors (and zero ones) fall back to the linear
    mix. Written here because no installed library has it (peft's merge utilities are linear, TIES and DARE)."""
    a32, b32 = a.float(), b.float()
    na, nb = a32.norm(), b32.norm()
    if na < eps or nb < eps:
        return (1 - t) * a32 + t * b32
    cos = torch.clamp((a32.flatten() @ b32.flatten()) / (na * nb), -1.0, 1.0).item()
    theta = math.acos(cos)
    if math.sin(theta) < 1e-4:  # (anti)parallel: the formula divides by ~0
        return (1 - t) * a32 + t * b32
    return (math.sin((1 - t) * theta) * a32 + math.sin(t * theta) * b32) / math.sin(theta)


def merge_tensors(tensors: list[torch.Tensor], method: str, weights: list[float], t: float) -> torch.Tensor:
    if not tensors[0].is_floating_point():  # integer buffers (ids, counters): the same in every parent, kept
        if any(not torch.equal(tensors[0], x) for x in tensors[1:]):
            raise MergeError("an integer tensor differs between the parents; only floating-point weights merge")
        return tensors[0]
    merged = average(tensors, weights) if method == "average" else slerp(tensors[0], tensors[1], t)
    return merged.to(tensors[0].dtype)


def _write_weights(parents: list[Parent], out: Path, method: str, weights: list[float], t: float) -> None:
    """The merged weights in the first parent's file layout, one output file at a time."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    first = parents[0]
    for file in sorted(set(first.weight_files.values())):
        names = [n for n, f in first.weight_files.items() if f == file]
        merged = {}
        for name in names:
            tensors = []
            for parent in parents:
                with safe_open(str(parent.path / parent.weight_files[name]), "pt") as f:
                    tensors.append(f.get_tensor(name))
            merged[name] = merge_tensors(tensors, method, weights, t).contiguous()
        save_file(merged, str(out / file), metadata={"format": "pt"})
    if (first.path / INDEX_FILE).is_file():
        shutil.copy2(first.path / INDEX_FILE, out / INDEX_FILE)


def _copy_folder(parent: Path, out: Path) -> None:
    """Everything SentenceTransformer loads (tokenizer, config, module folders), not the weights, card or plots."""
    modules = {m["path"] for m in json.loads((parent / "modules.json").read_text()) if m.get("path")}
    for item in parent.iterdir():
        if item.is_file() and item.name not in NOT_COPIED:
            shutil.copy2(item, out / item.name)
        elif item.is_dir() and item.name in modules:
            shutil.copytree(item, out / item.name)


def merge_info(parents: list[Parent], method: str, weights: list[float], t: float) -> dict:
    """What the child's settings and card record about its parents."""
    rows = []
    for parent, weight in zip(parents, weights):
        settings = read_settings(parent.path)
        training = settings.training or {}
        dev = {k: round(100 * v["last"], 2) for k, v in (training.get("dev") or {}).items() if "last" in v}
        rows.append(
            {
                "path": str(parent.path),
                "weight": round(weight, 4),
                "datasets": list(settings.datasets),
                "global_step": training.get("global_step"),
                "dev": dev or None,
            }
        )
    return {"method": method, "slerp_t": t if method == "slerp" else None, "parents": rows}


def merge_models(
    models: list[str | Path],
    output_dir: str | Path,
    method: str = "average",
    weights: list[float] | None = None,
    slerp_t: float = 0.5,
    model_name: str | None = None,
) -> Path:
    """Merge `models` into `output_dir` (written whole or not at all) and render its card; return the folder."""
    if method not in METHODS:
        raise MergeError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}")
    if len(models) < 2:
        raise MergeError(f"`models` must name at least two model folders, got {len(models)}")
    if method == "slerp" and (len(models) != 2 or weights is not None):
        raise MergeError("`method: slerp` merges exactly two models, weighted by `slerp_t` (not `weights`)")
    if not 0 <= slerp_t <= 1:
        raise MergeError(f"`slerp_t` must be in [0, 1], got {slerp_t}")
    parents = [read_parent(m) for m in models]
    check_compatible(parents)
    weights = normalized_weights(weights, len(parents)) if method == "average" else [1 - slerp_t, slerp_t]
    output_dir = Path(output_dir)

    def write(tmp: Path) -> None:
        _copy_folder(parents[0].path, tmp)
        _write_weights(parents, tmp, method, weights, slerp_t)
        # The union of the parents' data; no one run's training summary or learning curve.
        datasets = list(dict.fromkeys(d for p in parents for d in read_settings(p.path).datasets))
        info = merge_info(parents, method, weights, slerp_t)
        settings = dataclasses.replace(
            read_settings(parents[0].path), datasets=datasets, training=None, learning_curve=None, merge=info
        )
        write_settings(tmp, with_card_facts(settings))  # the union of datasets: facts found again (the parents' kept)

    write_dir_atomic(output_dir, write)
    from synthembed.model_card import render_model_card

    render_model_card(output_dir, model_name=model_name or output_dir.name)
    return output_dir
