"""Contrastive losses: InfoNCE over in-batch and hard negatives (E5-mistral, spec §5.3), plain and cached (GradCache)."""

from synthembed.losses.cached_infonce import CachedInfoNCELoss
from synthembed.losses.infonce import InfoNCELoss, LossOutput

__all__ = ["CachedInfoNCELoss", "InfoNCELoss", "LossOutput"]
