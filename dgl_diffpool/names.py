"""The names users choose from: datasets, models, layers, readouts, protocols, metrics.

Kept free of torch, DGL and ogb so that the command line's help and option checks answer
without importing them; the modules that implement each name re-export it from here.
"""
from __future__ import annotations

import difflib

from .errors import DatasetError

DEFAULT_DATASET = "synthetic"
MIRROR_ENV = "DGL_DIFFPOOL_MIRROR"
# TU graph-classification datasets (https://chrsmrrs.github.io/datasets/), by their official names.
TU_DATASETS = (
    "AIDS", "BZR", "BZR_MD", "COX2", "COX2_MD", "DHFR", "DHFR_MD", "ER_MD", "FRANKENSTEIN", "MUTAG",
    "Mutagenicity", "NCI1", "NCI109", "PTC_FM", "PTC_FR", "PTC_MM", "PTC_MR", "DD", "ENZYMES", "PROTEINS",
    "PROTEINS_full", "KKI", "OHSU", "Peking_1", "MSRC_9", "MSRC_21", "MSRC_21C", "COIL-DEL", "COIL-RAG",
    "Letter-high", "Letter-low", "Letter-med", "Fingerprint", "Cuneiform", "SYNTHETIC", "SYNTHETICnew",
    "Synthie", "TRIANGLES", "COLORS-3", "COLLAB", "IMDB-BINARY", "IMDB-MULTI", "REDDIT-BINARY",
    "REDDIT-MULTI-5K", "REDDIT-MULTI-12K", "github_stargazers", "deezer_ego_nets", "twitch_egos",
    "reddit_threads",
)
# Graph classification datasets of ogb.graphproppred (regression and code2 are other tasks).
OGB_DATASETS = (
    "ogbg-molhiv", "ogbg-molpcba", "ogbg-molbace", "ogbg-molbbbp", "ogbg-molclintox", "ogbg-molmuv",
    "ogbg-molsider", "ogbg-moltox21", "ogbg-moltoxcast", "ogbg-ppa",
)
DATASETS = (DEFAULT_DATASET,) + TU_DATASETS + OGB_DATASETS

# The paper's models by name: DiffPool and its variants, then the flat GNN baselines with their readout.
DIFFPOOL_MODELS = ("diffpool", "diffpool-nolp", "diffpool-det", "s2v-diffpool")
FLAT_MODELS = {"sage-mean": "mean", "sage-set2set": "set2set", "sage-sort": "sort", "s2v": "sum"}
# sum-mlp: Errica et al.'s structure-blind baseline, an MLP on the summed node features.
MODELS = DIFFPOOL_MODELS + tuple(FLAT_MODELS) + ("ecc", "patchy-san", "sum-mlp")
# Graph kernels with an SVM on top, compared with the GNNs by `bench`.
KERNELS = ("wl-kernel", "sp-kernel", "graphlet-kernel")
BENCH_MODELS = MODELS + KERNELS

CONV_TYPES = ("sage", "gcn", "gin", "gine", "s2v")
READOUTS = ("max", "mean", "sum")
LR_SCHEDULES = ("constant", "cosine")  # cosine: from --lr down to 0 over --epochs
# What picks the best epoch and drives early stopping: the validation score, or the task loss.
MONITORS = ("score", "loss")
PROTOCOLS = ("auto", "holdout", "cv", "official")
METRIC_LABELS = {"acc": "accuracy", "rocauc": "ROC-AUC", "ap": "average precision"}


def _folded(name: str) -> str:
    """``name`` with case and the ``-`` / ``_`` spelling ignored."""
    return name.lower().replace("-", "_")


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def resolve_dataset_name(name: str) -> str:
    """The official spelling of the known dataset ``name`` (:data:`~dgl_diffpool.names.DATASETS`).

    An exact match wins; else the one known name equal to ``name`` ignoring case
    (``mutag`` -> ``MUTAG``), else the one equal ignoring case and ``-`` versus ``_``
    (``proteins-full`` -> ``PROTEINS_full``). TU file names inside the archives and
    the cache paths use the official spelling, so every spelling shares one cache.

    Raises
    ------
    DatasetError
        For an unknown name, or one that matches several known names (``Synthetic``:
        the built-in ``synthetic`` or the TU ``SYNTHETIC``); the one-line message
        suggests the closest known names (``did you mean MUTAG?``).
    """
    if name in DATASETS:
        return name
    for key in (str.lower, _folded):
        matches = [known for known in DATASETS if key(known) == key(name)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise DatasetError(f"dataset name {name!r} is ambiguous; did you mean {_either(matches)}?")
    lowered = {}
    for known in DATASETS:
        lowered.setdefault(known.lower(), []).append(known)
    close = [known for match in difflib.get_close_matches(name.lower(), list(lowered), n=3)
             for known in lowered[match]]
    available = ", ".join(DATASETS)
    if close:
        raise DatasetError(f"unknown dataset {name!r}; did you mean {_either(close)}? (available: {available})")
    raise DatasetError(f"unknown dataset {name!r}; available: {available}")


def canonical_dataset(name: str) -> str:
    """:func:`resolve_dataset_name`, or ``name`` unchanged where it names no known dataset."""
    try:
        return resolve_dataset_name(name)
    except DatasetError:
        return name


def resolved_protocol(dataset: str, protocol: str) -> str:
    """``auto`` is the dataset's official split where it has one (OGB), else ``holdout``."""
    if protocol != "auto":
        return protocol
    return "official" if canonical_dataset(dataset) in OGB_DATASETS else "holdout"
