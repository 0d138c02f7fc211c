"""Hard-negative mining: embed queries and a corpus with a chosen model, pick negatives from a rank window.

The paper mined the top-100 with mE5-base for labelled data without negatives (Wang et al., 2024, Appendix A); the
same applies to synthetic short-short and long-long rows, which come without one (Tables 10 and 11). sentence-transformers' `mine_hard_negatives`
returns a new (anchor, positive, negative) table; this keeps every row and column of a seam-1 dataset and fills only
the missing negatives, which is why the selection is written here (encoding is sentence-transformers').

Positive-aware filter (`positive_fraction`, NV-Retriever's TopK-PercPos, Moreira et al., 2024): a candidate is kept
only if it scores below that share of the query's positive, which drops the unlabelled positives that top ranks hold.

Data-parallel under `accelerate launch`: each process embeds its contiguous share of the corpus (gathered back in
order) and ranks its share of the queries; the picks are gathered so every process returns the same table. Random
picks draw from a generator seeded by (seed, row), so the result does not depend on the number of processes.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from synthembed_common.config import ConfigError

if TYPE_CHECKING:
    import torch
    from datasets import Dataset

logger = logging.getLogger(__name__)


# torch, datasets and tqdm are imported where they are used: the commands read this declaration while parsing their
# config, and --help loads no heavy library.
@dataclass(kw_only=True)
class MiningWindow:
    """The rank window a mined negative is drawn from and the false-negative filter: declared, defaulted and checked
    here once for every command that mines (synthembed-mine and synthembed-prepare-data take these fields)."""

    range_min: int = field(
        default=0,
        metadata={
            "help": "First eligible rank: 0 with `positive_fraction` (the filter drops the likely positives at the "
            "top); without it, skip the top ranks (e.g. 10)."
        },
    )
    range_max: int = field(default=100, metadata={"help": "Eligible ranks end here (paper: top-100)."})
    positive_fraction: float | None = field(
        default=0.95,
        metadata={
            "help": "Keep a candidate only if it scores < this × the positive's score (NV-Retriever: 0.95); null: off."
        },
    )
    sampling: Literal["random", "top"] = field(default="random", metadata={"help": "random in the window, or top."})

    def __post_init__(self):
        check_window(self.range_min, self.range_max, self.positive_fraction, self.sampling)


def check_window(
    range_min: int, range_max: int, positive_fraction: float | None, sampling: str = "random", prefix: str = ""
) -> None:
    """Raise ConfigError naming the field for a window that selects nothing or a filter outside (0, 1]. `prefix`:
    how a config that holds the window under other names spells them (generation's `negative_range_min`, ...)."""
    lo, hi, fraction = (f"{prefix}{name}" for name in ("range_min", "range_max", "positive_fraction"))
    if not 0 <= range_min < range_max:
        raise ConfigError(f"`{lo}`/`{hi}` must satisfy 0 <= min < max, got {range_min}, {range_max}")
    if positive_fraction is not None and not 0 < positive_fraction <= 1:
        raise ConfigError(f"`{fraction}` must be in (0, 1] or null, got {positive_fraction}")
    if sampling not in ("random", "top"):
        raise ConfigError(f"`{prefix}sampling` must be random or top, got {sampling!r}")


def mine_negatives(
    dataset: Dataset,
    model,
    query_column: str = "query",
    positive_column: str = "positive",
    negative_column: str = "negative",
    corpus: list[str] | None = None,
    window: MiningWindow | None = None,
    num_negatives: int = 1,
    only_missing: bool = True,
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    batch_size: int = 32,
    seed: int = 42,
    as_list: bool = False,
    accelerator=None,
) -> tuple[Dataset, dict]:
    """Return (dataset with negatives filled, stats). `negative_column` holds one text (num_negatives=1 and not
    `as_list`) or a list.

    Candidates are the corpus (default: every positive and existing negative in the dataset) ranked by cosine
    similarity to the query; ranks [range_min, range_max) of the `window` (default: MiningWindow()) are eligible,
    minus any text equal to the row's positive and, with `positive_fraction`, any scoring at or above that share of
    the positive's score.
    """
    from datasets import Dataset

    window = window or MiningWindow()
    rows = dataset.to_list()
    has_negative = negative_column in dataset.column_names
    todo = [i for i, r in enumerate(rows) if not (only_missing and has_negative and r.get(negative_column))]
    if corpus is None:
        corpus = list(dict.fromkeys(t for r in rows for t in _texts(r, positive_column, negative_column) if t))
    stats = {"rows": len(rows), "mined": 0, "without_candidate": 0, "corpus": len(corpus)}
    if not todo:
        return dataset, stats

    picks = mine_window(
        [rows[i][query_column] for i in todo],
        [rows[i][positive_column] for i in todo],
        corpus,
        model,
        row_ids=todo,
        range_min=window.range_min,
        range_max=window.range_max,
        num_negatives=num_negatives,
        sampling=window.sampling,
        positive_fraction=window.positive_fraction,
        query_prompt=query_prompt,
        corpus_prompt=corpus_prompt,
        batch_size=batch_size,
        seed=seed,
        accelerator=accelerator,
    )
    for row_index, picked in zip(todo, picks):
        if not picked:
            stats["without_candidate"] += 1
            continue
        rows[row_index][negative_column] = picked if as_list or num_negatives > 1 else picked[0]
        stats["mined"] += 1
    logger.info(
        "mined %d negatives (%d rows had no candidate in the window)", stats["mined"], stats["without_candidate"]
    )
    keep_features = has_negative and num_negatives == 1 and not as_list  # a list changes the column's type
    return Dataset.from_list(rows, features=dataset.features if keep_features else None), stats


def mine_window(
    queries: list[str],
    positives: list[str],
    corpus: list[str],
    model,
    row_ids: list[int],
    *,
    range_min: int,
    range_max: int,
    positive_fraction: float | None,
    num_negatives: int = 1,
    sampling: str = "random",
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    batch_size: int = 32,
    seed: int = 42,
    accelerator=None,
) -> list[list[str]]:
    """The negatives picked for each query (an empty list where the window holds no candidate), on every process.

    `row_ids` seed each row's random draw, so the picks are the same whatever the split across processes. The window
    is passed field by field (its callers hold it under other names) and checked by the same rule as MiningWindow.
    """
    from tqdm.auto import tqdm

    check_window(range_min, range_max, positive_fraction, sampling)
    main = accelerator is None or accelerator.is_main_process
    encode = dict(batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=main)
    corpus_emb = _sharded_encode(model, corpus, corpus_prompt, encode, accelerator)
    index = {text: j for j, text in enumerate(corpus)}
    mine = list(range(len(queries)))
    if accelerator is not None and accelerator.num_processes > 1:
        with accelerator.split_between_processes(mine) as share:
            mine = list(share)
    query_emb = model.encode([queries[i] for i in mine], prompt=query_prompt, **encode) if mine else None
    # A positive outside the corpus (a given corpus) is embedded on its own, for the positive-aware threshold.
    outside = [positives[i] for i in mine if positives[i] not in index]
    outside_emb = dict(zip(outside, model.encode(outside, prompt=corpus_prompt, **encode))) if outside else {}
    k = min(range_max, len(corpus))
    local: list[list[str]] = []
    for start in tqdm(range(0, len(mine), 256), desc="mining hard negatives", disable=not (mine and main)):
        chunk = mine[start : start + 256]
        scores = query_emb[start : start + len(chunk)] @ corpus_emb.T
        top_scores, top = (t.cpu().tolist() for t in scores.topk(k, dim=1))
        for n, i in enumerate(chunk):
            positive = positives[i]
            if positive_fraction is None:
                ceiling = float("inf")
            elif positive in index:
                ceiling = positive_fraction * float(scores[n, index[positive]])
            else:
                ceiling = positive_fraction * float(query_emb[start + n] @ outside_emb[positive])
            eligible = [
                corpus[j]
                for j, score in zip(top[n][range_min:], top_scores[n][range_min:])
                if corpus[j] != positive and score < ceiling
            ]
            if sampling == "random":
                random.Random(f"{seed}:{row_ids[i]}").shuffle(eligible)
            local.append(eligible[:num_negatives])
    if accelerator is None or accelerator.num_processes == 1:
        return local
    from accelerate.utils import gather_object

    return [picked for share in gather_object([local]) for picked in share]


def _sharded_encode(model, texts: list[str], prompt, encode: dict, accelerator) -> torch.Tensor:
    """Every process embeds a contiguous share; the shares are gathered back in the corpus order."""
    import torch

    if accelerator is None or accelerator.num_processes == 1:
        return model.encode(texts, prompt=prompt, **encode)
    from synthembed.distributed import gather_no_grad

    with accelerator.split_between_processes(texts) as share:
        share = list(share)
    dim = model.get_sentence_embedding_dimension()
    local = model.encode(share, prompt=prompt, **encode) if share else torch.zeros(0, dim)
    return gather_no_grad(local.to(accelerator.device))


def _texts(row: dict, positive_column: str, negative_column: str) -> list[str]:
    negative = row.get(negative_column)
    return [row[positive_column], *(negative if isinstance(negative, list) else [negative])]
