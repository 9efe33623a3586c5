"""The MLP that maps a graph embedding to class logits."""
from __future__ import annotations

from torch import nn


class MLPHead(nn.Sequential):
    """``Linear -> ReLU -> Dropout -> Linear``: graph embedding :math:`(B, F)` to logits :math:`(B, C)`."""

    def __init__(self, in_feats: int, hidden_feats: int, num_classes: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(in_feats, hidden_feats),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_feats, num_classes),
        )

    def reset_parameters(self) -> None:
        for layer in self:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
