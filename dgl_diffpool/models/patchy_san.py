"""PATCHY-SAN (Niepert, Ahmed and Kutzkov, 2016): a CNN over normalised receptive fields."""
from __future__ import annotations

from typing import Optional

import dgl
import torch
from torch import Tensor, nn

from .. import defaults
from ..data.patchy import FIELD_KEY, RANK_KEY
from .classifier_head import MLPHead
from .output import ClassifierOutput


class PatchySAN(nn.Module):
    r"""PATCHY-SAN graph classifier.

    The ``width`` best-ranked nodes of each graph (fewer: zero fields) each contribute
    their receptive field of ``field_size`` nodes, in the order of
    :func:`~dgl_diffpool.data.patchy.receptive_fields`; the :math:`(w \cdot k, F)` sequence
    of node features goes through a convolution with kernel and stride :math:`k` (one
    output per field), a second convolution over neighbouring fields, and an MLP.

    Parameters
    ----------
    in_feats, num_classes, hidden_feats, mlp_hidden, dropout
        As in :class:`~dgl_diffpool.models.FlatGNNClassifier`.
    width : int
        Number of receptive fields per graph (:math:`w`; the paper uses the average node count).
    field_size : int
        Nodes per receptive field (:math:`k`); must match the precomputed fields.

    Notes
    -----
    ``forward(graph, feat, ...)`` needs ``ndata["patchy_field"]`` :math:`(N, k)` and
    ``ndata["patchy_rank"]`` :math:`(N,)` (see :func:`~dgl_diffpool.data.patchy.attach_receptive_fields`).
    """

    def __init__(
        self,
        in_feats: int,
        num_classes: int,
        width: int = defaults.PATCHY_WIDTH,
        field_size: int = defaults.PATCHY_FIELD,
        hidden_feats: int = defaults.HIDDEN,
        mlp_hidden: int = defaults.MLP_HIDDEN,
        dropout: float = defaults.DROPOUT,
    ) -> None:
        super().__init__()
        if width < 1 or field_size < 1:
            raise ValueError(f"PATCHY-SAN needs width >= 1 and field size >= 1, got {width} and {field_size}")
        self.width, self.field_size = width, field_size
        self.field_conv = nn.Conv1d(in_feats, hidden_feats, field_size, stride=field_size)
        kernel = min(10, width)
        self.neighbour_conv = nn.Conv1d(hidden_feats, hidden_feats // 2, kernel)
        self.dropout = nn.Dropout(dropout)
        self.head = MLPHead(hidden_feats // 2 * (width - kernel + 1), mlp_hidden, num_classes, dropout)

    def reset_parameters(self) -> None:
        self.field_conv.reset_parameters()
        self.neighbour_conv.reset_parameters()
        self.head.reset_parameters()

    def field_indices(self, graph: dgl.DGLGraph) -> Tensor:
        """Batch node ids :math:`(B, w, k)` of every graph's receptive fields; ``-1`` pads."""
        fields, rank = graph.ndata.get(FIELD_KEY), graph.ndata.get(RANK_KEY)
        if fields is None or rank is None or fields.shape[1] != self.field_size:
            raise ValueError(f"PATCHY-SAN needs ndata[{FIELD_KEY!r}] with {self.field_size} columns and "
                             f"ndata[{RANK_KEY!r}]: see dgl_diffpool.data.patchy.attach_receptive_fields")
        sizes = graph.batch_num_nodes()
        node_graph = torch.repeat_interleave(torch.arange(graph.batch_size, device=fields.device), sizes)
        offsets = (torch.cumsum(sizes, 0) - sizes)[node_graph].unsqueeze(-1)
        global_fields = torch.where(fields >= 0, fields + offsets, fields)
        roots = rank < self.width
        out = fields.new_full((graph.batch_size, self.width, self.field_size), -1)
        out[node_graph[roots], rank[roots]] = global_fields[roots]
        return out

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> ClassifierOutput:
        index = self.field_indices(graph)
        padded = torch.cat([feat, feat.new_zeros(1, feat.shape[1])])  # row N: the padding node
        seq = padded[torch.where(index >= 0, index, feat.shape[0])]  # (B, w, k, F)
        seq = seq.reshape(graph.batch_size, self.width * self.field_size, -1).transpose(1, 2)
        h = self.dropout(torch.relu(self.field_conv(seq)))
        h = torch.relu(self.neighbour_conv(h))
        return ClassifierOutput.without_aux(self.head(h.flatten(1)))
