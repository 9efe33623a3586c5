"""Checks that a dataset can be trained on, with errors that name the graph."""
from __future__ import annotations

import dgl
import torch

from ..errors import DatasetError


def check_graphs(name: str, graphs: list[dgl.DGLGraph], labels: torch.Tensor, feature_key: str = "feat") -> None:
    """Raise :class:`DatasetError` on an empty dataset, an empty graph, missing or
    non-finite node features, or labels that are not 0..C-1 integers, one per graph."""
    if len(graphs) == 0:
        raise DatasetError(f"dataset {name} has no graphs")
    if labels.shape[0] != len(graphs):
        raise DatasetError(f"dataset {name}: {len(graphs)} graphs but {labels.shape[0]} labels")
    if labels.dtype not in (torch.int64, torch.int32) or labels.min() < 0:
        raise DatasetError(f"dataset {name}: labels must be integers 0..C-1")
    width = None
    for i, g in enumerate(graphs):
        if g.num_nodes() == 0:
            raise DatasetError(f"dataset {name}: graph {i} has no nodes")
        if feature_key not in g.ndata:
            raise DatasetError(f"dataset {name}: graph {i} has no node features '{feature_key}'")
        feat = g.ndata[feature_key]
        if width is None:
            width = feat.shape[1:]
        elif feat.shape[1:] != width:
            raise DatasetError(
                f"dataset {name}: graph {i} has node features of shape {tuple(feat.shape[1:])}, "
                f"others {tuple(width)}"
            )
        if feat.is_floating_point() and not torch.isfinite(feat).all():
            raise DatasetError(f"dataset {name}: graph {i} has NaN or infinite node features")
