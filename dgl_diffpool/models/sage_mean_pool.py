"""Flat baseline: GraphSAGE layers, one readout over all nodes, an MLP."""
from __future__ import annotations

from typing import Optional

import dgl
from torch import Tensor, nn

from ..nn import GNN, sparse_readout
from ..nn.readout import check_readout
from .classifier_head import MLPHead
from .output import ClassifierOutput


class SAGEMeanPool(nn.Module):
    """GraphSAGE (or GCN / GIN) stack with a global mean readout: the paper's baseline.

    Parameters are those of :class:`~dgl_diffpool.models.DiffPoolClassifier` that
    apply to a flat model. ``forward`` returns a
    :class:`~dgl_diffpool.models.ClassifierOutput` with zero auxiliary losses.
    """

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        gnn_layers: int = 3,
        hidden_feats: int = 64,
        mlp_hidden: int = 64,
        conv: str = "sage",
        batch_norm: bool = True,
        dropout: float = 0.0,
        readout: str = "mean",
    ) -> None:
        super().__init__()
        check_readout(readout)
        self.readout = readout
        self.gnn = GNN(in_feats, hidden_feats, gnn_layers, conv, batch_norm, dropout)
        self.head = MLPHead(self.gnn.out_feats, mlp_hidden, num_classes, dropout)

    def reset_parameters(self) -> None:
        self.gnn.reset_parameters()
        self.head.reset_parameters()

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> ClassifierOutput:
        z = self.gnn(graph, feat, edge_weight, edge_feat)
        logits = self.head(sparse_readout(graph, z, self.readout))
        zero = logits.new_zeros(())
        return ClassifierOutput(logits, zero, zero, zero)
