"""Contrastive losses: InfoNCE over in-batch and hard negatives (E5-mistral, spec §5.3)."""

from synthembed.losses.infonce import InfoNCELoss, LossOutput

__all__ = ["InfoNCELoss", "LossOutput"]
