"""Graph classifiers built from :mod:`dgl_diffpool.nn`."""
from __future__ import annotations

from torch import nn

from .diffpool_classifier import DiffPoolClassifier
from .output import ClassifierOutput
from .sage_mean_pool import SAGEMeanPool

MODELS = ("diffpool", "sage-mean")


def build_model(
    name: str,
    in_feats: int,
    num_classes: int,
    max_num_nodes: int,
    *,
    pool_levels: int = 1,
    ratio: float = 0.25,
    adaptive_clusters: bool = False,
    gnn_layers: int = 3,
    hidden_feats: int = 64,
    mlp_hidden: int = 64,
    conv: str = "sage",
    batch_norm: bool = True,
    dropout: float = 0.0,
    readout: str = "max",
    link_loss: bool = True,
    entropy_loss: bool = True,
) -> nn.Module:
    """Build the model ``name`` (one of :data:`MODELS`).

    The pooling options (``pool_levels``, ``ratio``, ``adaptive_clusters``,
    ``readout``, the auxiliary losses) shape ``diffpool`` only; ``sage-mean`` is
    flat and always averages.
    """
    common = dict(
        gnn_layers=gnn_layers,
        hidden_feats=hidden_feats,
        mlp_hidden=mlp_hidden,
        conv=conv,
        batch_norm=batch_norm,
        dropout=dropout,
    )
    if name == "diffpool":
        return DiffPoolClassifier(
            in_feats,
            num_classes,
            max_num_nodes,
            pool_levels=pool_levels,
            ratio=ratio,
            adaptive_clusters=adaptive_clusters,
            readout=readout,
            link_loss=link_loss,
            entropy_loss=entropy_loss,
            **common,
        )
    if name == "sage-mean":
        return SAGEMeanPool(in_feats, num_classes, **common)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


__all__ = ["MODELS", "ClassifierOutput", "DiffPoolClassifier", "SAGEMeanPool", "build_model"]
