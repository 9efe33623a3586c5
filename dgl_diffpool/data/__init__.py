"""Datasets, validation, splits and batching."""
from .batching import GraphBatch, iterate_batches
from .dataset import GraphClassificationData
from .ogb import OGB_DATASETS
from .registry import DATASETS, DEFAULT_DATASET, MIRROR_ENV, TU_DATASETS, load_dataset
from .splits import stratified_split
from .synthetic import HierarchicalCommunityDataset
from .task import Task

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "GraphBatch",
    "GraphClassificationData",
    "HierarchicalCommunityDataset",
    "MIRROR_ENV",
    "OGB_DATASETS",
    "TU_DATASETS",
    "Task",
    "iterate_batches",
    "load_dataset",
    "stratified_split",
]
