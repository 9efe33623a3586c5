"""Pooling by a fixed hard clustering (DiffPool-Det): sums inside and between clusters."""
from __future__ import annotations

from typing import Optional

import dgl
import torch
from torch import Tensor


def cluster_pool(
    graph: dgl.DGLGraph, x: Tensor, cluster: Tensor, edge_weight: Optional[Tensor] = None
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Pool a batched graph by hard cluster ids: :math:`X' = S^\top X`, :math:`A' = S^\top A S`
    for the one-hot :math:`S` of ``cluster``, computed by scatter-adds.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A batch of :math:`B` graphs, :math:`N` nodes.
    x : Tensor
        Node features :math:`(N, D)`.
    cluster : Tensor
        Integer cluster id of each node within its graph, :math:`(N,)`; graph :math:`b`
        uses ids :math:`0..k_b-1`.
    edge_weight : Tensor, optional
        Edge weights :math:`(E,)`.

    Returns
    -------
    x : Tensor
        :math:`(B, K, D)`, row :math:`c` the sum of the features of cluster :math:`c`.
    adj : Tensor
        :math:`(B, K, K)`, entry :math:`(c, c')` the summed weight of the edges from
        cluster :math:`c` to :math:`c'` (inside a cluster on the diagonal).
    mask : Tensor
        :math:`(B, K)`, the clusters that exist (:math:`K = \max_b k_b`).
    """
    n = graph.num_nodes()
    if x.dim() != 2 or x.shape[0] != n or cluster.shape != (n,):
        raise ValueError(f"x must be (num_nodes={n}, D) and cluster (num_nodes,), got {tuple(x.shape)} and "
                         f"{tuple(cluster.shape)}")
    batch, device = graph.batch_size, x.device
    node_graph = torch.repeat_interleave(torch.arange(batch, device=device), graph.batch_num_nodes())
    counts = torch.zeros(batch, dtype=torch.long, device=device).scatter_reduce(
        0, node_graph, cluster + 1, reduce="amax")
    k = max(int(counts.max()) if batch else 1, 1)
    pooled_x = x.new_zeros(batch, k, x.shape[1]).index_put((node_graph, cluster), x, accumulate=True)
    src, dst = graph.edges()
    w = x.new_ones(src.numel()) if edge_weight is None else edge_weight.reshape(-1).to(x.dtype)
    pooled_adj = x.new_zeros(batch, k, k).index_put(
        (node_graph[src], cluster[src], cluster[dst]), w, accumulate=True)
    mask = torch.arange(k, device=device) < counts.unsqueeze(-1)
    return pooled_x, pooled_adj, mask


def dense_cluster_pool(
    x: Tensor, adj: Tensor, assign: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Pool a padded batch by a hard assignment :math:`(B, N, K)` (one-hot rows, zero rows at
    padded nodes): :math:`X' = S^\top X`, :math:`A' = S^\top A S`, and the mask of the
    clusters that receive a real node."""
    node = mask.unsqueeze(-1).to(x.dtype)
    assign = assign.to(x.dtype) * node
    s_t = assign.transpose(1, 2)
    return torch.bmm(s_t, x * node), torch.bmm(torch.bmm(s_t, adj), assign), assign.sum(1) > 0


__all__ = ["cluster_pool", "dense_cluster_pool"]
