"""Node features derived from structure."""
from __future__ import annotations

import dgl
import torch
import torch.nn.functional as F


def one_hot_degree(graph: dgl.DGLGraph, max_degree: int) -> torch.Tensor:
    """One-hot in-degree clipped at ``max_degree``: shape ``(N, max_degree + 1)``, float32."""
    deg = graph.in_degrees().clamp_max(max_degree)
    return F.one_hot(deg, max_degree + 1).float()
