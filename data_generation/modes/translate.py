"""Translation of a vetted labeled dataset (`mode: translate`): every source row (pairs or triplets, with or without an
instruction) is translated by the LLM into each of `target_languages`, all of its texts in one JSON request so the
label structure stays as it was (the query stays the query, the positive the positive, the negative the negative).

Back-translation check: each translation is translated back into `source_language` by a second request, and the
original and the back-translated texts are embedded with the reference embedder (in the source language, so an
English model checks English sources); a row is kept only if every field scores cosine >= `back_translation_threshold`
with its original. Rows below it are counted in the statistics (`back_translation_below_threshold`), as are failed
replies of either step.

The engine's store, resume, sharding and Batch API, and the run function's quality gate, statistics and card, as in
every mode (relabeling is refused: the rows keep the source's vetted labels); the instruction is kept as it is unless
`translate_instruction` (the paper's multilingual data keeps English task definitions, §3.1).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter

from data_generation.config import GenerationConfig
from data_generation.embedder import reference_model
from data_generation.engine import Mode, ModeResult, Session
from data_generation.parsing import Deduper, parse_object
from data_generation.plan import Request, build_request, in_shard, seeded_rng
from data_generation.schemas import object_model
from data_generation.templates import TASK_TYPES, render
from synthembed_common.config import ConfigError, first_line

PROMPT_VERSION = "synthembed-translate/1"  # bump when the template or the row mapping changes
DEFAULT_TASK_TYPE = "short-long"  # for source rows without a task_type column: retrieval pairs

TRANSLATE = """\
Translate the string values of the JSON object below from {source} into {target}.

Please adhere to the following guidelines:
- Keep the keys unchanged and translate every value completely, keeping its meaning, tone and formatting.
- Do not add, drop or explain anything; numbers, names and code stay as they are.

Your output must always be a JSON object only with the same keys, do not explain yourself or output anything else.

{json}"""


def load_rows(config: GenerationConfig) -> list[dict]:
    """The source rows chosen for this run: {index, task_type, texts: {role: text}} (all, or num_examples drawn)."""
    from synthembed.configs import missing_local_path
    from synthembed.data import load_one, to_schema

    if missing_local_path(config.translate_path):
        raise ConfigError(
            f"`translate_path` must be a labeled dataset, no such file or folder {config.translate_path!r}"
        )
    try:
        ds = load_one({"path": config.translate_path, "split": config.translate_split})
        has_type = "task_type" in ds.column_names
        ds = to_schema(ds, {"columns": config.translate_columns or {}}, config.translate_path)
    except Exception as e:  # DataError (a missing column, an empty text), or whatever datasets raises reading it
        detail = first_line(e).removeprefix(f"{os.path.expanduser(config.translate_path)}: ")  # named once
        raise ConfigError(f"`translate_path` {config.translate_path}: {detail}") from e
    chosen = range(len(ds))
    if len(ds) > config.num_examples:
        chosen = sorted(random.Random(f"{config.seed}/translate").sample(chosen, config.num_examples))
    rows = []
    for index in chosen:
        row = ds[index]
        texts = {"query": row["query"], "positive": row["positive"]}
        if row["negatives"]:
            texts["negative"] = row["negatives"][0]  # seam 1 holds one negative
        if config.translate_instruction and row["instruction"]:
            texts["instruction"] = row["instruction"]
        task_type = row["task_type"] if has_type and row["task_type"] in TASK_TYPES else DEFAULT_TASK_TYPE
        rows.append({"index": index, "task_type": task_type, "texts": texts, "instruction": row["instruction"]})
    return rows


def _request(config: GenerationConfig, phase: str, row: dict, source: str, target: str, texts: dict) -> Request:
    rng = seeded_rng(config, phase, row["index"], source, target)
    body = json.dumps(texts, ensure_ascii=False)  # one line: the JSON is the prompt's last paragraph
    prompt = render(TRANSLATE, {"source": source, "target": target, "json": body})
    keys = tuple(texts)
    meta = {"language": target if phase == "translate" else source, "source_row": row["index"], "keys": keys}
    reply = (object_model("Translation", keys), "translation")
    return build_request(config, phase, row["task_type"], row["index"], prompt, rng, reply, config.max_tokens, meta)


def forward_requests(config: GenerationConfig, rows: list[dict]) -> list[Request]:
    """One request per (source row of this shard, target language), in row order."""
    return [
        _request(config, "translate", row, config.source_language, target, row["texts"])
        for position, row in enumerate(rows)
        if in_shard(config, position)
        for target in config.target_languages
    ]


def parse(request: Request, record: dict) -> dict[str, str]:
    reply = object_model("Translation", tuple(request.meta["keys"]))
    return parse_object(reply, record["content"], record.get("finish_reason"))


def similarities(config: GenerationConfig, originals: list[dict], back: list[dict]) -> list[float]:
    """Per row, the lowest cosine between an original text and its back-translation (reference embedder)."""
    if not originals:
        return []
    model = reference_model(config.reference_embedder)
    left = [t for texts in originals for t in texts.values()]
    right = [b[k] for texts, b in zip(originals, back) for k in texts]
    encode = dict(
        batch_size=config.embedder_batch_size,
        convert_to_tensor=True,
        normalize_embeddings=True,
        prompt=config.embedder_corpus_prompt,
    )
    scores = (model.encode(left, **encode) * model.encode(right, **encode)).sum(dim=1).tolist()
    out, start = [], 0
    for texts in originals:
        out.append(min(scores[start : start + len(texts)]))
        start += len(texts)
    return out


async def run(session: Session, rows: list[dict]) -> ModeResult:
    config = session.config
    by_index = {row["index"]: row for row in rows}
    forward = forward_requests(config, rows)
    rejections = Counter()
    failed = await session.complete(forward, "translate", parse)
    translated = list(session.replies(forward, rejections, parse))
    back = [
        _request(config, "back_translate", by_index[r.index], r.meta["language"], config.source_language, t)
        for r, t in translated
    ]
    failed += await session.complete(back, "back_translate", parse)
    back_rejections = Counter()
    returned = {r.key: t for r, t in session.replies(back, back_rejections, parse)}
    rejections.update({f"back_translation_{reason}": n for reason, n in back_rejections.items()})
    checked = [(r, t, returned[b.key]) for (r, t), b in zip(translated, back) if b.key in returned]
    scores = similarities(config, [by_index[r.index]["texts"] for r, _, _ in checked], [b for _, _, b in checked])
    out, dedup, kept = [], Deduper(config.dedup_on), Counter()
    for (request, texts, _), score in zip(checked, scores):
        language = request.meta["language"]
        if score < config.back_translation_threshold:
            rejections["back_translation_below_threshold"] += 1
            continue
        if dedup.is_duplicate(texts["query"], texts["positive"], texts.get("negative")):
            rejections["duplicate"] += 1
            continue
        kept[language] += 1
        source = by_index[request.index]
        provenance = {"source_row": request.index, "source_language": config.source_language}
        out.append(
            {
                "query": texts["query"],
                "positive": texts["positive"],
                "negative": texts.get("negative"),
                "instruction": texts.get("instruction", source["instruction"]),
                "task_type": request.task_type,
                "language": language,
                "source_language": None,  # seam 1 sets these for bitext only
                "target_language": None,
                "generator_model": request.model,
                "placeholders": json.dumps({**provenance, "back_translation_similarity": round(score, 4)}),
                "prompt_version": PROMPT_VERSION,
            }
        )
    check = {
        "threshold": config.back_translation_threshold,
        "checked": len(checked),
        "kept": sum(kept.values()),
        "below_threshold": rejections["back_translation_below_threshold"],
        "mean_similarity": round(sum(scores) / len(scores), 4) if scores else None,
        "kept_by_language": dict(sorted(kept.items())),
    }
    requested = Counter(r.task_type for r in forward)
    section = {
        "source_rows": sum(in_shard(config, p) for p in range(len(rows))),
        "source_language": config.source_language,
        "target_languages": list(config.target_languages),
        "back_translation": check,
    }
    return ModeResult(
        prompt_version=PROMPT_VERSION,
        requested_examples=dict(sorted(requested.items())),
        rows=out,
        rejections=rejections,
        requests=forward + back,
        unfinished=sum(failed.values()),
        section=section,
    )


def prepare(config: GenerationConfig) -> list[dict]:
    rows = load_rows(config)
    reference_model(config.reference_embedder)  # a bad embedder fails before anything is sent
    return rows


def plan(config: GenerationConfig, rows: list[dict]) -> tuple[list[Request], list[Request]]:
    """The dry run: forward requests as planned, and one back-translation per forward request (prompted with the
    source texts: a translation's length is about its source's); nothing is relabeled."""
    forward = forward_requests(config, rows)
    by_index = {row["index"]: row for row in rows}
    source = config.source_language
    back = [
        _request(config, "back_translate", by_index[r.index], r.meta["language"], source, by_index[r.index]["texts"])
        for r in forward
    ]
    return forward + back, []


def merge_section(sections: list[dict]) -> dict:
    """The shards' translation statistics: counts summed, the mean similarity weighted by the rows each checked."""
    checks = [s["back_translation"] for s in sections]
    checked = sum(c["checked"] for c in checks)
    scored = [(c["mean_similarity"], c["checked"]) for c in checks if c["mean_similarity"] is not None]
    kept_by_language = Counter()
    for c in checks:
        kept_by_language.update(c["kept_by_language"])
    check = {
        "threshold": checks[0]["threshold"],
        "checked": checked,
        "kept": sum(c["kept"] for c in checks),
        "below_threshold": sum(c["below_threshold"] for c in checks),
        "mean_similarity": round(sum(m * n for m, n in scored) / checked, 4) if scored and checked else None,
        "kept_by_language": dict(sorted(kept_by_language.items())),
    }
    source_rows = sum(s["source_rows"] for s in sections)
    return {**sections[0], "source_rows": source_rows, "back_translation": check}


MODE = Mode("translate", prepare, run, plan, section="translation", merge_section=merge_section)
