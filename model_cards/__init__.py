"""The Jinja templates of the model card (synthembed.model_card) and the dataset card (data_generation.card), shipped
with the package and read with importlib.resources, so an installed copy renders the same cards as the repository."""

from __future__ import annotations

from importlib.resources import files


def template(name: str) -> str:
    """The text of one template of this folder: "model_card.md.j2" or "dataset_card.md.j2"."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
