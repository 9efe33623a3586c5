"""Hierarchical graph classifier: sparse DiffPool at level 0, dense DiffPool after."""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import dgl
import torch
from torch import Tensor, nn

from .. import defaults
from ..nn import DenseDiffPool, DenseGNN, DiffPool, dense_readout, sparse_readout
from ..nn.readout import check_readout
from .classifier_head import MLPHead
from .output import ClassifierOutput


class CoarsenedLevel(NamedTuple):
    """One pooling level as :meth:`DiffPoolClassifier.coarsen` reports it.

    ``assign``: the soft assignment into this level's clusters, :math:`(N, K)` for
    the first pooling (rows of the batch's nodes), :math:`(B, K_{prev}, K)` after;
    ``adj``: the coarsened adjacency :math:`(B, K, K)`; ``mask``: its clusters :math:`(B, K)`.
    """

    assign: Tensor
    adj: Tensor
    mask: Tensor


class DiffPoolClassifier(nn.Module):
    r"""DiffPool graph classifier (Ying et al., 2018).

    Level 0 runs sparse embedding and assignment GNNs on the DGL batch and pools
    it with :func:`~dgl_diffpool.nn.sparse_diff_pool`; each further pooling level
    is dense. After the last pooling an embedding GNN runs on the coarsest graph.
    The readouts of all levels are concatenated and fed to an MLP.

    Cluster counts: :math:`K_0 = \lceil r \cdot n_{max} \rceil` for the largest
    graph the model is built for, :math:`K_{l+1} = \lceil r K_l \rceil`. With
    ``adaptive_clusters`` each graph gets :math:`\lceil r n_b \rceil` clusters
    (capped at :math:`K_l`) instead of :math:`K_l`.

    Parameters
    ----------
    in_feats : int
        Node feature size.
    num_classes : int
        Number of classes.
    max_num_nodes : int
        Largest graph size, sets :math:`K_0`.
    pool_levels : int
        Number of DiffPool layers (:math:`\ge 1`).
    ratio : float
        Assignment ratio :math:`r \in (0, 1]` (0.25 in the paper).
    gnn_layers : int
        Layers in each embedding and assignment GNN.
    hidden_feats : int
        Hidden size of each GNN layer.
    mlp_hidden : int
        Hidden size of the classifier MLP.
    conv : str
        ``"sage"``, ``"gcn"``, ``"gin"``, ``"gine"`` (edge features at level 0) or ``"s2v"``.
    batch_norm : bool
        BatchNorm after each GNN layer (over real nodes only).
    dropout : float
        Dropout in the GNNs and the MLP.
    readout : str
        ``"max"``, ``"mean"`` or ``"sum"`` over the nodes of each level.
    link_loss, entropy_loss : bool
        Whether the auxiliary losses enter ``aux_loss`` (``link_loss=False`` is
        DiffPool-NoLP).
    adaptive_clusters : bool
        Per-graph cluster counts instead of a fixed :math:`K_l`.

    Notes
    -----
    ``forward(graph, feat, edge_weight=None, edge_feat=None)`` takes a batch of
    :math:`B` graphs, node features :math:`(N, F)`, optional edge weights :math:`(E,)`
    or edge features (``conv="gine"``, see :class:`~dgl_diffpool.nn.GNN`); it returns
    a :class:`~dgl_diffpool.models.ClassifierOutput` with logits :math:`(B, C)`.
    """

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        max_num_nodes: int,
        pool_levels: int = defaults.POOL_LEVELS,
        ratio: float = defaults.RATIO,
        gnn_layers: int = defaults.GNN_LAYERS,
        hidden_feats: int = defaults.HIDDEN,
        mlp_hidden: int = defaults.MLP_HIDDEN,
        conv: str = defaults.CONV,
        batch_norm: bool = defaults.BATCH_NORM,
        dropout: float = defaults.DROPOUT,
        readout: str = defaults.READOUT,
        link_loss: bool = defaults.LINK_LOSS,
        entropy_loss: bool = defaults.ENTROPY_LOSS,
        adaptive_clusters: bool = defaults.ADAPTIVE_CLUSTERS,
    ) -> None:
        super().__init__()
        if pool_levels < 1:
            raise ValueError(f"pool_levels must be >= 1, got {pool_levels}")
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"assignment ratio must be in (0, 1], got {ratio}")
        if max_num_nodes < 1:
            raise ValueError(f"max_num_nodes must be >= 1, got {max_num_nodes}")
        check_readout(readout)
        self.readout, self.use_link_loss, self.use_entropy_loss = readout, link_loss, entropy_loss
        per_graph_ratio = ratio if adaptive_clusters else None

        self.num_clusters = level_cluster_counts(max_num_nodes, ratio, pool_levels)

        gnn_args = dict(num_layers=gnn_layers, conv=conv, batch_norm=batch_norm, dropout=dropout)
        self.first_pool = DiffPool(
            in_feats, hidden_feats, self.num_clusters[0], ratio=per_graph_ratio, **gnn_args
        )
        feats = self.first_pool.out_feats
        self.dense_pools = nn.ModuleList()
        for k in self.num_clusters[1:]:
            self.dense_pools.append(DenseDiffPool(feats, hidden_feats, k, ratio=per_graph_ratio, **gnn_args))
        self.last_embed = DenseGNN(feats, hidden_feats, **gnn_args)
        readout_feats = feats * (pool_levels + 1)
        self.head = MLPHead(readout_feats, mlp_hidden, num_classes, dropout)

    def reset_parameters(self) -> None:
        self.first_pool.reset_parameters()
        for pool in self.dense_pools:
            pool.reset_parameters()
        self.last_embed.reset_parameters()
        self.head.reset_parameters()

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> ClassifierOutput:
        z, pooled = self.first_pool(graph, feat, edge_weight, edge_feat)
        readouts = [sparse_readout(graph, z, self.readout)]
        link, entropy = pooled.link_loss, pooled.entropy_loss
        for pool in self.dense_pools:
            z, nxt = pool(pooled.x, pooled.adj, pooled.mask)
            readouts.append(dense_readout(z, pooled.mask, self.readout))
            link, entropy = link + nxt.link_loss, entropy + nxt.entropy_loss
            pooled = nxt
        z = self.last_embed(pooled.x, pooled.adj, pooled.mask)
        readouts.append(dense_readout(z, pooled.mask, self.readout))
        logits = self.head(torch.cat(readouts, dim=-1))
        aux = logits.new_zeros(())
        if self.use_link_loss:
            aux = aux + link
        if self.use_entropy_loss:
            aux = aux + entropy
        return ClassifierOutput(logits, link, entropy, aux)

    @torch.no_grad()
    def coarsen(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> list[CoarsenedLevel]:
        """The assignments and coarsened graphs of every pooling level, as :meth:`forward`
        computes them (call in eval mode for batch-independent results)."""
        assign = self.first_pool.assignment(graph, feat, edge_weight, edge_feat)
        _, pooled = self.first_pool(graph, feat, edge_weight, edge_feat)
        levels = [CoarsenedLevel(assign, _dense(pooled.adj), pooled.mask)]
        for pool in self.dense_pools:
            assign = pool.assignment(pooled.x, pooled.adj, pooled.mask)
            _, pooled = pool(pooled.x, pooled.adj, pooled.mask)
            levels.append(CoarsenedLevel(assign, _dense(pooled.adj), pooled.mask))
        return levels


def level_cluster_counts(max_num_nodes: int, ratio: float, pool_levels: int) -> list[int]:
    r"""Clusters of each pooling level: :math:`K_0 = \lceil r n_{max} \rceil`, :math:`K_{l+1} = \lceil r K_l \rceil`."""
    counts, k = [], max_num_nodes
    for _ in range(pool_levels):
        k = max(1, math.ceil(ratio * k))
        counts.append(k)
    return counts


def max_pool_levels(max_num_nodes: int, ratio: float) -> Optional[int]:
    """The most pooling levels that each still coarsen something: after them even the largest
    graph is one cluster, and a level whose every graph already has one cluster adds nothing.
    ``None`` if the counts stop shrinking above one cluster (``ratio`` near 1), so any number works."""
    levels, k = 0, max_num_nodes
    while k > 1:
        smaller = max(1, math.ceil(ratio * k))
        if smaller == k:
            return None
        k, levels = smaller, levels + 1
    return max(levels, 1)


def _dense(adj) -> Tensor:
    return adj if isinstance(adj, Tensor) else adj.to_dense()
