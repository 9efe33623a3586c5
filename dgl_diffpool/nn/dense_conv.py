"""Batched dense graph convolutions for the coarsened levels (after the first pooling).

Every layer takes node features :math:`(B, N, F)`, a weighted adjacency
:math:`(B, N, N)` with :math:`A_{uv}` the weight of :math:`u \\to v` (the
convention of :func:`dgl_diffpool.nn.sparse_diff_pool`) or a
:class:`~dgl_diffpool.nn.LowRankAdjacency`, and a node mask
:math:`(B, N)`; it returns :math:`(B, N, F')` with padded rows set to zero.
They mirror ``dgl.nn.SAGEConv``, ``GraphConv`` and ``GINConv`` on a batch of
dense graphs.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .gnn import S2VConv
from .low_rank import Adjacency, in_degree, out_degree, propagate


def _zero_padding(h: Tensor, mask: Tensor) -> Tensor:
    return h * mask.unsqueeze(-1).to(h.dtype)


class DenseSAGEConv(nn.Module):
    r"""GraphSAGE with weighted-mean aggregation on dense batches.

    .. math::
        h_v' = W_{self} h_v + W_{neigh} \frac{\sum_u A_{uv} h_u}{\max(1, \sum_u A_{uv})}

    The degree is clamped at 1 like PyG's ``DenseSAGEConv``. As in DGL's
    ``SAGEConv``, :math:`W_{neigh}` is applied before aggregating when that
    shrinks the features.
    """

    def __init__(self, in_feats: int, out_feats: int) -> None:
        super().__init__()
        self.fc_self = nn.Linear(in_feats, out_feats)
        self.fc_neigh = nn.Linear(in_feats, out_feats, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = nn.init.calculate_gain("relu")
        nn.init.xavier_uniform_(self.fc_self.weight, gain=gain)
        nn.init.zeros_(self.fc_self.bias)
        nn.init.xavier_uniform_(self.fc_neigh.weight, gain=gain)

    def forward(self, x: Tensor, adj: Adjacency, mask: Tensor) -> Tensor:
        deg = in_degree(adj).clamp_min(1.0).unsqueeze(-1)
        if self.fc_neigh.in_features > self.fc_neigh.out_features:
            neigh = propagate(adj, self.fc_neigh(x)) / deg
        else:
            neigh = self.fc_neigh(propagate(adj, x) / deg)
        return _zero_padding(self.fc_self(x) + neigh, mask)


class DenseGCNConv(nn.Module):
    r"""GCN with self-loops and symmetric normalisation on dense batches.

    .. math::
        H' = \hat D^{-1/2} \hat A^\top \hat D^{-1/2} H W, \quad \hat A = A + I
    """

    def __init__(self, in_feats: int, out_feats: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_feats, out_feats)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor, adj: Adjacency, mask: Tensor) -> Tensor:
        node = mask.to(x.dtype)  # the self-loops of real nodes
        deg_in = (in_degree(adj) + node).clamp_min(1e-12).rsqrt()
        deg_out = (out_degree(adj) + node).clamp_min(1e-12).rsqrt()
        h = x * deg_out.unsqueeze(-1)
        h = (propagate(adj, h) + h * node.unsqueeze(-1)) * deg_in.unsqueeze(-1)
        return _zero_padding(self.linear(h), mask)


class DenseGINConv(nn.Module):
    r"""GIN with a learnt :math:`\epsilon` on dense batches.

    .. math::
        h_v' = \mathrm{MLP}\big((1 + \epsilon) h_v + \textstyle\sum_u A_{uv} h_u\big)
    """

    def __init__(self, in_feats: int, out_feats: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_feats, out_feats), nn.ReLU(), nn.Linear(out_feats, out_feats))
        self.eps = nn.Parameter(torch.zeros(1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        nn.init.zeros_(self.eps)

    def forward(self, x: Tensor, adj: Adjacency, mask: Tensor) -> Tensor:
        h = (1 + self.eps) * x + propagate(adj, x)
        return _zero_padding(self.mlp(h), mask)


class DenseS2VConv(S2VConv):
    r"""Structure2Vec mean-field iteration on dense batches (the parameters of
    :class:`~dgl_diffpool.nn.gnn.S2VConv`, dense aggregation).

    .. math::
        \mu_v' = W_x x_v + W_\mu \sum_u A_{uv} \mu_u

    ``forward(mu, adj, mask, x)`` takes the stack's input ``x`` as well; the first
    iteration (``first=True``) has no :math:`W_\mu`.
    """

    def forward(self, mu: Tensor, adj: Adjacency, mask: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        out = self.fc_x(x)
        if self.fc_mu is not None:
            out = out + propagate(adj, self.fc_mu(mu))
        return _zero_padding(out, mask)


# After pooling there are no edge features: GINE levels continue as GIN on the weighted A'.
DENSE_CONVS = {"sage": DenseSAGEConv, "gcn": DenseGCNConv, "gin": DenseGINConv, "gine": DenseGINConv}
