"""The in-memory form every dataset takes before training."""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional, Sequence, Union

import dgl
import torch

from ..errors import DatasetError
from .store import GraphSequence, GraphStore
from .task import Task, multiclass
from .validation import check_graphs, check_labels, check_store

# How raw node / edge features become the first layer's input (see dgl_diffpool.models.encoders).
NODE_ENCODERS = ("none", "atom")
EDGE_ENCODERS = ("none", "bond")


@dataclass
class GraphClassificationData:
    """Graphs with node features ``ndata["feat"]`` and their graph-level labels.

    Validated on construction (see :mod:`~dgl_diffpool.data.validation`). Indexed like
    DGL's graph-classification datasets (:class:`dgl.data.GINDataset`,
    :class:`dgl.data.TUDataset`): ``len(data)`` is the number of graphs and ``data[i]``
    is the pair ``(graph, label)``, so :class:`dgl.dataloading.GraphDataLoader` batches it.
    The project's own batching (:func:`~dgl_diffpool.data.batching.iterate_batches`)
    reads the fields ``graphs``, ``labels`` and ``num_nodes`` directly.

    Parameters
    ----------
    name : str
        The dataset's name (the official spelling for the datasets of
        :func:`~dgl_diffpool.data.load_dataset`).
    graphs : list of dgl.DGLGraph or GraphStore
        The graphs, each with node features ``ndata["feat"]`` of one width. A list is
        copied into a :class:`~dgl_diffpool.data.store.GraphStore` (flat arrays, what
        batches are cut from); afterwards ``graphs`` is a read-only sequence of graphs
        built from the store on access, and ``store`` is the store (set
        ``store.ndata[key]`` to add node data to every graph).
    labels : torch.Tensor
        One label per graph: class indices :math:`(G,)` (converted to int64) for
        multiclass tasks, a float table :math:`(G, T)` of 0, 1 and NaN for binary ones.
    num_classes : int, optional
        Number of classes; inferred from the labels if 0 (the default).
    task : Task, optional
        The prediction task; defaults to multiclass classification over ``num_classes``.
    split : dict of str to torch.Tensor, optional
        A dataset's official ``train`` / ``valid`` / ``test`` graph indices, if it has
        one (OGB).
    node_encoder, edge_encoder : str
        How a model must embed the raw features: ``"none"`` (float node features used
        as they are, edge features unused) or OGB's ``"atom"`` / ``"bond"`` categorical
        encoders (``ndata["feat"]`` and ``edata["feat"]`` hold integer columns).
    checked : bool
        The values of the features and labels were checked when the store was written (a
        prepared dataset opened again): only their shapes and types are checked, so that
        opening reads no array.

    Raises
    ------
    DatasetError
        If the graphs or labels cannot be trained on (no graphs, an empty graph,
        missing or non-finite features, labels that do not fit the task).

    Examples
    --------
    >>> from dgl.dataloading import GraphDataLoader
    >>> from dgl_diffpool.data import load_dataset
    >>> data = load_dataset("MUTAG")
    >>> graph, label = data[0]         # label: a 0-dim int64 tensor, as DGL's datasets give
    >>> graph, label = data[-1]        # the last graph
    >>> for batched_graph, labels in GraphDataLoader(data, batch_size=32, shuffle=True):
    ...     pass                       # labels: shape (batch,), batched_graph: dgl.batch of the graphs
    """

    name: str
    graphs: Union[Sequence[dgl.DGLGraph], GraphStore]
    labels: torch.Tensor
    num_classes: int = field(default=0)
    task: Optional[Task] = None
    split: Optional[dict[str, torch.Tensor]] = None
    node_encoder: str = "none"
    edge_encoder: str = "none"
    checked: bool = False

    def __post_init__(self) -> None:
        if self.task is None or self.task.kind == "multiclass":
            self.labels = torch.as_tensor(self.labels).long().reshape(-1)
        integer_features = self.node_encoder != "none"
        if isinstance(self.graphs, GraphSequence):  # another dataset's graphs: share its store
            self.graphs = self.graphs.store
        if not isinstance(self.graphs, GraphStore):
            check_graphs(self.name, self.graphs)  # what batching them needs, with errors that name the graph
            self.graphs = GraphStore.from_graphs(self.graphs)
        self.store = self.graphs
        self.graphs: GraphSequence = self.store.graphs()
        check_store(self.name, self.store, integer_features=integer_features, values=not self.checked)
        if self.task is None:
            seen = int(self.labels.max()) + 1 if self.labels.numel() else 0
            if self.num_classes == 0:
                self.num_classes = seen
            self.task = multiclass(self.num_classes)
        self.num_classes = self.task.num_outputs
        check_labels(self.name, self.labels, len(self.graphs), self.task, values=not self.checked)
        if self.node_encoder not in NODE_ENCODERS or self.edge_encoder not in EDGE_ENCODERS:
            raise DatasetError(f"dataset {self.name}: unknown encoders {self.node_encoder!r} / {self.edge_encoder!r}")
        if self.edge_encoder != "none" and "feat" not in self.store.edata:
            raise DatasetError(f"dataset {self.name}: edge encoder {self.edge_encoder} but no edge features 'feat'")

    def __len__(self) -> int:
        """The number of graphs."""
        return len(self.graphs)

    def __getitem__(self, index: int) -> tuple[dgl.DGLGraph, torch.Tensor]:
        """Graph ``index`` and its label ``labels[index]`` (negative indices count from the end).

        The label is a tensor as in DGL's datasets: 0-dim for class indices, :math:`(T,)`
        for a binary task's table. Raises IndexError outside ``-len(self) .. len(self) - 1``
        (which also ends iteration over the dataset) and TypeError for a non-integer index.
        """
        try:
            i = operator.index(index)
        except TypeError:
            what = type(index).__name__
            raise TypeError(f"dataset {self.name}: graph indices must be integers, not {what}") from None
        if not -len(self.graphs) <= i < len(self.graphs):
            raise IndexError(f"dataset {self.name}: graph index {i} out of range for {len(self.graphs)} graphs")
        return self.store.graph(i % len(self.graphs)), self.labels[i]

    @property
    def num_features(self) -> int:
        return int(self.store.ndata["feat"].shape[1])

    @cached_property
    def num_nodes(self) -> torch.Tensor:
        """Node count of every graph, shape :math:`(G,)`."""
        return self.store.num_nodes

    @property
    def max_num_nodes(self) -> int:
        return int(self.num_nodes.max())

    @cached_property
    def num_edge_labels(self) -> int:
        """Number of TU edge label values (``edata["edge_label"]``), 0 if the graphs have none."""
        labels = self.store.edata.get("edge_label")
        return int(labels.max()) + 1 if labels is not None and labels.numel() else 0

    def model_shape(self) -> dict:
        """What a model built for these data depends on (stored in checkpoints)."""
        shape = dict(in_feats=self.num_features, num_classes=self.num_classes, max_num_nodes=self.max_num_nodes,
                     node_encoder=self.node_encoder, edge_encoder=self.edge_encoder)
        if self.num_edge_labels:  # only datasets with edge labels carry the key (older checkpoints stay valid)
            shape["num_edge_labels"] = self.num_edge_labels
        return shape
