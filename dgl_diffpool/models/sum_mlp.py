"""The structure-blind baseline of Errica et al. (ICLR 2020): an MLP on a graph's summed node features."""
from __future__ import annotations

from typing import Optional

import dgl
from torch import Tensor, nn

from .. import defaults
from ..nn import NodeBatchNorm, sparse_readout
from .classifier_head import MLPHead
from .output import ClassifierOutput


class SumMLPClassifier(nn.Module):
    r"""An MLP on the sum of a graph's (normalised) node features; the edges are never read.

    .. math::
        \hat y = W_2\, \mathrm{dropout}\Big(\mathrm{ReLU}\Big(W_1 \sum_{v \in V} \mathrm{BN}(x_v)
        + b_1\Big)\Big) + b_2

    With one-hot node labels the sum counts each label (the "molecular fingerprint"
    baseline of Errica et al., which beat every GNN of their comparison on ENZYMES,
    PROTEINS and D&D): a graph model that loses to it has not used the graph.
    :math:`\mathrm{BN}` (:class:`~dgl_diffpool.nn.NodeBatchNorm` over the batch's nodes, the
    identity with ``batch_norm=False``) puts node attributes in their own units on one scale
    first: on ENZYMES' raw attributes the MLP fitted too slowly to learn (README, models).

    Parameters
    ----------
    in_feats : int
        Node feature size :math:`D`.
    num_classes : int
        Number of classes :math:`C`.
    mlp_hidden : int
        Hidden size of the MLP.
    dropout : float
        Dropout before the MLP's output layer.
    batch_norm : bool
        Normalise each node feature over the nodes of the batch before the sum.

    Notes
    -----
    ``forward(graph, feat, edge_weight=None, edge_feat=None)`` takes a batched graph and
    :math:`(N, D)` node features and returns a :class:`~dgl_diffpool.models.ClassifierOutput`
    with :math:`(B, C)` logits and zero auxiliary losses; ``edge_weight`` and ``edge_feat``
    are accepted, like every model's, and ignored.
    """

    def __init__(self, in_feats: int, num_classes: int, mlp_hidden: int = defaults.MLP_HIDDEN,
                 dropout: float = defaults.DROPOUT, batch_norm: bool = defaults.BATCH_NORM) -> None:
        super().__init__()
        self.norm = NodeBatchNorm(in_feats) if batch_norm else None
        self.head = MLPHead(in_feats, mlp_hidden, num_classes, dropout)

    def reset_parameters(self) -> None:
        if self.norm is not None:
            self.norm.reset_parameters()
        self.head.reset_parameters()

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> ClassifierOutput:
        if feat.shape[0] != graph.num_nodes():
            raise ValueError(f"feat has {feat.shape[0]} rows for a graph of {graph.num_nodes()} nodes")
        pooled = sparse_readout(graph, feat if self.norm is None else self.norm(feat), "sum")
        return ClassifierOutput.without_aux(self.head(pooled))
