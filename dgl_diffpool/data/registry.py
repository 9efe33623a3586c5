"""Dataset names the CLI and users can ask for."""
from __future__ import annotations

import os
from typing import Optional

from ..errors import DatasetError
from .dataset import GraphClassificationData
from .ogb import OGB_DATASETS, load_ogb
from .synthetic import HierarchicalCommunityDataset
from .tu import check_feature_spec, load_tu

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
DATASETS = (DEFAULT_DATASET,) + TU_DATASETS + OGB_DATASETS


def load_dataset(
    name: str,
    data_dir: str = "data",
    seed: int = 0,
    mirror: Optional[str] = None,
    features: str = "auto",
) -> GraphClassificationData:
    """Load (preparing it on first use) the dataset ``name`` with its cache in ``data_dir``.

    ``seed`` seeds the built-in synthetic dataset's generator. TU and OGB datasets
    are read from the offline ``mirror`` (default: the ``DGL_DIFFPOOL_MIRROR``
    environment variable; layout ``tu/NAME.zip`` and ``ogb/ogbg_NAME/``), else
    downloaded from their official sites; ``features`` chooses the node features
    of TU datasets (see :func:`~dgl_diffpool.data.tu.node_features`).
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    if features != "auto" and name not in TU_DATASETS:
        kind = "the built-in dataset has" if name == DEFAULT_DATASET else f"{name} has"
        raise DatasetError(f"{kind} fixed node features: --features applies to TU datasets only")
    check_feature_spec(features)  # before anything is downloaded
    os.makedirs(data_dir, exist_ok=True)  # as DGL, ogb and PyG create their roots
    if name == DEFAULT_DATASET:
        ds = HierarchicalCommunityDataset(seed=seed, save_dir=os.path.join(data_dir, name))
        return GraphClassificationData(name, ds.graphs, ds.labels, ds.num_classes)
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if mirror is not None and not os.path.isdir(mirror):
        raise DatasetError(f"mirror directory {mirror} does not exist")
    if name in OGB_DATASETS:
        return load_ogb(name, data_dir, mirror)
    return load_tu(name, data_dir, mirror, features)
