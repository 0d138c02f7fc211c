"""Teacher embeddings for distillation: every training text encoded once by a SentenceTransformer, cached on disk.

The cache is keyed by `synthembed.data.text_id` (the normalized text; for a translation given with its English
source, the source's embedding under the translation's id: multilingual knowledge distillation), so any run with the
same teacher reuses it whatever its mixture, and a killed encoding resumes where it stopped: texts are encoded in
blocks of `BLOCK` and each block is written as its own safetensors file, atomically (a temporary name, then a rename).

    <cache_dir>/teacher.json                 the teacher it belongs to and its width
    <cache_dir>/query-00000.safetensors      {"ids": int64 [n], "embeddings": float32 [n, d]} (L2-normalized)
    <cache_dir>/document-00000.safetensors   positives and hard negatives, the same layout

Queries are encoded bare (no E5 instruction); a teacher whose folder defines a `query` prompt gets it on queries.
Texts are cut at the student's `max_seq_length` (in the teacher's tokens) when that is shorter than the teacher's own
limit: the teacher scores what the student sees (and encodes it faster).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from synthembed.data import text_id

logger = logging.getLogger(__name__)

BLOCK = 2048  # texts per cached file: a kill loses at most one block's encoding
KINDS = ("query", "document")


def default_cache_dir(teacher: str, max_seq_length: int | None = None) -> Path:
    """$HF_HOME/synthembed/teacher-embeddings/<name>-<hash of its resolved path or id>[-len<max_seq_length>]."""
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    key = os.path.abspath(teacher) if os.path.exists(teacher) else teacher
    name = re.sub(r"[^\w.-]+", "_", os.path.basename(key.rstrip("/")))[:60]
    length = f"-len{max_seq_length}" if max_seq_length else ""
    return home / "synthembed" / "teacher-embeddings" / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}{length}"


class TeacherEmbeddings:
    """ids → teacher embeddings, for the texts `ensure` was given."""

    def __init__(
        self,
        teacher: str,
        cache_dir: str | os.PathLike | None = None,
        batch_size: int = 64,
        max_seq_length: int | None = None,
    ):
        self.teacher, self.batch_size, self.max_seq_length = teacher, batch_size, max_seq_length
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir(teacher, max_seq_length)
        self.index: dict[str, dict[int, int]] = {kind: {} for kind in KINDS}
        self.table: dict[str, torch.Tensor] = {}
        self.encode_seconds = 0.0

    def ensure(self, queries: Iterable[str | tuple[str, str]], documents: Iterable, device: str | None = None) -> None:
        """Encode the texts the cache lacks (queries with the teacher's query prompt, if it has one), then load all.
        An item may be (text, stand-in): the stand-in is encoded and cached under the text's id (a translation's
        English source: multilingual knowledge distillation)."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._check_owner()
        self._load()  # what is cached; read once, and again only if texts are added
        todo: dict[str, dict[int, str]] = {}
        for kind, texts in zip(KINDS, (queries, documents)):
            done = self.index[kind]
            items = ((t, t) if isinstance(t, str) else t for t in texts)
            todo[kind] = {key: encoded for text, encoded in items if (key := text_id(text)) not in done}
        missing = sum(len(v) for v in todo.values())
        if missing:
            start = time.time()
            self._encode(todo, device)
            self.encode_seconds = time.time() - start
            logger.info("Teacher %s: %d texts encoded in %.0f s", self.teacher, missing, self.encode_seconds)
            self._load()

    def lookup(self, ids: torch.Tensor, kind: str) -> torch.Tensor:
        """[n, d] embeddings of the texts with these `text_id`s; kind: query or document."""
        index = self.index[kind]
        try:
            rows = [index[k] for k in ids.tolist()]
        except KeyError:
            raise KeyError(
                f"a {kind} text has no teacher embedding in {self.cache_dir}: ensure() was not given it"
            ) from None
        return self.table[kind][rows]

    # ---- internals ------------------------------------------------------------------------------------------------
    def _blocks(self, kind: str) -> list[Path]:
        return sorted(self.cache_dir.glob(f"{kind}-*.safetensors"))

    def _check_owner(self) -> None:
        """One cache folder, one teacher: refuse to mix embeddings of two models (different spaces)."""
        meta = self.cache_dir / "teacher.json"
        if meta.is_file():
            recorded = json.loads(meta.read_text())
            if recorded["teacher"] != self.teacher:
                raise ValueError(
                    f"`teacher_cache_dir` {self.cache_dir} holds embeddings of {recorded['teacher']!r}, "
                    f"not {self.teacher!r}"
                )
            if recorded.get("max_seq_length") != self.max_seq_length:
                raise ValueError(
                    f"`teacher_cache_dir` {self.cache_dir} holds texts cut at {recorded.get('max_seq_length')} tokens, "
                    f"not {self.max_seq_length}"
                )

    def _encode(self, todo: dict[str, dict[int, str]], device: str | None) -> None:
        from safetensors.torch import save_file
        from sentence_transformers import SentenceTransformer
        from tqdm.auto import tqdm

        model = SentenceTransformer(self.teacher, device=device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.max_seq_length and (model.max_seq_length is None or self.max_seq_length < model.max_seq_length):
            model.max_seq_length = self.max_seq_length
        meta = self.cache_dir / "teacher.json"
        if not meta.is_file():
            width = model.get_sentence_embedding_dimension()
            record = {"teacher": self.teacher, "dimension": width, "max_seq_length": self.max_seq_length}
            meta.write_text(json.dumps(record))
        prompts = getattr(model, "prompts", {}) or {}
        total = sum(len(v) for v in todo.values())
        with tqdm(total=total, desc="teacher embeddings", unit="text") as bar:
            for kind, texts in todo.items():
                prompt = "query" if kind == "query" and "query" in prompts else None
                items = sorted(texts.items(), key=lambda kv: len(kv[1]))  # similar lengths pad less
                number = len(self._blocks(kind))
                for start in range(0, len(items), BLOCK):
                    block = items[start : start + BLOCK]
                    emb = model.encode(
                        [t for _, t in block],
                        prompt_name=prompt,
                        batch_size=self.batch_size,
                        normalize_embeddings=True,
                        convert_to_tensor=True,
                    )
                    path = self.cache_dir / f"{kind}-{number:05d}.safetensors"
                    tmp = path.with_suffix(".tmp")
                    ids = torch.tensor([k for k, _ in block], dtype=torch.long)
                    save_file({"ids": ids, "embeddings": emb.float().cpu().contiguous()}, str(tmp))
                    os.replace(tmp, path)  # a kill leaves whole blocks only
                    number += 1
                    bar.update(len(block))

    def _load(self) -> None:
        from safetensors.torch import load_file

        for kind in KINDS:
            blocks = [load_file(str(path)) for path in self._blocks(kind)]
            if blocks:
                self.table[kind] = torch.cat([b["embeddings"] for b in blocks])
                ids = torch.cat([b["ids"] for b in blocks]).tolist()
                self.index[kind] = {k: i for i, k in enumerate(ids)}


def training_texts(dataset, num_hard_negatives: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(text, what the teacher encodes for it) of every bare query and every document (positive, the first
    `num_hard_negatives` negatives) of the mixture: the text itself, or its `teacher_query` / `teacher_positive`."""
    columns = dataset.column_names

    def pairs(role: str) -> list[tuple[str, str]]:
        stand_ins = dataset[f"teacher_{role}"] if f"teacher_{role}" in columns else [""] * len(dataset)
        return [(text, stand_in or text) for text, stand_in in zip(dataset[role], stand_ins)]

    documents = pairs("positive")
    if num_hard_negatives:
        documents += [(n, n) for row in dataset["negatives"] for n in row[:num_hard_negatives]]
    return pairs("query"), documents
