"""LLM-checked positives (Gecko-style relabeling; Lee et al., 2024, "Gecko: Versatile Text Embeddings Distilled from
Large Language Models"): after generation, each generated query is put to the LLM again with its nearest passages.

For every row of `relabel_task_types`:

1. candidates: the `relabel_top_k` passages of the run's pool (every positive and negative of those rows) nearest to
   the query by cosine similarity under the `reference_embedder`; the row's own positive is always one of
   them (it replaces the k-th when retrieval misses it), so the LLM can keep it;
2. the candidates are listed in a seeded random order (the retrieval order would tell the LLM which one is "right")
   with ids P1..Pk, and the LLM is asked for a JSON ranking of every id (RANKING_TEMPLATE);
3. selection rule: the new positive is the passage ranked first; the new hard negative is the one ranked
   `relabel_negative_rank` (1-based, default the last of the k; with fewer candidates, the last one). A reply that is not
   exactly a permutation of the ids leaves the row as generated and is counted by reason.

The ranking requests go through the run's store like every other request (resumable, counted in the usage by phase
"relabel", costed by the dry run); the statistics and the card count the rows whose positive or negative changed.
Off by default (`relabel_enabled: true`, `relabel_top_k`, `reference_embedder`, ...; modes synthetic and corpus).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from data_generation.embedder import reference_model
from data_generation.parsing import Rejected, load_reply
from data_generation.plan import Request, build_request, seeded_rng
from data_generation.relabel_settings import completion_tokens, rank_of_negative
from data_generation.schemas import ranking_reply
from data_generation.templates import render

RANKING_TEMPLATE = """\
Rank the candidate passages for this retrieval task: {instruction}

Here is a query for this task and {num_passages} candidate passages, each with an id.

Query: {query}

{passages}

Rank all {num_passages} passages by how well they satisfy the query for this task, the most relevant first.

Your output must always be a JSON object only, with the key "ranking": a list of every passage id exactly once, e.g. {"ranking": [{example}]}. Do not explain yourself or output anything else."""
PASSAGE_LINE = "[{id}] {text}"
FIRST_LINE = "Rank the candidate passages for this retrieval task: "  # how the scripted server tells one


SETTINGS = ("embedder", "top_k", "negative_rank", "task_types")  # what the statistics record of the settings
COUNTS = ("rows_considered", "ranked", "positive_changed", "negative_changed", "unfinished")


def ranking_prompt(instruction: str, query: str, passages: list[tuple[str, str]]) -> str:
    """The ranking prompt for (id, text) passages in the order given."""
    lines = "\n\n".join(PASSAGE_LINE.format(id=pid, text=text) for pid, text in passages)
    example = ", ".join(f'"{pid}"' for pid, _ in passages[:3]) + (", ..." if len(passages) > 3 else "")
    values = {"instruction": instruction, "query": query, "num_passages": len(passages)}
    return render(RANKING_TEMPLATE, {**values, "passages": lines, "example": example})


def parse_ranking(content: str | None, ids: list[str], finish_reason: str | None = None) -> list[str]:
    """The ids best first, or `Rejected`: the reply must be {"ranking": [...]} listing every id exactly once."""
    obj = load_reply(content, finish_reason)
    ranking = obj.get("ranking") if isinstance(obj, dict) else None
    if not isinstance(ranking, list) or not all(isinstance(x, str) for x in ranking):
        raise Rejected("ranking_not_a_list")
    ranking = [x.strip().strip("[]") for x in ranking]  # "[P2]" as the prompt prints it is P2
    if set(ranking) - set(ids):
        raise Rejected("ranking_unknown_id", str(sorted(set(ranking) - set(ids))))
    if len(ranking) != len(ids) or len(set(ranking)) != len(ids):
        raise Rejected("ranking_incomplete", f"{len(set(ranking))} of {len(ids)} ids")
    return ranking


def _row_id(row: dict) -> str:
    return hashlib.sha256(json.dumps([row["query"], row["positive"]], ensure_ascii=False).encode()).hexdigest()


def parse(request: Request, record: dict) -> list[str]:
    """The engine's parser of a ranking reply."""
    return parse_ranking(record["content"], request.meta["ids"], record.get("finish_reason"))


def retrieve(config, queries: list[str], positives: list[str], pool: list[str]) -> list[list[str]]:
    """Per query: the top_k pool texts by cosine similarity (best first), always holding the query's own positive."""
    from sentence_transformers.util import semantic_search

    model = reference_model(config.reference_embedder, device=None)  # an accelerator where there is one
    encode = dict(batch_size=config.embedder_batch_size, convert_to_tensor=True, normalize_embeddings=True)
    corpus = model.encode(pool, prompt=config.embedder_corpus_prompt, **encode)
    query_emb = model.encode(queries, prompt=config.embedder_query_prompt, **encode)
    hits = semantic_search(query_emb, corpus, top_k=min(config.relabel_top_k, len(pool)))
    out = []
    for positive, found in zip(positives, hits):
        texts = [pool[h["corpus_id"]] for h in found]
        if positive not in texts:
            texts[-1] = positive
        out.append(texts)
    return out


def ranking_model(config) -> str:
    """The LLM that ranks: `relabel_model`, else the generation model (the first by name of a mix)."""
    mix = config.model_mix or (config.models_per_task_type or {}).values()
    return config.relabel_model or config.model or sorted(mix)[0]


def ranking_requests(config, rows: list[dict], candidates: list[list[str]]) -> list[Request]:
    """One ranking request per row: candidates shuffled by a seed of (run seed, row), ids P1..Pk in that order."""
    model = ranking_model(config)
    sampling = {"temperature": 0.0}
    requests = []
    for row, texts in zip(rows, candidates):
        row_id = _row_id(row)
        rng = seeded_rng(config, "relabel", row_id)
        order = rng.sample(texts, len(texts))
        passages = [(f"P{j + 1}", text) for j, text in enumerate(order)]
        ids = [pid for pid, _ in passages]
        prompt = ranking_prompt(row["instruction"], row["query"], passages)
        meta = {"ids": ids, "passages": dict(passages)}
        reply, index = (ranking_reply(len(ids)), "ranking"), int(row_id[:12], 16)
        max_tokens = completion_tokens(config)
        requests.append(
            build_request(
                config, "relabel", row["task_type"], index, prompt, rng, reply, max_tokens, meta, model, sampling
            )
        )
    return requests


def select(ranking: list[str], passages: dict[str, str], negative_rank: int) -> tuple[str, str | None]:
    """The selection rule: (the passage ranked first, the one ranked `negative_rank` or else the last)."""
    ranked = [passages[pid] for pid in ranking]
    negative = ranked[min(negative_rank, len(ranked)) - 1]
    return ranked[0], (negative if negative != ranked[0] else None)


def settings_of(config) -> dict:
    """What the statistics record of the settings (SETTINGS)."""
    values = (config.reference_embedder, config.relabel_top_k, rank_of_negative(config), config.relabel_task_types)
    return dict(zip(SETTINGS, values))


async def relabel(config, rows: list[dict], store, complete) -> tuple[list[dict], dict, list]:
    """(rows with LLM-checked positives and negatives, statistics, the ranking requests). `complete(requests,
    phase, parse)` sends what the store lacks (the engine's executor: online or Batch API)."""
    targets = [i for i, r in enumerate(rows) if r["task_type"] in config.relabel_task_types]
    stats = {**settings_of(config), **dict.fromkeys(COUNTS, 0), "rows_considered": len(targets)}
    if not targets:
        return rows, {**stats, "rejections": {}}, []
    pool = list(dict.fromkeys(t for i in targets for t in (rows[i]["positive"], rows[i]["negative"]) if t))
    chosen = [rows[i] for i in targets]
    candidates = retrieve(config, [r["query"] for r in chosen], [r["positive"] for r in chosen], pool)
    requests = ranking_requests(config, chosen, candidates)
    failed = await complete(requests, "relabel", parse)
    out, rejections = [dict(r) for r in rows], Counter()
    for i, request in zip(targets, requests):
        record = store.get(request.key)
        if record is None:
            continue  # unfinished: counted below, the row stays as generated
        try:
            if record.get("error"):
                raise Rejected("request_error")
            ranking = parse(request, record)
        except Rejected as e:
            rejections[e.reason] += 1
            continue
        positive, negative = select(ranking, request.meta["passages"], rank_of_negative(config))
        stats["ranked"] += 1
        stats["positive_changed"] += positive != rows[i]["positive"]
        stats["negative_changed"] += negative != rows[i]["negative"]
        out[i].update(positive=positive, negative=negative)
    stats.update(rejections=dict(sorted(rejections.items())), unfinished=sum(failed.values()))
    return out, stats, requests


def estimated_usage(config, generate_requests) -> list[tuple[str, str | None, dict]]:
    """The dry run's (task type, language, usage) of one ranking request per planned example of `relabel_task_types`:
    prompt tokens ~ chars / 4 with passages `relabel_assumed_passage_chars` long, completions at its max_tokens."""
    passage = "x" * config.relabel_assumed_passage_chars
    example = ranking_prompt("x" * 120, "x" * 100, [(f"P{j + 1}", passage) for j in range(config.relabel_top_k)])
    usage = {"prompt_tokens": len(example) // 4, "completion_tokens": completion_tokens(config)}
    types = config.relabel_task_types
    return [(r.task_type, r.language, dict(usage)) for r in generate_requests if r.task_type in types]


def merged_stats(shard_stats: list[dict]) -> dict | None:
    """The relabeling statistics of a sharded run (each shard ranks its rows against its own pool), or None."""
    found = [s["relabel"] for s in shard_stats if "relabel" in s]
    if not found:
        return None
    rejections = Counter()
    for stats in found:
        rejections.update(stats["rejections"])
    counts = {key: sum(stats[key] for stats in found) for key in COUNTS}
    return {**{key: found[0][key] for key in SETTINGS}, **counts, "rejections": dict(sorted(rejections.items()))}
