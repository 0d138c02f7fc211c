"""Personalized passkey retrieval, the long-context test of Wang et al., 2024 (§5.2, Figures 4–5), as local tasks.

Per context length: 100 candidate documents, each the filler below repeated to about that many tokens with one
person's pass key hidden at a random position between the filler sentences; 50 queries "what is the pass key for
<Name>?", each with that person's document as the one relevant candidate; score: top-1 accuracy (mteb's retrieval
`accuracy`, recall@1 with one relevant document). The paper used the Hub set intfloat/personalized_passkey_retrieval;
this one is generated (no download), deterministically from the length and a fixed seed, so every run and every
rank sees the same documents. Lengths count tokens as WordPiece and Gemma's tokenizer do (a filler unit is 24 of
them, the pass-key sentence about 30); the model must see them whole: give `max_seq_length` at least the longest
length (the E5 protocol caps at 512), or a warning says the documents are cut.

Select with `tasks: [Passkey]` (the paper's eight lengths, 256 to 32k) or `tasks: [Passkey256, Passkey1024]`.
"""

from __future__ import annotations

import logging
import random
import re

logger = logging.getLogger(__name__)

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
UNIT_TOKENS, NEEDLE_TOKENS = 24, 30
LENGTHS = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)  # Figure 5's x axis
CANDIDATES, QUERIES = 100, 50
NAME = re.compile(r"Passkey(\d*)")
# The instruction of the query side under the E5 protocol (the paper does not print the one it used).
INSTRUCTION = "Given a question about a person's pass key, retrieve the passage that states it"
FIRST = "Malayah Jonah Priya Tobias Ingrid Rafael Noor Elias Wen Amara Dmitri Lucia Kofi Sana Mateo Freya Idris Hana Oskar Zara".split()
LAST = "Graves Okafor Lindqvist Moreau Tanaka Alvarez Novak Haddad Brennan Castillo Sato Petrov Mensah Keller Duarte Iqbal Fischer Ruiz Abara Quinn".split()


def passkey_data(length: int, seed: int = 0) -> tuple[list[dict], list[dict], dict[str, dict[str, int]]]:
    """(corpus rows {_id, text}, query rows {_id, text}, qrels) for one context length; the same on every call."""
    rng = random.Random(f"synthembed-passkey-{length}-{seed}")  # a str seed hashes the same in every process
    names = rng.sample([f"{f} {s}" for f in FIRST for s in LAST], CANDIDATES)
    units = max(1, round((length - NEEDLE_TOKENS) / UNIT_TOKENS))
    corpus = []
    for i, name in enumerate(names):
        key = rng.randint(10000, 99999)
        needle = f"{name}'s pass key is {key}. Remember it. {key} is the pass key for {name}."
        at = rng.randint(0, units)
        corpus.append({"_id": f"d{i}", "text": " ".join([FILLER] * at + [needle] + [FILLER] * (units - at))})
    asked = sorted(rng.sample(range(CANDIDATES), QUERIES))
    queries = [{"_id": f"q{i}", "text": f"what is the pass key for {names[i]}?"} for i in asked]
    return corpus, queries, {f"q{i}": {f"d{i}": 1} for i in asked}


def passkey_tasks(name: str) -> list | None:
    """The tasks `Passkey` (every length) or `Passkey<N>` names, data loaded; None for any other name."""
    match = NAME.fullmatch(name)
    if not match:
        return None
    return [passkey_task(int(n)) for n in ([match.group(1)] if match.group(1) else LENGTHS)]


def passkey_task(length: int):
    from pathlib import Path

    from synthembed.evaluation.local_tasks import new_task, retrieval_split

    if length < UNIT_TOKENS + NEEDLE_TOKENS:
        raise ValueError(f"a passkey length must be >= {UNIT_TOKENS + NEEDLE_TOKENS} tokens, got Passkey{length}")
    spec = {
        "name": f"Passkey{length}",
        "type": "Retrieval",
        "main_score": "accuracy",
        "split": "test",
        "source": f"Personalized passkey retrieval at ~{length} tokens (Wang et al., 2024, §5.2), generated",
    }
    task = new_task(spec, Path("passkey"))
    task.dataset = {"default": {"test": retrieval_split(*passkey_data(length))}}
    task.data_loaded = True
    task.local_spec = {**spec, "instruction": INSTRUCTION, "category": "Passkey", "subset": "default"}
    task.local_spec["passkey_length"] = length
    return task


def warn_if_cut(tasks, max_seq_length: int | None) -> None:
    """A passkey document longer than the encoder's limit is truncated: the key may be cut off."""
    longest = max((getattr(t, "local_spec", None) or {}).get("passkey_length", 0) for t in tasks)
    if max_seq_length and longest > max_seq_length:
        logger.warning(
            "Passkey%d: documents of ~%d tokens are cut at max_seq_length %d; give --max_seq_length %d to see them "
            "whole",
            longest,
            longest,
            max_seq_length,
            longest,
        )
