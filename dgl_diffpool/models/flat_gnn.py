"""Flat baselines: one GNN, one readout over all nodes (mean, Set2Set or SortPool), an MLP."""
from __future__ import annotations

from typing import Optional

import dgl
import torch
from dgl.nn import Set2Set, SortPooling
from torch import Tensor, nn

from .. import defaults
from ..nn import GNN, READOUTS, sparse_readout
from .classifier_head import MLPHead
from .output import ClassifierOutput

FLAT_READOUTS = READOUTS + ("set2set", "sort")


class SortPoolReadout(nn.Module):
    r"""DGCNN's readout (Zhang et al., 2018): SortPooling, then 1-D convolutions.

    The :math:`k` nodes with the largest last feature channel are kept in that order
    (zero rows if a graph has fewer), a convolution with kernel and stride :math:`D`
    reads each node, max-pooling and a second convolution read neighbouring nodes.
    Input :math:`(N, D)` node features of a batch; output :math:`(B, F_{out})`, see
    :attr:`out_feats`.
    """

    def __init__(self, in_feats: int, k: int, channels: tuple[int, int] = (16, 32), kernel: int = 5) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"SortPool needs k >= 1 nodes, got {k}")
        self.pool = SortPooling(k)
        self.conv1 = nn.Conv1d(1, channels[0], in_feats, stride=in_feats)
        self.max_pool = nn.MaxPool1d(2, 2)
        # Short sequences (k < 2 * kernel) get a narrower second kernel rather than an error.
        width = max(k // 2, 1)
        self.conv2 = nn.Conv1d(channels[0], channels[1], min(kernel, width))
        self.out_feats = channels[1] * (width - min(kernel, width) + 1)

    def reset_parameters(self) -> None:
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def forward(self, graph: dgl.DGLGraph, feat: Tensor) -> Tensor:
        h = self.pool(graph, feat).unsqueeze(1)  # (B, 1, k * D)
        h = torch.relu(self.conv1(h))
        if h.shape[-1] > 1:
            h = self.max_pool(h)
        h = torch.relu(self.conv2(h))
        return h.flatten(1)


class FlatGNNClassifier(nn.Module):
    """GraphSAGE (or GCN / GIN) stack, one readout over all nodes, an MLP: the paper's baselines.

    Parameters
    ----------
    in_feats, num_classes, gnn_layers, hidden_feats, mlp_hidden, conv, batch_norm, dropout
        As in :class:`~dgl_diffpool.models.DiffPoolClassifier`.
    readout : str
        ``"mean"`` (GraphSAGE mean-pool), ``"max"``, ``"sum"``, ``"set2set"`` (Vinyals et al.,
        2016; 3 steps, output :math:`2 L H`) or ``"sort"`` (:class:`SortPoolReadout`).
    sort_k : int
        Nodes kept by the SortPool readout.

    Notes
    -----
    ``forward(graph, feat, edge_weight=None, edge_feat=None)`` returns a
    :class:`~dgl_diffpool.models.ClassifierOutput` with zero auxiliary losses.
    """

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        gnn_layers: int = defaults.GNN_LAYERS,
        hidden_feats: int = defaults.HIDDEN,
        mlp_hidden: int = defaults.MLP_HIDDEN,
        conv: str = defaults.CONV,
        batch_norm: bool = defaults.BATCH_NORM,
        dropout: float = defaults.DROPOUT,
        readout: str = "mean",
        sort_k: int = defaults.SORT_K,
    ) -> None:
        super().__init__()
        if readout not in FLAT_READOUTS:
            raise ValueError(f"unknown readout {readout!r}; choose one of {', '.join(FLAT_READOUTS)}")
        self.readout = readout
        self.gnn = GNN(in_feats, hidden_feats, gnn_layers, conv, batch_norm, dropout)
        feats = self.gnn.out_feats
        self.pool: Optional[nn.Module] = None
        if readout == "set2set":
            self.pool = Set2Set(feats, n_iters=3, n_layers=1)
            feats = 2 * feats
        elif readout == "sort":
            self.pool = SortPoolReadout(feats, sort_k)
            feats = self.pool.out_feats
        self.head = MLPHead(feats, mlp_hidden, num_classes, dropout)

    def reset_parameters(self) -> None:
        self.gnn.reset_parameters()
        if self.pool is not None:
            self.pool.reset_parameters()
        self.head.reset_parameters()

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> ClassifierOutput:
        z = self.gnn(graph, feat, edge_weight, edge_feat)
        pooled = sparse_readout(graph, z, self.readout) if self.pool is None else self.pool(graph, z)
        return ClassifierOutput.without_aux(self.head(pooled))
