"""DiffPool coarsening maths as pure functions.

``sparse_diff_pool`` pools a batched :class:`dgl.DGLGraph` (level 0) by message
passing and never builds an ``n x n`` matrix; ``dense_diff_pool`` pools padded
dense batches (later levels). Both return their auxiliary losses, in the shape
of PyG's ``dense_diff_pool``, plus the mask of the clusters that exist.

Loss conventions (shared by both functions):

* link-prediction loss: :math:`\\frac{1}{B}\\sum_b \\lVert A_b - S_b S_b^\\top
  \\rVert_F / n_b^2`, so its scale does not depend on batch size or padding;
* entropy loss: the mean over real nodes of :math:`-\\sum_k S_{ik} \\log S_{ik}`.

Both are returned in the dtype of the inputs but computed in float64 (see ``_link_loss``).

For a batch holding one graph both equal PyG's ``dense_diff_pool``.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import dgl
import torch
from torch import Tensor

from .low_rank import Adjacency, LowRankAdjacency, coarsen, in_neighbour_sum, mask_adjacency, square_norm


class PoolOutput(NamedTuple):
    """Result of one DiffPool coarsening step.

    Attributes
    ----------
    x : Tensor
        Pooled cluster features, shape :math:`(B, K, D)`.
    adj : Tensor
        Coarsened adjacency :math:`S^\\top A S`, shape :math:`(B, K, K)`.
    mask : Tensor
        Boolean, shape :math:`(B, K)`: which clusters exist in each graph.
    link_loss : Tensor
        Scalar link-prediction loss.
    entropy_loss : Tensor
        Scalar assignment-entropy loss.
    """

    x: Tensor
    adj: Tensor
    mask: Tensor
    link_loss: Tensor
    entropy_loss: Tensor


def cluster_counts(num_nodes: Tensor, ratio: float) -> Tensor:
    """Per-graph cluster counts :math:`k_b = \\max(1, \\lceil r\\, n_b \\rceil)`.

    Parameters
    ----------
    num_nodes : Tensor
        Integer tensor of shape :math:`(B,)` with the node count of each graph.
    ratio : float
        Assignment ratio :math:`r \\in (0, 1]`.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"assignment ratio must be in (0, 1], got {ratio}")
    # Rounded before the ceil so that e.g. 0.25 * 40 stays exactly 10.
    k = torch.ceil(torch.round(num_nodes.double() * ratio, decimals=6))
    return k.clamp_min(1).long()


def cluster_mask_from_counts(counts: Tensor, num_clusters: Optional[int] = None) -> Tensor:
    """Boolean mask of shape :math:`(B, K)` that is true for clusters ``k < counts[b]``."""
    if num_clusters is None:
        num_clusters = int(counts.max()) if counts.numel() else 1
    return torch.arange(num_clusters, device=counts.device) < counts.unsqueeze(-1)


def _masked_softmax(logits: Tensor, cluster_mask: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """Row softmax and its log over the allowed clusters, in float64; masked entries are exactly 0.

    float64 because near a hard assignment the softmax's backward, s_k (g_k - <s, g>),
    cancels: in float32 the link loss's gradient is off by 2e-3 (two cliques, logits +-5).
    """
    logits = logits.double()
    if cluster_mask is not None:
        logits = logits.masked_fill(~cluster_mask, float("-inf"))
    s = torch.softmax(logits, dim=-1)
    log_s = torch.log_softmax(logits, dim=-1)
    if cluster_mask is not None:
        log_s = log_s.masked_fill(~cluster_mask, 0.0)
    return s, log_s


def _safe_sqrt(sq: Tensor) -> Tensor:
    """sqrt of a clamped square norm with a zero (not NaN) gradient at 0."""
    sq = sq.clamp_min(0.0)
    positive = sq > 0
    return torch.where(positive, sq.clamp_min(torch.finfo(sq.dtype).tiny).sqrt(), torch.zeros_like(sq))


def _link_loss(sq_norm_a: Tensor, trace: Tensor, sts_sq: Tensor, num_nodes: Tensor, dtype: torch.dtype) -> Tensor:
    """Mean over graphs of ||A_b - S_b S_b^T||_F / n_b^2 from the trace identity, cast to ``dtype``.

    ``||A - S S^T||^2 = ||A||^2 - 2 tr(S^T A S) + ||S^T S||^2``; the caller supplies
    the three terms per graph, shape (B,), so no n x n product is needed. They must be
    float64, computed from the very S (in the input dtype) and A the pooling uses: when
    S fits A they are of the size of ||A||^2 and their sum is not (two cliques, logits
    +-5: 7e-8 against 5), so in float32 the loss and its gradient would be 0. (The
    sparse level forms ||S^T S||^2 in float32 where they do not cancel: see ``_cancels``.)
    """
    sq = sq_norm_a - 2.0 * trace + sts_sq
    n2 = num_nodes.clamp_min(1).to(sq.dtype).pow(2)
    return (_safe_sqrt(sq) / n2).mean().to(dtype)


class _GramSquareNorm(torch.autograd.Function):
    """||S_b^T S_b||_F^2 per graph of a padded (B, n, K) assignment, with the gradient
    4 S (S^T S) as one product: autograd would form it twice, once per factor of S^T S, and
    on D&D's largest graph (n = 5,748, K = 1,437) each is an n K^2 product."""

    @staticmethod
    def forward(ctx, s: Tensor) -> Tensor:
        gram = torch.bmm(s.transpose(1, 2), s)
        ctx.save_for_backward(s, gram)
        return gram.pow(2).sum((-2, -1))

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        s, gram = ctx.saved_tensors
        return torch.bmm(s, gram) * (4.0 * grad).view(-1, 1, 1)


CANCELLATION = 1e-3


def _cancels(sq_norm_a: Tensor, trace: Tensor, sts_sq: Tensor) -> Tensor:
    """Per graph, whether ||A||^2 - 2 tr(S^T A S) + ||S^T S||^2 is below ``CANCELLATION`` times
    its terms: then a float32 ||S^T S||^2 (relative error about 1e-6) would decide its value.
    Otherwise the error it adds is under 1e-3 of the sum (rarely near it: in training on TU
    data the sum exceeds ||A||^2), and the product costs half of float64's."""
    return (sq_norm_a - 2.0 * trace + sts_sq).abs() < CANCELLATION * (sq_norm_a + sts_sq)


def _gram_square_norm(s: Tensor) -> Tensor:
    """||S_b^T S_b||_F^2 per graph of a padded (B, n, K) assignment."""
    return _GramSquareNorm.apply(s)


def _entropy_loss(s: Tensor, log_s: Tensor, num_real_nodes: int) -> Tensor:
    ent = -(s * log_s).sum()
    return ent / max(num_real_nodes, 1)


def sparse_diff_pool(
    graph: dgl.DGLGraph,
    x: Tensor,
    s: Tensor,
    edge_weight: Optional[str] = None,
    cluster_mask: Optional[Tensor] = None,
    factorize: bool = False,
) -> PoolOutput:
    r"""Level-0 DiffPool of a batched graph, without any :math:`n \times n` matrix.

    For each graph :math:`b` of the batch, with :math:`S_b = \mathrm{softmax}(s_b)`
    taken row-wise,

    .. math::
        X'_b = S_b^\top X_b, \qquad A'_b = S_b^\top A_b S_b .

    :math:`A_b S_b` is computed by message passing (DGL's SpMM kernels), the
    per-graph products by one padded batched matmul whose padding is linear in
    the largest graph of the batch. The link-prediction loss uses
    :math:`\lVert A - SS^\top\rVert_F^2 = \lVert A\rVert_F^2 - 2\,\mathrm{tr}(S^\top A S)
    + \lVert S^\top S\rVert_F^2`.

    The adjacency follows PyG's ``to_dense_adj``: :math:`A_{uv}` is the (summed)
    weight of the edges :math:`u \to v`; duplicate edges add up.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A (batched) homogeneous graph with :math:`N` nodes in :math:`B` graphs.
    x : Tensor
        Node embeddings, shape :math:`(N, D)`.
    s : Tensor
        Assignment *logits*, shape :math:`(N, K)`; the softmax is applied here.
    edge_weight : str, optional
        Key in ``graph.edata`` of scalar edge weights, shape :math:`(E,)` or
        :math:`(E, 1)`. Unweighted if ``None``.
    cluster_mask : Tensor, optional
        Boolean, shape :math:`(B, K)`: the clusters graph :math:`b` may use
        (per-graph cluster counts, see :func:`cluster_mask_from_counts`).
        Every graph needs at least one allowed cluster. All clusters if ``None``.
    factorize : bool
        Keep :math:`A'_b` as its factors for every graph with fewer nodes than
        allowed clusters (rank :math:`n_b < k_b`); ``adj`` is then a
        :class:`~dgl_diffpool.nn.LowRankAdjacency`, which the dense layers accept
        in place of the tensor. Those graphs' link losses use
        :math:`\lVert S^\top S\rVert_F = \lVert S S^\top\rVert_F` (:math:`n_b \times n_b`).
        If no graph qualifies, ``adj`` stays a tensor.

    Returns
    -------
    PoolOutput
        ``x`` :math:`(B, K, D)`, ``adj`` :math:`(B, K, K)` (a tensor, or a
        :class:`~dgl_diffpool.nn.LowRankAdjacency` with ``factorize``), ``mask``
        :math:`(B, K)`, ``link_loss`` and ``entropy_loss`` (scalars).
    """
    n_total = graph.num_nodes()
    if x.dim() != 2 or x.shape[0] != n_total:
        raise ValueError(f"x must have shape (num_nodes={n_total}, D), got {tuple(x.shape)}")
    if s.dim() != 2 or s.shape[0] != n_total:
        raise ValueError(f"s must have shape (num_nodes={n_total}, K), got {tuple(s.shape)}")
    num_nodes = graph.batch_num_nodes()
    batch_size, k = num_nodes.numel(), s.shape[1]
    if cluster_mask is not None and cluster_mask.shape != (batch_size, k):
        raise ValueError(
            f"cluster_mask must have shape (batch_size={batch_size}, K={k}), got {tuple(cluster_mask.shape)}"
        )

    device = x.device
    graph_id = torch.repeat_interleave(torch.arange(batch_size, device=device), num_nodes)
    offsets = torch.cumsum(num_nodes, 0) - num_nodes
    position = torch.arange(n_total, device=device) - offsets[graph_id]

    node_cluster_mask = None if cluster_mask is None else cluster_mask[graph_id]
    prob, log_prob = _masked_softmax(s, node_cluster_mask)
    assign = prob.to(s.dtype)
    entropy = _entropy_loss(prob, log_prob, n_total).to(s.dtype)

    weights = None
    if edge_weight is not None:
        weights = graph.edata[edge_weight].reshape(-1).to(assign.dtype)
    # The link loss's terms in float64, from the S and weights the pooling uses.
    assign64 = assign.double()
    weights64 = None if weights is None else weights.double()
    # at_s[v] = sum_{u->v} w_uv S_u, i.e. A^T S.
    at_s64 = in_neighbour_sum(graph, assign64, weights64)
    sq_norm_a = _edge_square_norms(graph, weights64)
    # tr(S^T A S) = sum_v <S_v, (A^T S)_v>
    trace = assign64.new_zeros(batch_size).index_add(0, graph_id, (assign64 * at_s64).sum(-1))
    mask = (
        cluster_mask
        if cluster_mask is not None
        else torch.ones(batch_size, k, dtype=torch.bool, device=device)
    )

    factored = None
    if factorize:
        counts = mask.sum(-1)
        factored = (num_nodes.to(counts.device) < counts).tolist()
    if factored is not None and any(factored):
        pooled_x, pooled_adj, sts_sq = _pool_factored(graph, weights, x, assign, at_s64, factored)
    else:
        n_max = int(num_nodes.max()) if batch_size else 0
        index = (graph_id, position)

        def pad(t: Tensor) -> Tensor:
            if batch_size == 1:  # nothing to pad: D&D's largest graphs come alone
                return t.unsqueeze(0)
            return t.new_zeros(batch_size, n_max, t.shape[1]).index_put(index, t)

        s_pad = pad(assign)
        pooled_x = torch.bmm(s_pad.transpose(1, 2), pad(x))
        # (A^T S)^T S = S^T A S
        pooled_adj = torch.bmm(pad(at_s64.to(assign.dtype)).transpose(1, 2), s_pad)
        # The Gram matrix is the n K^2 product: in the input dtype unless the terms cancel.
        sts_sq = _gram_square_norm(s_pad).double()
        if assign.dtype != torch.float64 and _cancels(sq_norm_a, trace, sts_sq).any():
            sts_sq = _gram_square_norm(pad(assign64))

    link = _link_loss(sq_norm_a, trace, sts_sq, num_nodes, s.dtype)
    return PoolOutput(pooled_x, pooled_adj, mask, link, entropy)


def _pool_factored(
    graph: dgl.DGLGraph,
    weights: Optional[Tensor],
    x: Tensor,
    assign: Tensor,
    at_s64: Tensor,
    factored: list[bool],
) -> tuple[Tensor, LowRankAdjacency, Tensor]:
    """Graph-by-graph pooling that keeps A'_b factored where n_b < k_b (no padding to n_max).

    Returns S^T X, the adjacency and ||S_b^T S_b||_F^2 per graph (float64). For a
    factored graph the n_b x n_b Gram matrix G = S S^T gives both ||S^T S||^2 = ||G||^2
    and ||S^T A S||^2 = <(A^T S)(A^T S)^T, G>; the others form their K x K block. The
    square norms are float64 (the next level's link loss) and, like the products the
    adjacency computes in float64, come from the float32 S it keeps.
    """
    sizes = graph.batch_num_nodes().tolist()
    at_s = at_s64.to(assign.dtype)
    parts = zip(assign.split(sizes), at_s.split(sizes), at_s64.split(sizes), x.split(sizes))
    pooled_x, sts_sq, adj_sq, blocks = [], [], [], {}
    for b, (s, ats, ats64, xb) in enumerate(parts):
        pooled_x.append(s.T @ xb)
        s64 = s.double()
        if factored[b]:
            gram = s64 @ s64.T
            sts_sq.append(gram.pow(2).sum())
            adj_sq.append(((ats64 @ ats64.T) * gram).sum())
        else:
            blocks[b] = ats.T @ s
            sts_sq.append((s64.T @ s64).pow(2).sum())
            adj_sq.append(blocks[b].double().pow(2).sum())
    adj = LowRankAdjacency(graph, weights, assign, at_s, factored, blocks, torch.stack(adj_sq))
    return torch.stack(pooled_x), adj, torch.stack(sts_sq)


def _edge_square_norms(graph: dgl.DGLGraph, weights64: Optional[Tensor]) -> Tensor:
    """||A_b||_F^2 per graph in float64, with duplicate edges summed as in a dense adjacency."""
    batch_size = graph.batch_size
    src, dst = graph.edges()
    num_edges = graph.batch_num_edges()
    dtype = torch.float64
    out = torch.zeros(batch_size, dtype=dtype, device=src.device)
    if src.numel() == 0:
        return out
    edge_graph = torch.repeat_interleave(torch.arange(batch_size, device=src.device), num_edges)
    w = torch.ones(src.numel(), dtype=dtype, device=src.device) if weights64 is None else weights64
    key = src * graph.num_nodes() + dst
    unique_key, inverse = torch.unique(key, return_inverse=True)
    if unique_key.numel() == key.numel():
        return out.index_add(0, edge_graph, w.pow(2))
    summed = torch.zeros(unique_key.numel(), dtype=dtype, device=src.device).index_add(0, inverse, w)
    pair_graph = torch.zeros(unique_key.numel(), dtype=torch.long, device=src.device).scatter(
        0, inverse, edge_graph
    )
    return out.index_add(0, pair_graph, summed.pow(2))


def dense_diff_pool(
    x: Tensor,
    adj: Adjacency,
    s: Tensor,
    mask: Optional[Tensor] = None,
    cluster_mask: Optional[Tensor] = None,
) -> PoolOutput:
    r"""DiffPool of a padded dense batch (levels after the first).

    .. math::
        S_b = \mathrm{softmax}(s_b) \odot m_b, \quad X'_b = S_b^\top X_b, \quad
        A'_b = S_b^\top A_b S_b,

    where :math:`m_b` zeroes the rows of padded nodes and the softmax runs over the
    allowed clusters only.

    Parameters
    ----------
    x : Tensor
        Node features, shape :math:`(B, N, D)` (or :math:`(N, D)` for one graph).
    adj : Tensor or LowRankAdjacency
        Adjacency, shape :math:`(B, N, N)`, or the factored output of
        :func:`sparse_diff_pool`.
    s : Tensor
        Assignment logits, shape :math:`(B, N, K)`.
    mask : Tensor, optional
        Boolean, shape :math:`(B, N)`: the real nodes. All nodes if ``None``.
        Rows and columns of ``adj`` at padded nodes are ignored.
    cluster_mask : Tensor, optional
        Boolean, shape :math:`(B, K)`: the clusters each graph may use.

    Returns
    -------
    PoolOutput
        As :func:`sparse_diff_pool`. Losses follow the conventions of this module:
        the link loss of graph :math:`b` is normalised by its own :math:`n_b^2`
        and the entropy is averaged over real nodes only.
    """
    if x.dim() == 2 and not isinstance(adj, LowRankAdjacency):
        x, adj, s = x.unsqueeze(0), adj.unsqueeze(0), s.unsqueeze(0)
        mask = None if mask is None else mask.unsqueeze(0)
        cluster_mask = None if cluster_mask is None else cluster_mask.unsqueeze(0)
    batch_size, n, _ = x.shape
    k = s.shape[-1]
    if tuple(adj.shape) != (batch_size, n, n) or s.shape[:2] != (batch_size, n):
        raise ValueError(
            f"shapes disagree: x {tuple(x.shape)}, adj {tuple(adj.shape)}, s {tuple(s.shape)}"
        )
    if mask is None:
        mask = torch.ones(batch_size, n, dtype=torch.bool, device=x.device)
    if cluster_mask is None:
        cluster_mask = torch.ones(batch_size, k, dtype=torch.bool, device=x.device)

    node = mask.unsqueeze(-1)
    prob, log_prob = _masked_softmax(s, cluster_mask.unsqueeze(1))
    prob, log_prob = prob * node, log_prob * node
    assign = prob.to(x.dtype)
    x = x * node.to(x.dtype)
    adj = mask_adjacency(adj, mask)

    pooled_x = torch.bmm(assign.transpose(1, 2), x)
    # In float64, from the S the pooling uses: its trace is a term of the link loss.
    assign64 = assign.double()
    pooled_adj = coarsen(adj, assign64)

    num_nodes = mask.sum(-1)
    trace = torch.diagonal(pooled_adj, dim1=-2, dim2=-1).sum(-1)
    link = _link_loss(square_norm(adj), trace, _gram_square_norm(assign64), num_nodes, x.dtype)
    entropy = _entropy_loss(prob, log_prob, int(num_nodes.sum())).to(x.dtype)
    return PoolOutput(pooled_x, pooled_adj.to(x.dtype), cluster_mask, link, entropy)


__all__ = [
    "PoolOutput",
    "cluster_counts",
    "cluster_mask_from_counts",
    "sparse_diff_pool",
    "dense_diff_pool",
]
