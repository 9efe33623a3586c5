"""Everything a run needs that can fail, done before a run folder is created: the dataset,
its precomputed node data, the protocol and the model."""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from ..data import GraphClassificationData, load_dataset, stratified_split
from ..data.clustering import attach_cluster_hierarchy
from ..data.patchy import attach_receptive_fields
from ..errors import ConfigError
from ..models import build_model, check_pool_levels
from .config import RunConfig

# Models whose graphs carry precomputed node data, and how load_config_dataset attaches it.
_PREPROCESS: dict[str, Callable[[GraphClassificationData, RunConfig], None]] = {
    "diffpool-det": lambda data, c: attach_cluster_hierarchy(data, c.ratio, c.pool_levels, c.data_dir),
    "patchy-san": lambda data, c: attach_receptive_fields(data, c.patchy_field, c.data_dir),
}
PREPROCESSED_MODELS = tuple(_PREPROCESS)
# The options each preparation reads: fixed for the whole of a selection, which prepares the data once.
PREPROCESS_FIELDS = {"diffpool-det": ("ratio", "pool_levels"), "patchy-san": ("patchy_field",)}


def load_config_dataset(config: RunConfig) -> GraphClassificationData:
    """The dataset ``config`` names, with its node features and data sources (and what
    :data:`PREPROCESSED_MODELS` precompute per graph: DiffPool-Det's cluster hierarchy,
    PATCHY-SAN's receptive fields)."""
    data = load_dataset(config.dataset, config.data_dir, seed=config.data_seed, mirror=config.mirror,
                        features=config.features)
    if config.model in _PREPROCESS:
        try:  # before the hierarchy is computed for every level asked for
            check_pool_levels(config.model, data.max_num_nodes, config.ratio, config.pool_levels)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        _PREPROCESS[config.model](data, config)
    return data


def resolve_protocol(config: RunConfig, data: GraphClassificationData) -> str:
    """``auto`` is the dataset's official split where it has one (OGB), else ``holdout``."""
    protocol = config.protocol
    if protocol == "auto":
        protocol = "official" if data.split is not None else "holdout"
    if protocol == "official" and data.split is None:
        raise ConfigError(f"{data.name} has no official split; use --protocol holdout or cv")
    if protocol != "official" and data.task.kind != "multiclass":
        raise ConfigError(f"{data.name} has binary targets that may be missing: only its official split "
                          "(--protocol official) is supported")
    return protocol


def prepare_run(
    config: RunConfig, data: Optional[GraphClassificationData] = None
) -> tuple[GraphClassificationData, dict[str, torch.Tensor]]:
    """The dataset (loaded unless given) and its train / valid / test split for ``config``
    (official, or stratified hold-out drawn with ``config.seed``)."""
    data = data if data is not None else load_config_dataset(config)
    if resolve_protocol(config, data) == "official":
        return data, data.split
    splits = stratified_split(data.labels, config.val_fraction, config.test_fraction, config.seed)
    return data, splits


# What to change when a split has no graph, per split.
_EMPTY_SPLIT = {"train": ("training", "lower --val-fraction or --test-fraction"),
                "valid": ("validation", "raise --val-fraction"), "test": ("test", "raise --test-fraction")}


def check_splits(splits: dict[str, torch.Tensor], data: GraphClassificationData) -> None:
    """Refuse a split without graphs (a fraction that rounds to none in every class): training
    needs graphs to learn from, validation to choose an epoch, a test split to be scored."""
    for key, (name, fix) in _EMPTY_SPLIT.items():
        if key in splits and len(splits[key]) == 0:
            raise ConfigError(f"the {name} split of {data.name} ({len(data)} graphs) holds no graph: {fix}")


def build_config_model(config: RunConfig, data: GraphClassificationData) -> nn.Module:
    """The model ``config`` describes for ``data``; options that cannot work (together, with
    these data, or in this machine's memory) are one :class:`ConfigError` line."""
    try:
        return build_model(config.model, **data.model_shape(), **config.model_kwargs())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    except (RuntimeError, MemoryError, OverflowError) as exc:  # e.g. weights too large to allocate
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot build model {config.model} with these options ({first})") from None


__all__ = ["PREPROCESSED_MODELS", "build_config_model", "load_config_dataset", "prepare_run", "resolve_protocol"]
