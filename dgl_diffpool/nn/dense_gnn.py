"""Dense batched GNN stack used after the first pooling level."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dense_conv import DENSE_CONVS, DenseS2VConv
from .gnn import check_stack
from .low_rank import Adjacency, mask_adjacency
from .norm import MaskedBatchNorm


class DenseGNN(nn.Module):
    r"""Dense counterpart of :class:`dgl_diffpool.nn.GNN` for padded batches.

    Parameters are those of :class:`~dgl_diffpool.nn.GNN`. Input: features
    :math:`(B, N, F)`, adjacency :math:`(B, N, N)` (or a
    :class:`~dgl_diffpool.nn.LowRankAdjacency`), node mask :math:`(B, N)`.
    Output: :math:`(B, N, L H)`, padded rows zero; the rows of ``x`` and the rows and
    columns of the adjacency at padded nodes are ignored.
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
        self.s2v = conv == "s2v"
        if self.s2v:
            self.convs = nn.ModuleList(DenseS2VConv(in_feats, hidden_feats, i == 0) for i in range(num_layers))
        else:
            layer = DENSE_CONVS[conv]
            self.convs = nn.ModuleList(
                layer(in_feats if i == 0 else hidden_feats, hidden_feats) for i in range(num_layers)
            )
        self.norms = nn.ModuleList(MaskedBatchNorm(hidden_feats) for _ in range(num_layers)) if batch_norm else None
        self.dropout = nn.Dropout(dropout)
        self.activation = activation
        self.out_feats = hidden_feats * num_layers
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()
        for norm in self.norms or ():
            norm.reset_parameters()

    def forward(self, x: Tensor, adj: Adjacency, mask: Tensor) -> Tensor:
        node = mask.unsqueeze(-1).to(x.dtype)
        # Through the aggregations and degrees, padded rows would reach real nodes.
        x, adj = x * node, mask_adjacency(adj, mask)
        h, outs = x, []
        for i, conv in enumerate(self.convs):
            h = self.activation(conv(h, adj, mask, x) if self.s2v else conv(h, adj, mask))
            if self.norms is not None:
                h = self.norms[i](h, mask)
            h = self.dropout(h) * node
            outs.append(h)
        return torch.cat(outs, dim=-1)
