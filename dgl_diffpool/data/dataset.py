"""The in-memory form every dataset takes before training."""
from __future__ import annotations

from dataclasses import dataclass, field

import dgl
import torch

from ..errors import DatasetError
from .validation import check_graphs


@dataclass
class GraphClassificationData:
    """Graphs with node features ``ndata["feat"]`` and one integer label each.

    Validated on construction (see :func:`~dgl_diffpool.data.validation.check_graphs`).
    """

    name: str
    graphs: list[dgl.DGLGraph]
    labels: torch.Tensor
    num_classes: int = field(default=0)

    def __post_init__(self) -> None:
        self.labels = torch.as_tensor(self.labels).long().reshape(-1)
        check_graphs(self.name, self.graphs, self.labels)
        seen = int(self.labels.max()) + 1
        if self.num_classes == 0:
            self.num_classes = seen
        elif not seen <= self.num_classes:
            raise DatasetError(f"dataset {self.name}: label {seen - 1} but only {self.num_classes} classes")

    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def num_features(self) -> int:
        return int(self.graphs[0].ndata["feat"].shape[1])

    @property
    def max_num_nodes(self) -> int:
        return max(g.num_nodes() for g in self.graphs)
