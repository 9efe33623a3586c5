"""Graph readouts: sparse (a DGL batch) and dense (a padded batch with a node mask)."""
from __future__ import annotations

import dgl
import torch
from torch import Tensor

from ..names import READOUTS



def check_readout(op: str) -> None:
    if op not in READOUTS:
        raise ValueError(f"unknown readout {op!r}; choose one of {', '.join(READOUTS)}")


def sparse_readout(graph: dgl.DGLGraph, feat: Tensor, op: str) -> Tensor:
    """Per-graph ``op`` over the nodes of a batched graph: :math:`(N, D) \\to (B, D)`.

    A graph without nodes reads out zeros.
    """
    check_readout(op)
    with graph.local_scope():
        graph.ndata["_h"] = feat
        return dgl.readout_nodes(graph, "_h", op=op)


def dense_readout(x: Tensor, mask: Tensor, op: str) -> Tensor:
    """Per-graph ``op`` over the real nodes of a padded batch: :math:`(B, N, D) \\to (B, D)`.

    Padded rows never take part (a max never sees the padding zeros); a graph
    without real nodes reads out zeros.
    """
    check_readout(op)
    node = mask.unsqueeze(-1)
    if op == "max":
        out = x.masked_fill(~node, float("-inf")).amax(dim=1)
        return torch.where(mask.any(1, keepdim=True), out, torch.zeros_like(out))
    total = (x * node.to(x.dtype)).sum(dim=1)
    if op == "sum":
        return total
    return total / mask.sum(1, keepdim=True).clamp_min(1).to(x.dtype)
