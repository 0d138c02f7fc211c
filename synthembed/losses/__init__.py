"""Contrastive losses, functions of embeddings only (InfoNCE with in-batch and hard negatives, Wang et al., 2024)."""

from synthembed.losses.infonce import InfoNCELoss, LossOutput

__all__ = ["InfoNCELoss", "LossOutput"]
