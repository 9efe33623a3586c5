"""Checks that a dataset can be trained on, with errors that name the graph."""
from __future__ import annotations

from typing import Sequence

import dgl
import torch

from ..errors import DatasetError
from .store import GraphStore
from .task import Task


def check_graphs(name: str, graphs: Sequence[dgl.DGLGraph], feature_key: str = "feat") -> None:
    """Raise :class:`DatasetError` unless ``graphs`` can be batched together: node features
    :math:`(n, F)` of one width and dtype on every graph, and the same node and edge data keys.
    Their values are checked by :func:`check_store` once they are in a store."""
    for i, g in enumerate(graphs):
        if g.num_nodes() == 0:
            raise DatasetError(f"dataset {name}: graph {i} has no nodes")
        if feature_key not in g.ndata:
            raise DatasetError(f"dataset {name}: graph {i} has no node features '{feature_key}'")
        feat = g.ndata[feature_key]
        if feat.dim() != 2:
            raise DatasetError(f"dataset {name}: graph {i} has node features of shape {tuple(feat.shape)}, not (n, F)")
        first = graphs[0]
        width, dtype = first.ndata[feature_key].shape[1:], first.ndata[feature_key].dtype
        if feat.shape[1:] != width or feat.dtype != dtype:
            raise DatasetError(f"dataset {name}: graph {i} has {feat.dtype} node features of shape "
                               f"{tuple(feat.shape[1:])}, graph 0 {dtype} of shape {tuple(width)}")
        for kind, data, ref in (("node", g.ndata, first.ndata), ("edge", g.edata, first.edata)):
            if set(data) != set(ref):
                raise DatasetError(
                    f"dataset {name}: graph {i} has {kind} data {sorted(data)}, graph 0 has {sorted(ref)}")


def check_store(name: str, store: GraphStore, feature_key: str = "feat", integer_features: bool = False,
                values: bool = True) -> None:
    """Raise :class:`DatasetError` on an empty dataset, an empty graph, or missing, non-finite
    or (with ``integer_features``) floating-point node features; the first bad graph is named.
    Feature values are read only with ``values``."""
    if len(store) == 0:
        raise DatasetError(f"dataset {name} has no graphs")
    empty = torch.nonzero(store.num_nodes == 0)
    if len(empty):
        raise DatasetError(f"dataset {name}: graph {int(empty[0])} has no nodes")
    if feature_key not in store.ndata:
        raise DatasetError(f"dataset {name}: graph 0 has no node features '{feature_key}'")
    feat = store.ndata[feature_key]
    if feat.dim() != 2:
        raise DatasetError(f"dataset {name}: graph 0 has node features of shape {tuple(feat[:1].shape)}, not (n, F)")
    if integer_features == feat.is_floating_point():
        kind = "integer" if integer_features else "floating-point"
        raise DatasetError(f"dataset {name}: graph 0 has {feat.dtype} node features, expected {kind}")
    # In blocks of rows: isfinite of the whole table would hold a copy of it.
    for start in range(0, len(feat), 1 << 16) if values and feat.is_floating_point() else ():
        bad = torch.nonzero(~torch.isfinite(feat[start:start + (1 << 16)]).all(1))
        if len(bad):
            node = torch.as_tensor([start + int(bad[0])])
            graph = int(torch.searchsorted(store.node_offsets, node, right=True)) - 1
            raise DatasetError(f"dataset {name}: graph {graph} has NaN or infinite node features")


def check_labels(name: str, labels: torch.Tensor, num_graphs: int, task: Task, values: bool = True) -> None:
    """Raise :class:`DatasetError` unless ``labels`` fit ``task``: integers 0..C-1, one per
    graph, with C >= 2 (multiclass), or a ``(B, T)`` float table of 0, 1 and NaN for missing (binary;
    the table's values are read only with ``values``)."""
    if labels.shape[0] != num_graphs:
        raise DatasetError(f"dataset {name}: {num_graphs} graphs but {labels.shape[0]} labels")
    if task.kind == "multiclass":
        if labels.dtype not in (torch.int64, torch.int32) or labels.min() < 0:
            raise DatasetError(f"dataset {name}: labels must be integers 0..C-1")
        if int(labels.max()) >= task.num_outputs:
            raise DatasetError(f"dataset {name}: label {int(labels.max())} but only {task.num_outputs} classes")
        # On the number of classes, not the labels present: a subset (a fold, a batch) may lack some classes.
        if task.num_outputs < 2:
            raise DatasetError(
                f"dataset {name} has one class (all {num_graphs} graphs have the same label): nothing to classify"
            )
        return
    if labels.dim() != 2 or labels.shape[1] != task.num_outputs or not labels.is_floating_point():
        raise DatasetError(
            f"dataset {name}: binary labels must be a float table ({num_graphs}, {task.num_outputs}), "
            f"got {labels.dtype} {tuple(labels.shape)}"
        )
    present = labels[~torch.isnan(labels)] if values else labels[:0]
    if not ((present == 0) | (present == 1)).all():
        raise DatasetError(f"dataset {name}: binary labels must be 0, 1 or NaN (missing)")
