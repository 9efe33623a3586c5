"""Graph classifiers built from :mod:`dgl_diffpool.nn`."""
from __future__ import annotations

from typing import Any

from torch import nn

from .diffpool_classifier import DiffPoolClassifier
from .output import ClassifierOutput
from .sage_mean_pool import SAGEMeanPool

MODELS = ("diffpool", "sage-mean")


# The options of DiffPoolClassifier that also shape the flat baseline.
_FLAT_OPTIONS = ("gnn_layers", "hidden_feats", "mlp_hidden", "conv", "batch_norm", "dropout")


def build_model(name: str, in_feats: int, num_classes: int, max_num_nodes: int, **options: Any) -> nn.Module:
    """Build the model ``name`` (one of :data:`MODELS`).

    ``options`` are keyword arguments of :class:`DiffPoolClassifier`; for the flat
    ``sage-mean`` baseline the pooling options (levels, ratio, clusters, readout,
    auxiliary losses) do not apply and only the GNN and MLP options are used.
    """
    if name == "diffpool":
        return DiffPoolClassifier(in_feats, num_classes, max_num_nodes, **options)
    if name == "sage-mean":
        return SAGEMeanPool(in_feats, num_classes, **{k: v for k, v in options.items() if k in _FLAT_OPTIONS})
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


__all__ = ["MODELS", "ClassifierOutput", "DiffPoolClassifier", "SAGEMeanPool", "build_model"]
