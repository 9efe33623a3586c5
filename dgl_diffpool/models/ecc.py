"""Edge-conditioned convolution baseline (Simonovsky and Komodakis, 2017)."""
from __future__ import annotations

from typing import Optional

import dgl
import dgl.function as fn
import torch
from dgl.nn import NNConv
from torch import Tensor, nn
from torch.nn import functional as F

from .. import defaults
from ..nn import NodeBatchNorm, sparse_readout
from .classifier_head import MLPHead
from .output import ClassifierOutput

EDGE_LABEL_KEY = "edge_label"


class ECCClassifier(nn.Module):
    r"""Edge-conditioned convolutions (``dgl.nn.NNConv``), a global mean readout, an MLP.

    Each layer's filter is generated from the edge's features by a small network,
    :math:`h_v' = W_0 h_v + \mathrm{mean}_{u \to v} F_\Theta(e_{uv}) h_u`. The edge
    features are the one-hot TU edge labels (``edata["edge_label"]``) when the dataset
    has them, else a constant (the layer is then an ordinary mean convolution). The
    original ECC also coarsened graphs with a fixed clustering; this baseline reads out
    once, as the flat GNN baselines do.

    Parameters
    ----------
    in_feats, num_classes, gnn_layers, hidden_feats, mlp_hidden, batch_norm, dropout
        As in :class:`~dgl_diffpool.models.FlatGNNClassifier`.
    num_edge_labels : int
        Number of edge label values (0: the dataset has no edge labels).
    edge_hidden : int
        Hidden size of the filter-generating network.
    """

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        num_edge_labels: int = 0,
        gnn_layers: int = defaults.GNN_LAYERS,
        hidden_feats: int = defaults.HIDDEN,
        mlp_hidden: int = defaults.MLP_HIDDEN,
        batch_norm: bool = defaults.BATCH_NORM,
        dropout: float = defaults.DROPOUT,
        edge_hidden: int = 32,
    ) -> None:
        super().__init__()
        self.num_edge_labels = num_edge_labels
        edge_in = max(num_edge_labels, 1)
        self.convs = nn.ModuleList()
        for i in range(gnn_layers):
            fin = in_feats if i == 0 else hidden_feats
            filters = nn.Sequential(nn.Linear(edge_in, edge_hidden), nn.ReLU(),
                                    nn.Linear(edge_hidden, fin * hidden_feats))
            self.convs.append(NNConv(fin, hidden_feats, filters, aggregator_type="mean", residual=True))
        self.norms = nn.ModuleList(
            NodeBatchNorm(hidden_feats) if batch_norm else nn.Identity() for _ in range(gnn_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = MLPHead(hidden_feats * gnn_layers, mlp_hidden, num_classes, dropout)

    def reset_parameters(self) -> None:
        for conv, norm in zip(self.convs, self.norms):
            conv.reset_parameters()
            for layer in conv.edge_func:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()
            if isinstance(norm, nn.BatchNorm1d):
                norm.reset_parameters()
        self.head.reset_parameters()

    def edge_labels(self, graph: dgl.DGLGraph) -> Tensor:
        """Each edge's label, shape :math:`(E,)`: all 0 without labels."""
        if self.num_edge_labels == 0:
            return torch.zeros(graph.num_edges(), dtype=torch.long, device=graph.device)
        labels = graph.edata.get(EDGE_LABEL_KEY)
        if labels is None:
            raise ValueError(f"ECC was built for {self.num_edge_labels} edge labels but the graph has no "
                             f"edata[{EDGE_LABEL_KEY!r}]")
        labels = labels.reshape(-1).long()
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_edge_labels):
            raise ValueError(f"edge labels must be in 0..{self.num_edge_labels - 1}, got {int(labels.max())}")
        return labels

    def edge_features(self, graph: dgl.DGLGraph, like: Tensor) -> Tensor:
        """One-hot edge labels :math:`(E, L)`, or ones :math:`(E, 1)` without labels."""
        return F.one_hot(self.edge_labels(graph), max(self.num_edge_labels, 1)).to(like.dtype)

    def _conv(self, conv: NNConv, graph: dgl.DGLGraph, h: Tensor, labels: Tensor) -> Tensor:
        r"""``conv(graph, h, one_hot(labels))`` with one filter per label value instead of per edge.

        NNConv generates an :math:`D_{in} \times D_{out}` filter for every edge and multiplies
        each message by its own (memory :math:`E D_{in} D_{out}`); one-hot features take only
        :math:`L` values, so :math:`h_u W_l` for every node and label, gathered per edge, is the
        same sum for :math:`N L D_{out}` (to rounding).
        """
        num_labels = max(self.num_edge_labels, 1)
        eye = torch.eye(num_labels, dtype=h.dtype, device=h.device)
        filters = conv.edge_func(eye).view(num_labels, h.shape[-1], -1)
        per_label = torch.einsum("nf,lfo->nlo", h, filters)
        with graph.local_scope():
            src, _ = graph.edges()
            graph.edata["m"] = per_label[src, labels]
            graph.update_all(fn.copy_e("m", "m"), fn.mean("m", "neigh"))
            out = graph.dstdata["neigh"]
        if conv.res_fc is not None:
            out = out + conv.res_fc(h)
        if conv.bias is not None:
            out = out + conv.bias
        return out

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> ClassifierOutput:
        labels = self.edge_labels(graph)
        h, outs = feat, []
        for conv, norm in zip(self.convs, self.norms):
            h = self.dropout(norm(torch.relu(self._conv(conv, graph, h, labels))))
            outs.append(h)
        return ClassifierOutput.without_aux(self.head(sparse_readout(graph, torch.cat(outs, dim=-1), "mean")))
