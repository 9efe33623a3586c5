"""Datasets, validation, splits and batching."""
from .batching import GraphBatch, iterate_batches
from .dataset import GraphClassificationData
from ..names import DATASETS, DEFAULT_DATASET, MIRROR_ENV, OGB_DATASETS, TU_DATASETS, resolve_dataset_name
from .registry import load_dataset
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
    "resolve_dataset_name",
    "stratified_split",
]
