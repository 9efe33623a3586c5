"""The reference users would otherwise pick: PyG's dense DiffPool with ``DenseSAGEConv``.

Each batch is padded to its largest graph with ``to_dense_batch`` / ``to_dense_adj``
(as in PyG's DiffPool example), then pooled by ``torch_geometric.nn.dense_diff_pool``.
Same shape as :class:`dgl_diffpool.models.DiffPoolClassifier`: per level an
embedding and an assignment GNN of ``layers`` SAGE layers with batch norm, layer
outputs concatenated, a GNN after the last pooling, max readouts of every level
concatenated into an MLP. Used by the benchmarks only.
"""
from __future__ import annotations

import math

import dgl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DenseSAGEConv, dense_diff_pool
from torch_geometric.utils import to_dense_adj, to_dense_batch


class DenseSAGEStack(nn.Module):
    def __init__(self, in_feats: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(DenseSAGEConv(in_feats if i == 0 else hidden, hidden) for i in range(layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.out_feats = hidden * layers

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor) -> Tensor:
        outs = []
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(conv(x, adj, mask))
            x = norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)
            outs.append(x)
        return torch.cat(outs, dim=-1)


class PyGDenseDiffPool(nn.Module):
    def __init__(self, in_feats: int, num_classes: int, max_num_nodes: int, pool_levels: int = 2,
                 ratio: float = 0.25, layers: int = 3, hidden: int = 64) -> None:
        super().__init__()
        clusters, k = [], max_num_nodes
        for _ in range(pool_levels):
            k = max(1, math.ceil(ratio * k))
            clusters.append(k)
        self.embeds, self.assigns, self.assign_outs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        feats = in_feats
        for k in clusters:
            self.embeds.append(DenseSAGEStack(feats, hidden, layers))
            self.assigns.append(DenseSAGEStack(feats, hidden, layers))
            self.assign_outs.append(nn.Linear(hidden * layers, k))
            feats = hidden * layers
        self.last = DenseSAGEStack(feats, hidden, layers)
        self.head = nn.Sequential(nn.Linear(feats * (pool_levels + 1), hidden), nn.ReLU(),
                                  nn.Linear(hidden, num_classes))

    def forward(self, graph: dgl.DGLGraph, feat: Tensor) -> tuple[Tensor, Tensor]:
        batch = torch.repeat_interleave(torch.arange(graph.batch_size), graph.batch_num_nodes())
        x, mask = to_dense_batch(feat, batch)
        adj = to_dense_adj(torch.stack(graph.edges()), batch)
        readouts, aux = [], x.new_zeros(())
        for embed, assign, assign_out in zip(self.embeds, self.assigns, self.assign_outs):
            z = embed(x, adj, mask)
            s = assign_out(assign(x, adj, mask))
            readouts.append(z.max(dim=1).values)
            x, adj, link, entropy = dense_diff_pool(z, adj, s, mask)
            mask = None
            aux = aux + link + entropy
        readouts.append(self.last(x, adj, None).max(dim=1).values)
        return self.head(torch.cat(readouts, dim=-1)), aux
