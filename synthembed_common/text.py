"""Text normalisation shared by duplicate checks (generation) and decontamination (generation and training)."""

from __future__ import annotations

import unicodedata


def normalize(text: str) -> str:
    """Normalised form for exact-duplicate checks: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
