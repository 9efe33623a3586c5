"""The MLP that maps a graph embedding to class logits."""
from __future__ import annotations

from torch import nn


def mlp_head(in_feats: int, hidden_feats: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_feats, hidden_feats),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_feats, num_classes),
    )
