r"""The coarsened adjacency :math:`A' = S^\top A S`, kept as its factors where that is cheaper.

With a fixed cluster count :math:`K` (the paper's setting: :math:`K = 0.25\,n_{max}`
of the whole dataset), most graphs have fewer nodes than clusters: on D&D, 1,437
clusters for graphs of 30 to 5,748 nodes. For such a graph :math:`A'_b` is a
:math:`K \times K` matrix of rank at most :math:`n_b`. Forming it costs
:math:`O(n_b K^2)` and every product with it :math:`O(K^2)`; kept as :math:`S_b` and the
sparse :math:`A_b`, a product :math:`A'^\top H = S^\top (A^\top (S H))` costs
:math:`O(n_b K F + E_b F)`.

Dense levels never look inside an adjacency; they call the functions of this
module (:func:`propagate`, :func:`in_degree`, :func:`out_degree`, :func:`coarsen`,
:func:`square_norm`, :func:`mask_adjacency`), which take either a padded ``(B, K, K)``
tensor or a :class:`LowRankAdjacency`. Products are computed in the dtype of their
argument (the link loss coarsens in float64) and :func:`square_norm` is float64.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import dgl
import torch
from torch import Tensor


def in_neighbour_sum(graph: dgl.DGLGraph, feat: Tensor, weights: Optional[Tensor] = None) -> Tensor:
    r""":math:`A^\top X` by message passing: row :math:`v` is :math:`\sum_{u \to v} w_{uv} x_u`."""
    with graph.local_scope():
        graph.srcdata["_x"] = feat
        if weights is None:
            graph.update_all(dgl.function.copy_u("_x", "_m"), dgl.function.sum("_m", "_y"))
        else:
            graph.edata["_w"] = weights.reshape(-1, *([1] * (feat.dim() - 1)))
            graph.update_all(dgl.function.u_mul_e("_x", "_w", "_m"), dgl.function.sum("_m", "_y"))
        return graph.dstdata["_y"]


class LowRankAdjacency:
    r"""Coarsened adjacencies :math:`A'_b = S_b^\top A_b S_b` of a batch, factored per graph.

    Graphs marked ``factored`` keep :math:`S_b` (:math:`n_b \times K`) and the sparse
    :math:`A_b` of the DGL batch; the others keep an explicit :math:`K \times K` block.
    Built by :func:`~dgl_diffpool.nn.sparse_diff_pool` with ``factorize=True``; it
    stands in for the ``(B, K, K)`` tensor wherever the dense levels use one.

    Parameters
    ----------
    graph : dgl.DGLGraph
        The level-0 batch (:math:`N` nodes, :math:`B` graphs).
    weights : Tensor, optional
        Edge weights :math:`(E,)`; unweighted if ``None``.
    assign : Tensor
        The assignment :math:`S`, shape :math:`(N, K)`, rows summing to 1.
    at_assign : Tensor
        :math:`A^\top S`, shape :math:`(N, K)`.
    factored : sequence of bool
        Per graph: keep the factors (``True``) or an explicit block.
    blocks : dict of int to Tensor
        The explicit :math:`K \times K` blocks of the graphs not factored.
    square_norm : Tensor
        :math:`\lVert A'_b \rVert_F^2` in float64, shape :math:`(B,)` (computed by the pooling,
        which needs the same products for its link loss).
    """

    def __init__(
        self,
        graph: dgl.DGLGraph,
        weights: Optional[Tensor],
        assign: Tensor,
        at_assign: Tensor,
        factored: Sequence[bool],
        blocks: dict[int, Tensor],
        square_norm: Tensor,
    ) -> None:
        self.graph, self.weights = graph, weights
        self.sizes = graph.batch_num_nodes().tolist()
        self.factored = list(factored)
        self._s = assign.split(self.sizes)
        self._ats = at_assign.split(self.sizes)
        self.blocks = blocks
        self.sq_norm = square_norm
        batch, k = len(self.sizes), assign.shape[1]
        self.shape = (batch, k, k)

        # Degrees of A' from those of A, because the rows of S sum to 1:
        # 1^T A' = (A^T 1)^T S and A' 1 = S^T (A 1).
        src, dst = graph.edges()
        w = torch.ones(src.numel(), dtype=assign.dtype, device=assign.device) if weights is None else weights
        n = graph.num_nodes()
        d_in = torch.zeros(n, dtype=assign.dtype, device=assign.device).index_add(0, dst, w)
        d_out = torch.zeros(n, dtype=assign.dtype, device=assign.device).index_add(0, src, w)
        graph_id = torch.repeat_interleave(
            torch.arange(batch, device=assign.device), graph.batch_num_nodes().to(assign.device)
        )
        zeros = assign.new_zeros(batch, k)
        self._in_deg = zeros.index_add(0, graph_id, assign * d_in.unsqueeze(-1))
        self._out_deg = zeros.index_add(0, graph_id, assign * d_out.unsqueeze(-1))

    def _factored_product(self, right: Tensor) -> list[Tensor]:
        """Per graph, ``(S_b right_b, A_b^T S_b right_b)`` in ``right``'s dtype (zeros for graphs not factored)."""
        left = [s.to(right.dtype) @ right[b] if f else right.new_zeros(s.shape[0], right.shape[-1])
                for b, (s, f) in enumerate(zip(self._s, self.factored))]
        stacked = torch.cat(left)
        weights = None if self.weights is None else self.weights.to(right.dtype)
        moved = in_neighbour_sum(self.graph, stacked, weights).split(self.sizes)
        return list(zip(left, moved))

    def propagate(self, h: Tensor) -> Tensor:
        r""":math:`A'^\top_b H_b` per graph: :math:`(B, K, F) \to (B, K, F)`."""
        products = self._factored_product(h)
        out = [
            self._s[b].to(h.dtype).T @ products[b][1] if f else self.blocks[b].to(h.dtype).T @ h[b]
            for b, f in enumerate(self.factored)
        ]
        return torch.stack(out)

    def coarsen(self, assign: Tensor) -> Tensor:
        r""":math:`S'^\top_b A'_b S'_b` for a next-level assignment :math:`(B, K, K')`.

        Factored graphs compose the assignments, :math:`T = S_b S'_b`, and pool the
        original sparse graph: :math:`T^\top A_b T`.
        """
        products = self._factored_product(assign)
        out = [
            products[b][1].T @ products[b][0] if f else assign[b].T @ self.blocks[b].to(assign.dtype) @ assign[b]
            for b, f in enumerate(self.factored)
        ]
        return torch.stack(out)

    def in_degree(self) -> Tensor:
        r""":math:`\sum_u A'_{b,uv}`, shape :math:`(B, K)`."""
        return self._in_deg

    def out_degree(self) -> Tensor:
        r""":math:`\sum_v A'_{b,uv}`, shape :math:`(B, K)`."""
        return self._out_deg

    def square_norm(self) -> Tensor:
        r""":math:`\lVert A'_b \rVert_F^2` in float64, shape :math:`(B,)`."""
        return self.sq_norm

    def to_dense(self) -> Tensor:
        """The explicit ``(B, K, K)`` tensor (for inspection and tests)."""
        return torch.stack([
            self._ats[b].T @ self._s[b] if f else self.blocks[b] for b, f in enumerate(self.factored)
        ])


Adjacency = Union[Tensor, LowRankAdjacency]


def propagate(adj: Adjacency, h: Tensor) -> Tensor:
    r""":math:`A_b^\top H_b` (row :math:`v` sums :math:`A_{uv} h_u`): :math:`(B, N, F) \to (B, N, F)`."""
    if isinstance(adj, LowRankAdjacency):
        return adj.propagate(h)
    return torch.bmm(adj.to(h.dtype).transpose(1, 2), h)


def in_degree(adj: Adjacency) -> Tensor:
    r"""Weighted in-degrees :math:`\sum_u A_{uv}`, shape :math:`(B, N)`."""
    return adj.in_degree() if isinstance(adj, LowRankAdjacency) else adj.sum(-2)


def out_degree(adj: Adjacency) -> Tensor:
    r"""Weighted out-degrees :math:`\sum_v A_{uv}`, shape :math:`(B, N)`."""
    return adj.out_degree() if isinstance(adj, LowRankAdjacency) else adj.sum(-1)


def coarsen(adj: Adjacency, assign: Tensor) -> Tensor:
    r""":math:`S_b^\top A_b S_b` for an assignment :math:`(B, N, K)`: :math:`(B, K, K)`."""
    if isinstance(adj, LowRankAdjacency):
        return adj.coarsen(assign)
    return torch.bmm(torch.bmm(assign.transpose(1, 2), adj.to(assign.dtype)), assign)


def square_norm(adj: Adjacency) -> Tensor:
    r""":math:`\lVert A_b \rVert_F^2` in float64 (a term of the link loss), shape :math:`(B,)`."""
    return adj.square_norm() if isinstance(adj, LowRankAdjacency) else adj.double().pow(2).sum((-2, -1))


def mask_adjacency(adj: Adjacency, mask: Tensor) -> Adjacency:
    r"""``adj`` with the rows and columns of padded nodes (``mask`` false, :math:`(B, N)`) zeroed.

    A :class:`LowRankAdjacency` is returned as it is: with ``mask`` its cluster mask, its
    padded clusters are exactly zero already.
    """
    if isinstance(adj, LowRankAdjacency):
        return adj
    node = mask.to(adj.dtype)
    return adj * node.unsqueeze(-1) * node.unsqueeze(-2)


__all__ = [
    "Adjacency",
    "LowRankAdjacency",
    "coarsen",
    "in_degree",
    "in_neighbour_sum",
    "mask_adjacency",
    "out_degree",
    "propagate",
    "square_norm",
]
