"""DiffPool layers: the sparse first level and the dense later levels."""
from __future__ import annotations

from typing import Optional

import dgl
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .dense_gnn import DenseGNN
from .gnn import GNN
from .low_rank import Adjacency
from .pooling import (
    PoolOutput,
    _masked_softmax,
    cluster_counts,
    cluster_mask_from_counts,
    dense_diff_pool,
    sparse_diff_pool,
)


def _cluster_mask(num_nodes: Tensor, ratio: Optional[float], num_clusters: int) -> Optional[Tensor]:
    """Per-graph cluster mask, trimmed to the largest count in the batch (None: fixed K)."""
    if ratio is None:
        return None
    counts = cluster_counts(num_nodes, ratio).clamp_max(num_clusters)
    return cluster_mask_from_counts(counts)


class _PoolLayer(nn.Module):
    """Embedding GNN, assignment GNN and the linear map to cluster logits."""

    gnn_class: type[nn.Module]

    def __init__(
        self,
        in_feats: int,
        hidden_feats: int,
        num_clusters: int,
        num_layers: int = 3,
        conv: str = "sage",
        batch_norm: bool = True,
        dropout: float = 0.0,
        ratio: Optional[float] = None,
    ) -> None:
        super().__init__()
        if num_clusters < 1:
            raise ValueError(f"num_clusters must be >= 1, got {num_clusters}")
        self.num_clusters, self.ratio = num_clusters, ratio
        self.embed = self.gnn_class(in_feats, hidden_feats, num_layers, conv, batch_norm, dropout)
        self.assign = self.gnn_class(in_feats, hidden_feats, num_layers, conv, batch_norm, dropout)
        self.assign_out = nn.Linear(self.assign.out_feats, num_clusters)
        self.out_feats = self.embed.out_feats

    def reset_parameters(self) -> None:
        self.embed.reset_parameters()
        self.assign.reset_parameters()
        self.assign_out.reset_parameters()

    def _assign_logits(self, h: Tensor, cluster_mask: Optional[Tensor]) -> Tensor:
        """Cluster logits, only for the columns some graph of the batch uses.

        Clusters beyond every graph's count would get probability 0; not computing
        them saves most of the work of the map when the batch's graphs are small
        (D&D: 1,437 columns for the largest graph, tens for a typical one).
        """
        if cluster_mask is None:
            return self.assign_out(h)
        k = cluster_mask.shape[1]
        return F.linear(h, self.assign_out.weight[:k], self.assign_out.bias[:k])


class DiffPool(_PoolLayer):
    r"""Level-0 DiffPool layer on a batched :class:`dgl.DGLGraph`.

    .. math::
        Z = \mathrm{GNN}_{embed}(A, X), \quad
        S = \mathrm{softmax}(\mathrm{GNN}_{assign}(A, X) W), \quad
        X' = S^\top Z, \quad A' = S^\top A S

    computed sparsely by :func:`~dgl_diffpool.nn.sparse_diff_pool`.

    Parameters
    ----------
    in_feats : int
        Input node feature size :math:`F`.
    hidden_feats : int
        Hidden size :math:`H` of each GNN layer.
    num_clusters : int
        Maximum number of clusters :math:`K` (the assignment GNN's output size).
    num_layers : int
        Layers of each GNN; the embedding size is :math:`L H` (concatenated layers).
    conv : str
        ``"sage"`` (default), ``"gcn"``, ``"gin"`` or ``"gine"`` (level 0 only; the
        dense levels use GIN).
    batch_norm, dropout
        As in :class:`~dgl_diffpool.nn.GNN`.
    ratio : float, optional
        If given, graph :math:`b` gets :math:`k_b = \min(K, \max(1, \lceil r n_b\rceil))`
        clusters and the output is padded only to the batch's largest :math:`k_b`.
        If ``None``, every graph gets :math:`K` clusters.
    factorize : bool
        Keep :math:`A'_b` factored for graphs with fewer nodes than clusters
        (see :func:`~dgl_diffpool.nn.sparse_diff_pool`) when :math:`K` is at least
        :attr:`min_factored_clusters`; the output ``adj`` is then a
        :class:`~dgl_diffpool.nn.LowRankAdjacency`, accepted by the dense layers.

    Notes
    -----
    ``forward(graph, feat, edge_weight=None, edge_feat=None)`` takes :math:`N`
    nodes in :math:`B` graphs, features :math:`(N, F)`, optional edge weights
    :math:`(E,)` (they also weight :math:`A` in the pooling) or, for ``conv="gine"``,
    edge features :math:`(E, H)`; it
    returns the embedding :math:`Z` :math:`(N, L H)` and a
    :class:`~dgl_diffpool.nn.PoolOutput` with ``x`` :math:`(B, K_b, L H)`.
    """

    gnn_class = GNN
    # Factored graphs are pooled one by one; below this K the Python loop costs more than the
    # K x K products it saves (fixed counts, one thread: ENZYMES K=32 2.7 s vs 1.7 s per 600
    # graphs, PROTEINS K=155 5.3 s vs 6.0 s, D&D K=1437 7.5 s vs 22 s per batch of 20).
    min_factored_clusters = 64

    def __init__(self, *args, factorize: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.factorize = factorize

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> tuple[Tensor, PoolOutput]:
        z = self.embed(graph, feat, edge_weight, edge_feat)
        mask = _cluster_mask(graph.batch_num_nodes(), self.ratio, self.num_clusters)
        logits = self._assign_logits(self.assign(graph, feat, edge_weight, edge_feat), mask)
        with graph.local_scope():
            weight_key = None
            if edge_weight is not None:
                graph.edata["_pool_w"] = edge_weight
                weight_key = "_pool_w"
            factorize = self.factorize and self.num_clusters >= self.min_factored_clusters
            return z, sparse_diff_pool(graph, z, logits, weight_key, mask, factorize)

    def assignment(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> Tensor:
        r"""The soft assignment :math:`S` that :meth:`forward` pools with: :math:`(N, K_b)`,
        rows summing to 1 over each graph's allowed clusters (for inspection)."""
        mask = _cluster_mask(graph.batch_num_nodes(), self.ratio, self.num_clusters)
        logits = self._assign_logits(self.assign(graph, feat, edge_weight, edge_feat), mask)
        node_mask = None
        if mask is not None:
            node_mask = torch.repeat_interleave(mask, graph.batch_num_nodes().to(mask.device), dim=0)
        return _masked_softmax(logits, node_mask)[0].to(logits.dtype)


class DenseDiffPool(_PoolLayer):
    r"""DiffPool layer on a padded dense batch (levels after the first).

    Same maths and parameters as :class:`DiffPool`; ``forward(x, adj, mask)``
    takes :math:`(B, N, F)`, :math:`(B, N, N)` and a node mask :math:`(B, N)`
    and returns :math:`Z` :math:`(B, N, L H)` and a
    :class:`~dgl_diffpool.nn.PoolOutput`. With ``ratio``, :math:`n_b` is the
    number of real nodes of graph :math:`b`.
    """

    gnn_class = DenseGNN

    def forward(self, x: Tensor, adj: Adjacency, mask: Tensor) -> tuple[Tensor, PoolOutput]:
        z = self.embed(x, adj, mask)
        cmask = _cluster_mask(mask.sum(-1), self.ratio, self.num_clusters)
        logits = self._assign_logits(self.assign(x, adj, mask), cmask)
        return z, dense_diff_pool(z, adj, logits, mask, cmask)

    def assignment(self, x: Tensor, adj: Adjacency, mask: Tensor) -> Tensor:
        """The soft assignment of :meth:`forward`: :math:`(B, N, K)`, zero rows at padded nodes."""
        cmask = _cluster_mask(mask.sum(-1), self.ratio, self.num_clusters)
        logits = self._assign_logits(self.assign(x, adj, mask), cmask)
        allowed = None if cmask is None else cmask.unsqueeze(1)
        return _masked_softmax(logits, allowed)[0].to(x.dtype) * mask.unsqueeze(-1).to(x.dtype)
