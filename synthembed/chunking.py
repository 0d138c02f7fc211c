"""Token-budget chunks for the cached (GradCache) loss: length-sorted inside a step, dynamically padded.

The batch itself stays random (the sampler decides which rows meet in a contrastive problem); only the order in which
its texts are *embedded* changes. All texts of a step (queries, positives, negatives) are pooled, sorted by length,
longest first, and cut greedily into chunks whose padded size `rows × padded length` fits `token_budget` (and whose
row count fits `chunk_size`). Each chunk is padded only to its own longest row, on the right:

- right padding keeps every real token at positions 0…len-1 whatever the chunk, so an embedding does not depend on
  which chunk its text landed in (left padding would shift decoder position ids with the amount of padding);
- longest first means the largest activation footprint comes first: an out-of-memory shows up on the first chunk.

Under ZeRO-3 every forward all-gathers parameters, and under DDP forwards may broadcast buffers, so every process must
run the same number of chunks: `equalize_chunk_count` splits the largest chunks (or, in the degenerate case of fewer
rows than chunks, adds a 1-row filler whose gradient is zero) until all ranks agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Chunk:
    rows: torch.Tensor  # [n] indices into the pooled texts
    features: dict[str, torch.Tensor]  # input_ids / attention_mask (/ token_type_ids), [n, padded length]
    filler: bool = False  # a 1-row chunk run only to keep collectives in step; its gradient is zero

    @property
    def num_tokens(self) -> int:
        return int(self.features["attention_mask"].sum())

    @property
    def padded_tokens(self) -> int:
        return self.features["attention_mask"].numel()


def right_align(features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Move every row's real tokens to the left (positions 0…len-1), whichever side the tokenizer padded."""
    mask = features["attention_mask"]
    length = mask.shape[1]
    start = mask.int().argmax(dim=1)  # first real token (0 under right padding)
    if not bool(start.any()):
        return dict(features)
    index = (torch.arange(length, device=mask.device)[None, :] + start[:, None]).clamp(max=length - 1)
    lengths = mask.sum(dim=1)
    new_mask = (torch.arange(length, device=mask.device)[None, :] < lengths[:, None]).to(mask.dtype)
    out = {}
    for key, value in features.items():
        if isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape == mask.shape:
            moved = value.gather(1, index)
            out[key] = new_mask if key == "attention_mask" else moved.masked_fill(new_mask == 0, 0)
        else:
            out[key] = value
    return out


def pool_features(parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Concatenate feature dicts of different padded lengths (right-aligned) into one [N, longest] dict."""
    parts = [right_align(p) for p in parts]
    longest = max(p["attention_mask"].shape[1] for p in parts)
    keys = [k for k in parts[0] if isinstance(parts[0][k], torch.Tensor) and parts[0][k].dim() == 2]
    pooled = {}
    for key in keys:
        padded = [torch.nn.functional.pad(p[key], (0, longest - p[key].shape[1])) for p in parts]
        pooled[key] = torch.cat(padded, dim=0)
    return pooled


def plan_chunks(
    lengths: torch.Tensor, chunk_size: int | None = None, token_budget: int | None = None, pad_to_multiple_of: int = 1
) -> list[torch.Tensor]:
    """Row indices per chunk: longest first; each chunk's rows × padded length ≤ token_budget, rows ≤ chunk_size.

    A single text longer than the budget gets a chunk of its own (it cannot be split).
    """
    if chunk_size is None and token_budget is None:
        raise ValueError("set chunk_size (rows) and/or token_budget (padded tokens per chunk)")
    order = torch.argsort(lengths, descending=True, stable=True)
    sorted_lengths = lengths[order].tolist()
    multiple = max(1, pad_to_multiple_of)
    chunks, start = [], 0
    while start < len(sorted_lengths):
        padded = -(-max(1, int(sorted_lengths[start])) // multiple) * multiple  # the longest row sets the width
        rows = len(sorted_lengths) - start
        if chunk_size is not None:
            rows = min(rows, chunk_size)
        if token_budget is not None:
            rows = min(rows, max(1, token_budget // padded))
        chunks.append(order[start : start + rows])
        start += rows
    return chunks


def equalize_chunk_count(chunks: list[torch.Tensor], target: int) -> tuple[list[torch.Tensor], int]:
    """Split the largest chunks in two until there are `target`; returns (chunks, number of 1-row fillers needed)."""
    chunks = list(chunks)
    while len(chunks) < target:
        largest = max(range(len(chunks)), key=lambda i: len(chunks[i]))
        if len(chunks[largest]) < 2:
            break
        big = chunks.pop(largest)
        half = (len(big) + 1) // 2
        chunks[largest:largest] = [big[:half], big[half:]]
    return chunks, target - len(chunks)


def make_chunks(
    pooled: dict[str, torch.Tensor],
    chunk_size: int | None = None,
    token_budget: int | None = None,
    pad_to_multiple_of: int = 1,
    min_chunks: int = 0,
) -> list[Chunk]:
    """Cut pooled, right-aligned features into dynamically padded chunks (at least `min_chunks`, see module doc)."""
    mask = pooled["attention_mask"]
    lengths = mask.sum(dim=1)
    index_chunks = plan_chunks(lengths.cpu(), chunk_size, token_budget, pad_to_multiple_of)
    index_chunks, fillers = equalize_chunk_count(index_chunks, min_chunks)
    multiple = max(1, pad_to_multiple_of)
    out = []
    for rows in index_chunks:
        rows = rows.to(mask.device)
        width = -(-max(1, int(lengths[rows].max())) // multiple) * multiple
        features = {}
        for key, value in pooled.items():
            cut = value[rows, : min(width, value.shape[1])]
            if cut.shape[1] < width:
                cut = torch.nn.functional.pad(cut, (0, width - cut.shape[1]))
            features[key] = cut
        out.append(Chunk(rows=rows, features=features))
    for _ in range(fillers):
        first = out[0] if out else None
        features = {k: v[:1] for k, v in (first.features if first else pooled).items()}
        out.append(Chunk(rows=torch.zeros(1, dtype=torch.long, device=mask.device), features=features, filler=True))
    return out
