"""Corpus-grounded generation (`mode: corpus`): the user's documents, chunked; for each chunk one request asks the LLM
for a retrieval task and a query that the chunk answers; the chunk is the positive and a hard negative is mined from
the same corpus with a reference embedder (synthembed.mining).

The task definition follows the paper's taxonomy (Wang et al., 2024, §3.1): a query retrieving a passage is a
short-long task, and the instruction is a one-sentence task like those its brainstorm (Table 8) returns; the query
placeholders (type, length, clarity, difficulty) are Table 8's, sampled per chunk. Rows are seam 1 with
`placeholders` holding the provenance: the source document, the chunk's number in it, the sampled values.

The engine's store, resume, sharding and Batch API, and the run function's relabeling, quality gate, statistics and card,
as in every mode: every reply goes to the store, and the rows are rebuilt from it (and the negatives mined again,
deterministically) on every run.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from data_generation.config import GenerationConfig
from data_generation.embedder import reference_model
from data_generation.engine import Mode, ModeResult, Session
from data_generation.parsing import Deduper, normalize, parse_object
from data_generation.placeholders import PlaceholderSampler
from data_generation.plan import Request, build_request, in_shard, seeded_rng
from data_generation.schemas import object_model
from data_generation.templates import render
from synthembed_common.config import ConfigError, first_line

logger = logging.getLogger(__name__)

PROMPT_VERSION = "synthembed-corpus/1"  # bump when the template or the row mapping changes
TASK_TYPE = "short-long"
TEXT_SUFFIXES = (".txt", ".md")
REPLY_KEYS = ("task", "user_query")

# Written for this mode after Table 8 (its query guidelines and output rules) and its brainstorm's task format.
CORPUS_GENERATE = """\
You have been given a passage from a document collection:

<passage>
{passage}
</passage>

Your mission is to write one text retrieval example for which this passage is the relevant document, in JSON format. The JSON object must contain the following keys:
- "task": a string, a text retrieval task in one sentence that this passage serves, which specifies what the query is and what the desired documents are (for example: "Search for documents that answers a FAQ-style query on children's nutrition.").
- "user_query": a string, a user search query specified by the retrieval task, that the passage answers.

Please adhere to the following guidelines:
- The "user_query" should be {query_type}, {query_length}, {clarity}, and answered by the passage.
- Avoid copying the passage verbatim into the query.
- The task and the query should be in {language}.
- The query requires {difficulty} level education to understand.

Your output must always be a JSON object only, do not explain yourself or output anything else."""


@dataclass(frozen=True)
class Chunk:
    document: str  # file path relative to corpus_path, or the dataset's id column / row number
    number: int  # position among the document's chunks
    text: str


def load_documents(config: GenerationConfig) -> list[tuple[str, str]]:
    """(document id, text) in a fixed order: a folder's .txt/.md files sorted by path, or a dataset's rows."""
    path = Path(config.corpus_path).expanduser()
    files = (
        sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES and p.is_file())
        if path.is_dir()
        else []
    )
    if files:
        files = files[: config.corpus_max_documents]
        documents = []
        for file in files:
            try:
                documents.append((file.relative_to(path).as_posix(), file.read_text(encoding="utf-8")))
            except UnicodeDecodeError as e:
                raise ConfigError(f"`corpus_path` {file}: not UTF-8 text ({e.reason} at byte {e.start})") from e
        return documents
    from synthembed.configs import missing_local_path
    from synthembed.data import load_one

    if missing_local_path(str(path)) or path.is_dir() and not any(path.iterdir()):
        raise ConfigError(f"`corpus_path` must be a folder of .txt/.md files or a dataset, got {config.corpus_path!r}")
    try:
        ds = load_one({"path": str(path) if path.exists() else config.corpus_path, "split": config.corpus_split})
    except Exception as e:  # DataError, or whatever datasets raises for a folder or Hub id it cannot read
        detail = first_line(e).removeprefix(f"{path}: ")  # DataError names the file: once is enough
        raise ConfigError(f"`corpus_path` {config.corpus_path}: {detail}") from e
    for name in ("corpus_text_column", "corpus_id_column"):
        column = getattr(config, name)
        if column is not None and column not in ds.column_names:
            raise ConfigError(f"`{name}` {column!r} is not a column of {config.corpus_path} ({ds.column_names})")
    if config.corpus_max_documents:
        ds = ds.select(range(min(len(ds), config.corpus_max_documents)))
    ids = ds[config.corpus_id_column] if config.corpus_id_column else range(len(ds))
    return [(str(i), text or "") for i, text in zip(ids, ds[config.corpus_text_column])]


def chunk_documents(documents: list[tuple[str, str]], tokenizer, config: GenerationConfig) -> tuple[list[Chunk], dict]:
    """Token-budget chunks at semantic boundaries (semantic-text-splitter: sentences, paragraphs, Markdown sections),
    counted with the reference embedder's tokenizer; chunks under `min_chunk_tokens` are dropped and counted."""
    from semantic_text_splitter import MarkdownSplitter, TextSplitter
    from tokenizers import Tokenizer

    counter = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    counter.no_truncation()  # the splitter must see full lengths (its documented requirement)
    counter.no_padding()
    size = (config.chunk_tokens, config.chunk_overlap)
    splitters = {
        ".md": MarkdownSplitter.from_huggingface_tokenizer(counter, *size),
        "": TextSplitter.from_huggingface_tokenizer(counter, *size),
    }
    chunks, short, empty = [], 0, 0
    for document, text in documents:
        pieces = splitters[".md" if document.lower().endswith(".md") else ""].chunks(text)
        empty += not pieces
        for number, piece in enumerate(pieces):
            if len(counter.encode(piece, add_special_tokens=False).ids) < config.min_chunk_tokens:
                short += 1
                continue
            chunks.append(Chunk(document, number, piece))
    stats = {"documents": len(documents), "empty_documents": empty, "chunks": len(chunks), "short_chunks": short}
    if not chunks:
        raise ConfigError(f"`corpus_path` {config.corpus_path}: no chunk of at least min_chunk_tokens tokens")
    return chunks, stats


def corpus_requests(config: GenerationConfig, chunks: list[Chunk]) -> list[Request]:
    """One request per chosen chunk (all, or `num_examples` drawn with the seed), this shard's share."""
    chosen = range(len(chunks))
    if len(chunks) > config.num_examples:
        chosen = sorted(random.Random(f"{config.seed}/corpus").sample(chosen, config.num_examples))
    sampler = PlaceholderSampler(None, config.placeholder_values, config.placeholder_weights)
    requests = []
    for position, index in enumerate(chosen):
        if not in_shard(config, position):
            continue
        rng = seeded_rng(config, "corpus", index)
        values = sampler.sample(TASK_TYPE, rng)
        values.pop("num_words")  # the document is given, not written
        values["language"] = config.corpus_language
        chunk = chunks[index]
        prompt = render(CORPUS_GENERATE, {**values, "passage": chunk.text})
        reply = (object_model("CorpusExample", REPLY_KEYS, config.schema_max_length), "corpus_example")
        meta = {**values, "document": chunk.document, "chunk": chunk.number, "chunk_index": index}
        requests.append(build_request(config, "corpus", TASK_TYPE, index, prompt, rng, reply, config.max_tokens, meta))
    return requests


def parse(request: Request, record: dict) -> dict[str, str]:
    return parse_object(object_model("CorpusExample", REPLY_KEYS), record["content"], record.get("finish_reason"))


def build_rows(session: Session, requests: list[Request], chunks: list[Chunk]) -> tuple[list[dict], Counter]:
    """Seam-1 rows (negative still None) in plan order, and the rejections by reason."""
    config = session.config
    rows, rejections, dedup = [], Counter(), Deduper(config.dedup_on)
    for request, reply in session.replies(requests, rejections, parse):
        chunk = chunks[request.index]
        if normalize(reply["user_query"]) == normalize(chunk.text):
            rejections["query_equals_positive"] += 1
            continue
        if dedup.is_duplicate(reply["user_query"], chunk.text, None):
            rejections["duplicate"] += 1
            continue
        provenance = {k: v for k, v in request.meta.items() if k != "chunk_index"}
        rows.append(
            {
                "query": reply["user_query"],
                "positive": chunk.text,
                "negative": None,
                "instruction": reply["task"],
                "task_type": TASK_TYPE,
                "language": config.corpus_language,
                "source_language": None,
                "target_language": None,
                "generator_model": request.model,
                "placeholders": json.dumps(provenance, ensure_ascii=False, sort_keys=True),
                "prompt_version": PROMPT_VERSION,
                "_chunk": request.index,
            }
        )
    return rows, rejections


def mine_corpus_negatives(config: GenerationConfig, rows: list[dict], chunks: list[Chunk], model) -> dict:
    """Fill each row's negative from the corpus's chunks (rank window, positive-aware filter, optionally never from
    the positive's own document, whose neighbouring chunks are the likeliest false negatives)."""
    from synthembed.mining import mine_window

    corpus = list(dict.fromkeys(c.text for c in chunks))
    documents: dict[str, set] = {}
    for c in chunks:
        documents.setdefault(c.text, set()).add(c.document)
    picks = (
        mine_window(
            [r["query"] for r in rows],
            [r["positive"] for r in rows],
            corpus,
            model,
            row_ids=[r["_chunk"] for r in rows],
            range_min=config.negative_range_min,
            range_max=config.negative_range_max,
            num_negatives=config.negative_range_max,  # every eligible candidate, in sampled order; the first allowed wins
            positive_fraction=config.negative_positive_fraction,
            query_prompt=config.embedder_query_prompt,
            corpus_prompt=config.embedder_corpus_prompt,
            batch_size=config.embedder_batch_size,
            seed=config.seed,
        )
        if rows
        else []
    )
    stats = Counter()
    for row, candidates in zip(rows, picks):
        own = chunks[row.pop("_chunk")].document
        allowed = [t for t in candidates if not (config.negatives_from_other_documents and own in documents[t])]
        row["negative"] = allowed[0] if allowed else None
        stats["mined" if allowed else "without_candidate"] += 1
    return dict(stats)


def prepare(config: GenerationConfig) -> tuple[list[Chunk], dict, list[Request]]:
    """Documents -> chunks -> this shard's requests (all before anything is written)."""
    documents = load_documents(config)
    model = reference_model(config.reference_embedder)
    if config.chunk_tokens > model.max_seq_length:
        logger.warning(
            "chunk_tokens %d > the reference embedder's max_seq_length %d: mining sees truncated chunks",
            config.chunk_tokens,
            model.max_seq_length,
        )
    chunks, corpus_stats = chunk_documents(documents, model.tokenizer, config)
    requests = corpus_requests(config, chunks)
    corpus_stats.update(chunk_tokens=config.chunk_tokens, requested_chunks=len(requests))
    return chunks, corpus_stats, requests


async def run(session: Session, inputs: tuple[list[Chunk], dict, list[Request]]) -> ModeResult:
    config = session.config
    chunks, corpus_stats, requests = inputs
    failed = await session.complete(requests, "corpus", parse)
    rows, rejections = build_rows(session, requests, chunks)
    corpus_stats["negatives"] = mine_corpus_negatives(config, rows, chunks, reference_model(config.reference_embedder))
    return ModeResult(
        prompt_version=PROMPT_VERSION,
        requested_examples={TASK_TYPE: len(requests)},
        rows=rows,
        rejections=rejections,
        requests=requests,
        unfinished=sum(failed.values()),
        section=corpus_stats,
    )


def plan(config: GenerationConfig, inputs) -> tuple[list[Request], list[Request]]:
    """The dry run: the corpus chunked and the requests planned, nothing sent; relabeling ranks every row."""
    requests = inputs[2]
    return requests, requests


def merge_section(sections: list[dict]) -> dict:
    """The shards' corpus statistics: each shard chunked the whole corpus and queried its share of the chunks."""
    negatives = Counter()
    for section in sections:
        negatives.update(section["negatives"])
    requested = sum(s["requested_chunks"] for s in sections)
    return {**sections[0], "requested_chunks": requested, "negatives": dict(sorted(negatives.items()))}


MODE = Mode("corpus", prepare, run, plan, section="corpus", merge_section=merge_section)
