"""Checks that a dataset can be trained on, with errors that name the graph."""
from __future__ import annotations

import dgl
import torch

from ..errors import DatasetError
from .task import Task


def check_graphs(name: str, graphs: list[dgl.DGLGraph], feature_key: str = "feat",
                 integer_features: bool = False) -> None:
    """Raise :class:`DatasetError` on an empty dataset, an empty graph, or missing,
    ragged or non-finite node features (integer features where ``integer_features``)."""
    if len(graphs) == 0:
        raise DatasetError(f"dataset {name} has no graphs")
    width = None
    for i, g in enumerate(graphs):
        if g.num_nodes() == 0:
            raise DatasetError(f"dataset {name}: graph {i} has no nodes")
        if feature_key not in g.ndata:
            raise DatasetError(f"dataset {name}: graph {i} has no node features '{feature_key}'")
        feat = g.ndata[feature_key]
        if feat.dim() != 2:
            raise DatasetError(f"dataset {name}: graph {i} has node features of shape {tuple(feat.shape)}, not (n, F)")
        if width is None:
            width = feat.shape[1:]
        elif feat.shape[1:] != width:
            raise DatasetError(
                f"dataset {name}: graph {i} has node features of shape {tuple(feat.shape[1:])}, "
                f"others {tuple(width)}"
            )
        if integer_features == feat.is_floating_point():
            kind = "integer" if integer_features else "floating-point"
            raise DatasetError(f"dataset {name}: graph {i} has {feat.dtype} node features, expected {kind}")
        if feat.is_floating_point() and not torch.isfinite(feat).all():
            raise DatasetError(f"dataset {name}: graph {i} has NaN or infinite node features")


def check_labels(name: str, labels: torch.Tensor, num_graphs: int, task: Task) -> None:
    """Raise :class:`DatasetError` unless ``labels`` fit ``task``: integers 0..C-1, one per
    graph, with C >= 2 (multiclass), or a ``(B, T)`` float table of 0, 1 and NaN for missing (binary)."""
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
    present = labels[~torch.isnan(labels)]
    if not ((present == 0) | (present == 1)).all():
        raise DatasetError(f"dataset {name}: binary labels must be 0, 1 or NaN (missing)")
