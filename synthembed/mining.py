"""Hard-negative mining: embed queries and a corpus with a chosen model, pick negatives from a rank window.

The paper mined the top-100 with mE5-base for labelled data without negatives (Wang et al., 2024, Appendix A); the
same applies to synthetic short-short and long-long rows, which come without one (Tables 10 and 11). sentence-transformers' `mine_hard_negatives`
returns a new (anchor, positive, negative) table; this keeps every row and column of a seam-1 dataset and fills only
the missing negatives, which is why the selection is written here (encoding is sentence-transformers').
"""

from __future__ import annotations

import logging

import torch
from datasets import Dataset
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


def mine_negatives(
    dataset: Dataset,
    model,
    query_column: str = "query",
    positive_column: str = "positive",
    negative_column: str = "negative",
    corpus: list[str] | None = None,
    range_min: int = 10,
    range_max: int = 100,
    num_negatives: int = 1,
    sampling: str = "random",
    only_missing: bool = True,
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    batch_size: int = 32,
    seed: int = 42,
) -> tuple[Dataset, dict]:
    """Return (dataset with negatives filled, stats). `negative_column` holds one text (num_negatives=1) or a list.

    Candidates are the corpus (default: every positive and existing negative in the dataset) ranked by cosine
    similarity to the query; ranks [range_min, range_max) are eligible, minus any text equal to the row's positive.
    """
    if not 0 <= range_min < range_max:
        raise ValueError(f"need 0 <= range_min < range_max, got {range_min}, {range_max}")
    if sampling not in ("random", "top"):
        raise ValueError(f"sampling must be random or top, got {sampling!r}")
    rows = dataset.to_list()
    has_negative = negative_column in dataset.column_names
    todo = [i for i, r in enumerate(rows) if not (only_missing and has_negative and r.get(negative_column))]
    if corpus is None:
        corpus = list(dict.fromkeys(t for r in rows for t in _texts(r, positive_column, negative_column) if t))
    stats = {"rows": len(rows), "mined": 0, "without_candidate": 0, "corpus": len(corpus)}
    if not todo:
        return dataset, stats

    encode = dict(batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=True)
    corpus_emb = model.encode(corpus, prompt=corpus_prompt, **encode)
    query_emb = model.encode([rows[i][query_column] for i in todo], prompt=query_prompt, **encode)
    k = min(range_max, len(corpus))
    generator = torch.Generator().manual_seed(seed)
    for start in tqdm(range(0, len(todo), 256), desc="mining hard negatives"):
        chunk = todo[start : start + 256]
        top = (query_emb[start : start + len(chunk)] @ corpus_emb.T).topk(k, dim=1).indices.cpu()
        for row_index, ranked in zip(chunk, top.tolist()):
            positive = rows[row_index][positive_column]
            eligible = [corpus[j] for j in ranked[range_min:] if corpus[j] != positive]
            if not eligible:
                stats["without_candidate"] += 1
                continue
            if sampling == "random":
                order = torch.randperm(len(eligible), generator=generator).tolist()
                eligible = [eligible[j] for j in order]
            picked = eligible[:num_negatives]
            rows[row_index][negative_column] = picked[0] if num_negatives == 1 else picked
            stats["mined"] += 1
    logger.info(
        "mined %d negatives (%d rows had no candidate in the window)", stats["mined"], stats["without_candidate"]
    )
    keep_features = has_negative and num_negatives == 1  # a list of negatives changes the column's type
    return Dataset.from_list(rows, features=dataset.features if keep_features else None), stats


def _texts(row: dict, positive_column: str, negative_column: str) -> list[str]:
    negative = row.get(negative_column)
    return [row[positive_column], *(negative if isinstance(negative, list) else [negative])]
