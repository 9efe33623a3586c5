"""The in-memory form every dataset takes before training."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional

import dgl
import torch

from ..errors import DatasetError
from .task import Task, multiclass
from .validation import check_graphs, check_labels

# How raw node / edge features become the first layer's input (see dgl_diffpool.models.encoders).
NODE_ENCODERS = ("none", "atom")
EDGE_ENCODERS = ("none", "bond")


@dataclass
class GraphClassificationData:
    """Graphs with node features ``ndata["feat"]`` and their graph-level labels.

    Validated on construction (see :mod:`~dgl_diffpool.data.validation`).

    ``task`` defaults to multiclass classification over ``num_classes`` classes
    (inferred from the labels if 0). ``split`` is a dataset's official
    ``train`` / ``valid`` / ``test`` split, if it has one (OGB). ``node_encoder``
    and ``edge_encoder`` say how a model must embed the raw features: ``"none"``
    (float node features used as they are, edge features unused) or OGB's
    ``"atom"`` / ``"bond"`` categorical encoders (``ndata["feat"]`` and
    ``edata["feat"]`` hold integer columns).
    """

    name: str
    graphs: list[dgl.DGLGraph]
    labels: torch.Tensor
    num_classes: int = field(default=0)
    task: Optional[Task] = None
    split: Optional[dict[str, torch.Tensor]] = None
    node_encoder: str = "none"
    edge_encoder: str = "none"

    def __post_init__(self) -> None:
        if self.task is None or self.task.kind == "multiclass":
            self.labels = torch.as_tensor(self.labels).long().reshape(-1)
        check_graphs(self.name, self.graphs, integer_features=self.node_encoder != "none")
        if self.task is None:
            seen = int(self.labels.max()) + 1 if self.labels.numel() else 0
            if self.num_classes == 0:
                self.num_classes = seen
            self.task = multiclass(self.num_classes)
        self.num_classes = self.task.num_outputs
        check_labels(self.name, self.labels, len(self.graphs), self.task)
        if self.node_encoder not in NODE_ENCODERS or self.edge_encoder not in EDGE_ENCODERS:
            raise DatasetError(f"dataset {self.name}: unknown encoders {self.node_encoder!r} / {self.edge_encoder!r}")
        if self.edge_encoder != "none" and "feat" not in self.graphs[0].edata:
            raise DatasetError(f"dataset {self.name}: edge encoder {self.edge_encoder} but no edge features 'feat'")

    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def num_features(self) -> int:
        return int(self.graphs[0].ndata["feat"].shape[1])

    @cached_property
    def num_nodes(self) -> torch.Tensor:
        """Node count of every graph, shape :math:`(G,)`."""
        return torch.tensor([g.num_nodes() for g in self.graphs])

    @property
    def max_num_nodes(self) -> int:
        return int(self.num_nodes.max())

    @cached_property
    def num_edge_labels(self) -> int:
        """Number of TU edge label values (``edata["edge_label"]``), 0 if the graphs have none."""
        if not self.graphs or "edge_label" not in self.graphs[0].edata:
            return 0
        return max((int(g.edata["edge_label"].max()) + 1 for g in self.graphs if g.num_edges()), default=0)

    def model_shape(self) -> dict:
        """What a model built for these data depends on (stored in checkpoints)."""
        shape = dict(in_feats=self.num_features, num_classes=self.num_classes, max_num_nodes=self.max_num_nodes,
                     node_encoder=self.node_encoder, edge_encoder=self.edge_encoder)
        if self.num_edge_labels:  # only datasets with edge labels carry the key (older checkpoints stay valid)
            shape["num_edge_labels"] = self.num_edge_labels
        return shape
