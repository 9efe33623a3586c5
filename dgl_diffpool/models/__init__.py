"""Graph classifiers built from :mod:`dgl_diffpool.nn`."""
from __future__ import annotations

from typing import Any

from torch import nn

from .diffpool_classifier import DiffPoolClassifier
from .encoders import EncodedClassifier
from .output import ClassifierOutput
from .sage_mean_pool import SAGEMeanPool

MODELS = ("diffpool", "sage-mean")


# The options of DiffPoolClassifier that also shape the flat baseline.
_FLAT_OPTIONS = ("gnn_layers", "hidden_feats", "mlp_hidden", "conv", "batch_norm", "dropout")


def build_model(
    name: str,
    in_feats: int,
    num_classes: int,
    max_num_nodes: int,
    node_encoder: str = "none",
    edge_encoder: str = "none",
    **options: Any,
) -> nn.Module:
    """Build the model ``name`` (one of :data:`MODELS`) for ``num_classes`` outputs.

    ``options`` are keyword arguments of :class:`DiffPoolClassifier`; for the flat
    ``sage-mean`` baseline the pooling options (levels, ratio, clusters, readout,
    auxiliary losses) do not apply and only the GNN and MLP options are used.
    ``node_encoder="atom"`` puts OGB's ``AtomEncoder`` (of the GNN hidden size)
    in front, and with ``conv="gine"`` ``edge_encoder="bond"`` adds its
    ``BondEncoder`` (see :class:`EncodedClassifier`).
    """
    conv = options.get("conv", "sage")
    if conv == "gine" and edge_encoder == "none":
        raise ValueError("conv 'gine' needs edge features: use it on a dataset with bond features (OGB molecules)")
    if node_encoder == "atom":
        in_feats = options.get("hidden_feats", 64)
    elif conv == "gine":
        raise ValueError("conv 'gine' needs the atom encoder in front (OGB molecule datasets)")
    if name == "diffpool":
        model: nn.Module = DiffPoolClassifier(in_feats, num_classes, max_num_nodes, **options)
    elif name == "sage-mean":
        model = SAGEMeanPool(in_feats, num_classes, **{k: v for k, v in options.items() if k in _FLAT_OPTIONS})
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if node_encoder == "none":
        return model
    return EncodedClassifier(model, in_feats, edge_encoder=conv == "gine")


__all__ = ["MODELS", "ClassifierOutput", "DiffPoolClassifier", "EncodedClassifier", "SAGEMeanPool", "build_model"]
