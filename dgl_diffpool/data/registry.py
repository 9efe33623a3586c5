"""Dataset names the CLI and users can ask for."""
from __future__ import annotations

import os
from typing import Optional

from ..errors import DatasetError
from ..names import DEFAULT_DATASET, MIRROR_ENV, OGB_DATASETS, TU_DATASETS, resolve_dataset_name
from .dataset import GraphClassificationData
from .ogb import load_ogb
from .synthetic import HierarchicalCommunityDataset
from .tu import check_feature_spec, load_tu


def load_dataset(
    name: str,
    data_dir: str = "data",
    seed: int = 0,
    mirror: Optional[str] = None,
    features: str = "auto",
) -> GraphClassificationData:
    """Load (preparing it on first use) the dataset ``name`` with its cache in ``data_dir``.

    ``name`` is resolved to its official spelling by :func:`resolve_dataset_name`
    (``mutag`` loads ``MUTAG``, from and into the same cache); the result's ``name``
    is the official one.

    ``seed`` seeds the built-in synthetic dataset's generator. TU and OGB datasets
    are read from the offline ``mirror`` (default: the ``DGL_DIFFPOOL_MIRROR``
    environment variable; layout ``tu/NAME.zip`` and ``ogb/ogbg_NAME/``), else
    downloaded from their official sites; ``features`` chooses the node features
    of TU datasets (see :func:`~dgl_diffpool.data.tu.node_features`).
    """
    name = resolve_dataset_name(name)
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
