"""Dataset names the CLI and users can ask for."""
from __future__ import annotations

import os

from ..errors import DatasetError
from .dataset import GraphClassificationData
from .synthetic import HierarchicalCommunityDataset

DEFAULT_DATASET = "synthetic"
DATASETS = (DEFAULT_DATASET,)


def load_dataset(name: str, data_dir: str = "data", seed: int = 0) -> GraphClassificationData:
    """Load (preparing it on first use) the dataset ``name`` with its cache in ``data_dir``.

    ``seed`` seeds the generator of the built-in synthetic dataset.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    if not os.path.isdir(data_dir):
        raise DatasetError(f"data directory {data_dir} does not exist")
    ds = HierarchicalCommunityDataset(seed=seed, save_dir=os.path.join(data_dir, name))
    return GraphClassificationData(name, ds.graphs, ds.labels, ds.num_classes)
