"""DiffPool-Det: the DiffPool architecture with assignments fixed by a graph clustering."""
from __future__ import annotations

from typing import Optional

import dgl
import torch
from torch import Tensor, nn

from .. import defaults
from ..data.clustering import CLUSTER_KEY
from ..nn import GNN, DenseGNN, dense_readout, sparse_readout
from ..nn.cluster_pool import cluster_pool, dense_cluster_pool
from ..nn.readout import check_readout
from .classifier_head import MLPHead
from .output import ClassifierOutput



class DiffPoolDet(nn.Module):
    r"""DiffPool-Det (Ying et al., 2018, section 4.2): embedding GNNs as in DiffPool, but the
    assignment of each level is a fixed hard clustering computed once per graph (Graclus,
    see :func:`~dgl_diffpool.data.clustering.cluster_hierarchy`), so pooling sums the
    features inside each cluster and the edges between clusters. No assignment GNN, no
    auxiliary losses.

    Parameters
    ----------
    in_feats, num_classes, pool_levels, gnn_layers, hidden_feats, mlp_hidden, conv,
    batch_norm, dropout, readout
        As in :class:`~dgl_diffpool.models.DiffPoolClassifier`.

    Notes
    -----
    ``forward(graph, feat, edge_weight=None, edge_feat=None)`` needs
    ``graph.ndata["det_cluster"]`` of shape :math:`(N, L)` with :math:`L \ge` ``pool_levels``:
    column :math:`l` is each node's cluster at level :math:`l + 1`, ids counted from 0 within
    each graph and nested from level to level. Returns a
    :class:`~dgl_diffpool.models.ClassifierOutput` with zero auxiliary losses.
    """

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        pool_levels: int = defaults.POOL_LEVELS,
        gnn_layers: int = defaults.GNN_LAYERS,
        hidden_feats: int = defaults.HIDDEN,
        mlp_hidden: int = defaults.MLP_HIDDEN,
        conv: str = defaults.CONV,
        batch_norm: bool = defaults.BATCH_NORM,
        dropout: float = defaults.DROPOUT,
        readout: str = defaults.READOUT,
    ) -> None:
        super().__init__()
        if pool_levels < 1:
            raise ValueError(f"pool_levels must be >= 1, got {pool_levels}")
        check_readout(readout)
        self.pool_levels, self.readout = pool_levels, readout
        gnn_args = dict(num_layers=gnn_layers, conv=conv, batch_norm=batch_norm, dropout=dropout)
        self.embed = GNN(in_feats, hidden_feats, **gnn_args)
        feats = self.embed.out_feats
        self.dense_embeds = nn.ModuleList(DenseGNN(feats, hidden_feats, **gnn_args) for _ in range(pool_levels))
        self.head = MLPHead(feats * (pool_levels + 1), mlp_hidden, num_classes, dropout)

    def reset_parameters(self) -> None:
        self.embed.reset_parameters()
        for gnn in self.dense_embeds:
            gnn.reset_parameters()
        self.head.reset_parameters()

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> ClassifierOutput:
        clusters = graph.ndata.get(CLUSTER_KEY)
        if clusters is None or clusters.dim() != 2 or clusters.shape[1] < self.pool_levels:
            raise ValueError(
                f"DiffPool-Det needs ndata[{CLUSTER_KEY!r}] with {self.pool_levels} column(s) of cluster ids: "
                "see dgl_diffpool.data.clustering.attach_cluster_hierarchy"
            )
        z = self.embed(graph, feat, edge_weight, edge_feat)
        readouts = [sparse_readout(graph, z, self.readout)]
        x, adj, mask = cluster_pool(graph, z, clusters[:, 0], edge_weight)
        node_graph = torch.repeat_interleave(torch.arange(graph.batch_size, device=z.device), graph.batch_num_nodes())
        for level, gnn in enumerate(self.dense_embeds):
            z = gnn(x, adj, mask)
            readouts.append(dense_readout(z, mask, self.readout))
            if level + 1 < self.pool_levels:
                here, there = clusters[:, level], clusters[:, level + 1]
                assign = z.new_zeros(graph.batch_size, z.shape[1], int(there.max()) + 1)
                assign[node_graph, here, there] = 1.0
                x, adj, mask = dense_cluster_pool(z, adj, assign, mask)
        return ClassifierOutput.without_aux(self.head(torch.cat(readouts, dim=-1)))
