"""Graph classifiers built from :mod:`dgl_diffpool.nn`."""
from __future__ import annotations

from typing import Any

from torch import nn

from .. import defaults
from ..names import DIFFPOOL_MODELS, FLAT_MODELS, MODELS

from .diffpool_classifier import DiffPoolClassifier, level_cluster_counts, max_pool_levels
from .encoders import EncodedClassifier, InputNorm
from .output import ClassifierOutput
from .diffpool_det import DiffPoolDet
from .ecc import ECCClassifier
from .flat_gnn import FlatGNNClassifier, SortPoolReadout
from .patchy_san import PatchySAN
from .sum_mlp import SumMLPClassifier


# Options of DiffPoolClassifier that also shape the other models.
_FLAT_OPTIONS = ("gnn_layers", "hidden_feats", "mlp_hidden", "conv", "batch_norm", "dropout")
_DET_OPTIONS = _FLAT_OPTIONS + ("pool_levels", "readout")
_ECC_OPTIONS = ("gnn_layers", "hidden_feats", "mlp_hidden", "batch_norm", "dropout")


def check_pool_levels(name: str, max_num_nodes: int, ratio: float, pool_levels: int) -> None:
    """Raise ``ValueError`` if the DiffPool model ``name`` would have levels that pool nothing."""
    most = max_pool_levels(max_num_nodes, ratio) if name in DIFFPOOL_MODELS else None
    if most is not None and pool_levels > most:
        raise ValueError(
            f"pool levels {pool_levels}: at ratio {ratio} the largest graph ({max_num_nodes} nodes) is one cluster "
            f"after {most} level(s), and a level whose every graph has one cluster adds nothing; use at most {most}"
        )


def build_model(
    name: str,
    in_feats: int,
    num_classes: int,
    max_num_nodes: int,
    node_encoder: str = "none",
    edge_encoder: str = "none",
    num_edge_labels: int = 0,
    input_norm: bool = False,
    **options: Any,
) -> nn.Module:
    """Build the model ``name`` (one of :data:`MODELS`) for ``num_classes`` outputs.

    ``options`` are keyword arguments of :class:`DiffPoolClassifier` (plus ``sort_k``);
    each model takes those that apply to it. ``diffpool-nolp`` is DiffPool without
    the link-prediction loss, ``diffpool-det`` is :class:`DiffPoolDet` (no assignment
    GNN, no ratio or auxiliary losses), ``s2v-diffpool`` is DiffPool with Structure2Vec
    embedding and assignment GNNs, and the flat baselines (:class:`FlatGNNClassifier`:
    ``sage-mean``, ``sage-set2set``, ``sage-sort``, and ``s2v``, Structure2Vec with a sum
    readout) use only the GNN and MLP options and ``sort_k``. ``ecc`` is
    :class:`ECCClassifier`, conditioned on ``num_edge_labels`` one-hot edge labels;
    ``patchy-san`` is :class:`PatchySAN` (``patchy_width``, ``patchy_field``); ``sum-mlp`` is
    :class:`SumMLPClassifier` (``mlp_hidden``, ``dropout``; no GNN).
    ``node_encoder="atom"`` puts OGB's ``AtomEncoder`` (of the GNN hidden size)
    in front, and with ``conv="gine"`` ``edge_encoder="bond"`` adds its
    ``BondEncoder`` (see :class:`EncodedClassifier`). ``input_norm`` puts a BatchNorm of the
    raw node features in front (:class:`InputNorm`; not with the atom encoder).
    """
    conv = options.get("conv", "sage")
    if conv == "gine" and edge_encoder == "none":
        raise ValueError("conv 'gine' needs edge features: use it on a dataset with bond features (OGB molecules)")
    if node_encoder == "atom":
        in_feats = options.get("hidden_feats", defaults.HIDDEN)
    elif conv == "gine":
        raise ValueError("conv 'gine' needs the atom encoder in front (OGB molecule datasets)")
    if input_norm and node_encoder != "none":
        raise ValueError("input norm is for numeric node features, not the atom encoder's categorical ones")
    sort_k = options.pop("sort_k", defaults.SORT_K)
    patchy = dict(width=options.pop("patchy_width", defaults.PATCHY_WIDTH),
                  field_size=options.pop("patchy_field", defaults.PATCHY_FIELD))
    check_pool_levels(name, max_num_nodes, options.get("ratio", defaults.RATIO),
                      options.get("pool_levels", defaults.POOL_LEVELS))
    if name.startswith("s2v"):  # Structure2Vec embeddings whatever --conv says
        options["conv"] = "s2v"
    if name in ("diffpool", "diffpool-nolp", "s2v-diffpool"):
        if name == "diffpool-nolp":
            options["link_loss"] = False
        model: nn.Module = DiffPoolClassifier(in_feats, num_classes, max_num_nodes, **options)
    elif name == "diffpool-det":
        model = DiffPoolDet(in_feats, num_classes, **{k: v for k, v in options.items() if k in _DET_OPTIONS})
    elif name == "patchy-san":
        cnn = {k: v for k, v in options.items() if k in ("hidden_feats", "mlp_hidden", "dropout")}
        model = PatchySAN(in_feats, num_classes, **patchy, **cnn)
    elif name == "ecc":
        ecc = {k: v for k, v in options.items() if k in _ECC_OPTIONS}
        model = ECCClassifier(in_feats, num_classes, num_edge_labels, **ecc)
    elif name == "sum-mlp":
        model = SumMLPClassifier(in_feats, num_classes, **{k: v for k, v in options.items()
                                                            if k in ("mlp_hidden", "dropout", "batch_norm")})
    elif name in FLAT_MODELS:
        flat = {k: v for k, v in options.items() if k in _FLAT_OPTIONS}
        model = FlatGNNClassifier(in_feats, num_classes, readout=FLAT_MODELS[name], sort_k=sort_k, **flat)
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if node_encoder == "none":
        return InputNorm(model, in_feats) if input_norm else model
    return EncodedClassifier(model, in_feats, edge_encoder=conv == "gine")


__all__ = [
    "DIFFPOOL_MODELS",
    "FLAT_MODELS",
    "MODELS",
    "ClassifierOutput",
    "DiffPoolClassifier",
    "DiffPoolDet",
    "ECCClassifier",
    "EncodedClassifier",
    "InputNorm",
    "FlatGNNClassifier",
    "PatchySAN",
    "SortPoolReadout",
    "SumMLPClassifier",
    "build_model",
    "check_pool_levels",
    "level_cluster_counts",
    "max_pool_levels",
]
