"""The reference embedder (`reference_embedder`, `embedder_*`): one SentenceTransformer per process for every use, the
corpus mode's chunk tokens and negatives, the translate mode's back-translation check and relabeling's retrieval."""

from __future__ import annotations

import functools

from synthembed_common.config import ConfigError, first_line


@functools.cache
def reference_model(name: str, device: str | None = "cpu"):
    """The reference SentenceTransformer, loaded once per (name, device); `device` None: the library's choice."""
    from sentence_transformers import SentenceTransformer

    from synthembed.configs import missing_local_path

    if missing_local_path(name):
        raise ConfigError(
            f"`reference_embedder` must be a SentenceTransformer folder or Hub id, no such path {name!r}"
        )
    try:
        return SentenceTransformer(name, device=device)
    except OSError as e:
        raise ConfigError(f"`reference_embedder` {name!r} cannot be loaded ({first_line(e)})") from e
