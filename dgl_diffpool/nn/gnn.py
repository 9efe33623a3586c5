"""Sparse message-passing GNN stack used at level 0 (embedding and assignment)."""
from __future__ import annotations

from typing import Callable, Optional

import dgl
import torch
import torch.nn.functional as F
from dgl.nn import GINConv, GINEConv, GraphConv, SAGEConv
from torch import Tensor, nn

from ..names import CONV_TYPES
from .low_rank import in_neighbour_sum
from .norm import NodeBatchNorm



def check_stack(conv: str, num_layers: int) -> None:
    """Raise ``ValueError`` for an unknown layer type or fewer than one layer."""
    if conv not in CONV_TYPES:
        raise ValueError(f"unknown GNN layer type {conv!r}; choose one of {', '.join(CONV_TYPES)}")
    if num_layers < 1:
        raise ValueError(f"a GNN needs at least one layer, got num_layers={num_layers}")


class S2VConv(nn.Module):
    r"""One Structure2Vec mean-field iteration (Dai, Dai and Song, 2016).

    .. math::
        \mu_v' = W_x x_v + W_\mu \sum_{u \to v} w_{uv} \mu_u

    :math:`x` is the stack's *input* features at every iteration; the first
    iteration has :math:`\mu = 0` (no :math:`W_\mu`). The stack applies the
    non-linearity. Weights are not shared between iterations (each is a layer).
    """

    def __init__(self, in_feats: int, out_feats: int, first: bool) -> None:
        super().__init__()
        self.fc_x = nn.Linear(in_feats, out_feats)
        self.fc_mu = None if first else nn.Linear(out_feats, out_feats, bias=False)

    def reset_parameters(self) -> None:
        self.fc_x.reset_parameters()
        if self.fc_mu is not None:
            self.fc_mu.reset_parameters()

    def forward(self, graph: dgl.DGLGraph, mu: Tensor, x: Tensor, edge_weight: Optional[Tensor] = None) -> Tensor:
        out = self.fc_x(x)
        if self.fc_mu is None:
            return out
        return out + in_neighbour_sum(graph, self.fc_mu(mu), edge_weight)


def _make_conv(conv: str, in_feats: int, out_feats: int) -> nn.Module:
    if conv == "sage":
        # fc_self keeps each node's own features (the self term).
        return SAGEConv(in_feats, out_feats, "mean")
    if conv == "gcn":
        return GraphConv(in_feats, out_feats, norm="both", allow_zero_in_degree=True)
    mlp = nn.Sequential(nn.Linear(in_feats, out_feats), nn.ReLU(), nn.Linear(out_feats, out_feats))
    if conv == "gine":
        return GINEConv(mlp, learn_eps=True)
    return GINConv(mlp, "sum", learn_eps=True)


def _reset_conv(conv: nn.Module) -> None:
    if isinstance(conv, (GINConv, GINEConv)):  # DGL's GIN convolutions have no reset_parameters
        for layer in conv.apply_func:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        with torch.no_grad():
            conv.eps.zero_()
    else:
        conv.reset_parameters()


class GNN(nn.Module):
    r"""A stack of DGL graph convolutions whose layer outputs are concatenated.

    .. math::
        h^{(l+1)} = \mathrm{dropout}(\mathrm{BN}(\sigma(\mathrm{conv}_l(G, h^{(l)})))),
        \qquad z = [h^{(1)} \Vert \dots \Vert h^{(L)}]

    ``conv`` is GraphSAGE-mean (``"sage"``, self term included), GCN on the graph
    with self-loops added (``"gcn"``), GIN with a learnt :math:`\epsilon` (``"gin"``),
    GINE (``"gine"``: GIN whose messages are :math:`\mathrm{ReLU}(h_u + e_{uv})`, with
    edge features :math:`e_{uv}` of the layer's input size, as OGB's GIN uses bond features),
    or Structure2Vec mean-field iterations (``"s2v"``, :class:`S2VConv`: every layer sees the
    stack's input again).

    Parameters
    ----------
    in_feats : int
        Input feature size :math:`F`.
    hidden_feats : int
        Output size :math:`H` of every layer.
    num_layers : int
        Number of layers :math:`L \ge 1`.
    conv : str
        ``"sage"``, ``"gcn"``, ``"gin"``, ``"gine"`` or ``"s2v"``.
    batch_norm : bool
        BatchNorm over the nodes of the batch after each layer (:class:`~dgl_diffpool.nn.NodeBatchNorm`).
    dropout : float
        Dropout probability after each layer.
    activation : callable
        Non-linearity :math:`\sigma`.

    Notes
    -----
    Input: a (batched) graph with :math:`N` nodes, features :math:`(N, F)`, optional
    edge weights :math:`(E,)` (``sage``, ``gcn``, ``gin``) or edge features
    :math:`(E, F)` (``gine``, required, and :math:`F = H`). Output: :math:`(N, L H)`,
    see :attr:`out_feats`.
    """

    def __init__(
        self,
        in_feats: int,
        hidden_feats: int,
        num_layers: int,
        conv: str = "sage",
        batch_norm: bool = True,
        dropout: float = 0.0,
        activation: Callable[[Tensor], Tensor] = F.relu,
    ) -> None:
        super().__init__()
        check_stack(conv, num_layers)
        if conv == "gine" and in_feats != hidden_feats:
            raise ValueError(f"gine layers share edge features of size hidden_feats={hidden_feats}: "
                             f"in_feats must equal it, got {in_feats}")
        self.conv_type = conv
        if conv == "s2v":
            self.convs = nn.ModuleList(S2VConv(in_feats, hidden_feats, i == 0) for i in range(num_layers))
        else:
            self.convs = nn.ModuleList(
                _make_conv(conv, in_feats if i == 0 else hidden_feats, hidden_feats) for i in range(num_layers)
            )
        self.norms = nn.ModuleList(
            NodeBatchNorm(hidden_feats) if batch_norm else nn.Identity() for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.activation = activation
        self.out_feats = hidden_feats * num_layers
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv, norm in zip(self.convs, self.norms):
            _reset_conv(conv)
            if isinstance(norm, nn.BatchNorm1d):
                norm.reset_parameters()

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> Tensor:
        if feat.dim() != 2 or feat.shape[0] != graph.num_nodes():
            raise ValueError(
                f"node features must have shape ({graph.num_nodes()}, F), got {tuple(feat.shape)}"
            )
        if self.conv_type == "gine":
            if edge_feat is None or edge_weight is not None:
                raise ValueError("gine layers take edge features (edge_feat) and no edge weights")
            edge_args = dict(edge_feat=edge_feat)
        else:
            if self.conv_type == "gcn":
                graph = dgl.add_self_loop(graph)
                if edge_weight is not None:
                    ones = edge_weight.new_ones(graph.num_edges() - edge_weight.shape[0])
                    edge_weight = torch.cat([edge_weight.reshape(-1), ones])
            edge_args = dict(edge_weight=edge_weight)
        h, outs = feat, []
        for conv, norm in zip(self.convs, self.norms):
            h = conv(graph, h, feat, **edge_args) if self.conv_type == "s2v" else conv(graph, h, **edge_args)
            h = self.dropout(norm(self.activation(h)))
            outs.append(h)
        return torch.cat(outs, dim=-1)
