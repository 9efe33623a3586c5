"""Scoring saved models again: one checkpoint, or every fold or seed of a run directory."""
from __future__ import annotations

import dataclasses
import os
import re
import statistics
from dataclasses import dataclass
from typing import Optional

import torch

from ..data import GraphClassificationData
from ..errors import CheckpointError
from ..names import canonical_dataset
from .checkpoint import load_checkpoint, model_from_checkpoint
from .config import RunConfig
from .device import resolve_device
from .engine import evaluate
from .preflight import load_config_dataset
from .rundir import BEST

_PART = re.compile(r"^(fold|seed|final)-(\d+)$")


@dataclass
class Scored:
    """The score of one part of a run (``label``: ``run``, ``fold 3``, ``seed 1``): the mean
    over its checkpoints (a selection's fold: its final runs)."""

    label: str
    scores: list[float]
    graphs: int

    @property
    def score(self) -> float:
        return statistics.fmean(self.scores)


def _parts(folder: str, kind: Optional[str] = None) -> list[tuple[str, int]]:
    found = []
    for entry in os.listdir(folder):
        match = _PART.match(entry)
        if match and (kind is None or match.group(1) == kind) and os.path.isdir(os.path.join(folder, entry)):
            found.append((match.group(1), int(match.group(2))))
    return sorted(found)


def run_checkpoints(path: str, fold: Optional[int] = None) -> list[tuple[str, list[str]]]:
    """The checkpoints to score for ``path``, grouped as ``[(label, [checkpoint, ...])]``.

    ``path`` is a checkpoint file, a run directory (its ``best.pt``), or the directory of a
    repeated run: one group per fold or seed, and for a fold of a model selection its final
    runs. ``fold`` picks one fold of a cross-validation directory.
    """
    if os.path.isfile(path):
        if fold is not None:
            raise CheckpointError(f"{path} is one checkpoint: --fold applies to a cross-validation run directory")
        return [("run", [path])]
    if fold is None and os.path.exists(os.path.join(path, BEST)):
        return [("run", [os.path.join(path, BEST)])]
    parts = _parts(path)
    repeated = [os.path.join(path, f"seed-{i}") for kind, i in parts
                if kind == "seed" and _parts(os.path.join(path, f"seed-{i}"), "fold")]
    if repeated:
        raise CheckpointError(f"{path} repeats a cross-validation over seeds: give one seed's run, e.g. {repeated[0]}")
    if fold is not None:
        if ("fold", fold) not in parts:
            folds = [str(i) for kind, i in parts if kind == "fold"]
            raise CheckpointError(f"{path} has no fold {fold}" + (f" (its folds: {', '.join(folds)})" if folds
                                                                  else ": not a cross-validation run"))
        parts = [("fold", fold)]
    groups = []
    for kind, i in parts:
        if kind == "final":
            continue
        folder = os.path.join(path, f"{kind}-{i}")
        finals = [os.path.join(folder, f"final-{j}", BEST) for _, j in _parts(folder, "final")]
        best = [os.path.join(folder, BEST)] if os.path.exists(os.path.join(folder, BEST)) else []
        checkpoints = [c for c in finals if os.path.exists(c)] or best
        if checkpoints:
            groups.append((f"{kind} {i}", checkpoints))
    if not groups:
        raise CheckpointError(f"{path} holds no trained model ({BEST}) yet")
    return groups


def checkpoint_dataset(
    path: str,
    payload: dict,
    config: RunConfig,
    dataset: Optional[str] = None,
    data_dir: Optional[str] = None,
    mirror: Optional[str] = None,
) -> GraphClassificationData:
    """The dataset the checkpoint at ``path`` was trained on, from ``data_dir`` / ``mirror`` where
    given (else where the run found it), checked against ``dataset`` and the checkpoint's data shape."""
    _check_dataset(path, config, dataset)
    data = load_config_dataset(dataclasses.replace(config, data_dir=data_dir or config.data_dir,
                                                   mirror=mirror or config.mirror))
    _check_shape(path, payload, config, data)
    return data


def _check_dataset(path: str, config: RunConfig, dataset: Optional[str]) -> None:
    if dataset is not None and canonical_dataset(dataset) != canonical_dataset(config.dataset):
        raise CheckpointError(f"{path} was trained on {config.dataset}, not {dataset}")


def _check_shape(path: str, payload: dict, config: RunConfig, data: GraphClassificationData) -> None:
    if data.model_shape() != payload["model_shape"]:
        raise CheckpointError(f"{path} was trained on {config.dataset} data of shape {payload['model_shape']}, "
                              f"this data is {data.model_shape()}")


def score_checkpoints(
    groups: list[tuple[str, list[str]]],
    split: str = "test",
    device: str = "cpu",
    data_dir: Optional[str] = None,
    mirror: Optional[str] = None,
    dataset: Optional[str] = None,
) -> tuple[RunConfig, str, list[Scored]]:
    """Score every checkpoint of ``groups`` (see :func:`run_checkpoints`) on the ``split`` of
    the run that trained it, with the dataset's metric; the data are loaded once (see
    :func:`checkpoint_dataset`). Returns the first checkpoint's configuration, the metric and
    one :class:`Scored` per group."""
    dev, data, first, results = resolve_device(device), None, None, []
    for label, paths in groups:
        scores, graphs = [], 0
        for path in paths:
            payload = load_checkpoint(path)
            model, config = model_from_checkpoint(payload, path)
            if data is None:
                first, data = config, checkpoint_dataset(path, payload, config, dataset, data_dir, mirror)
            elif config.dataset != first.dataset:
                raise CheckpointError(f"{path} was trained on {config.dataset}, the others on {first.dataset}")
            _check_shape(path, payload, config, data)
            if split not in payload["splits"]:  # a model-selection candidate never sees a test split
                raise CheckpointError(f"{path} has no {split} split (a model-selection candidate); "
                                      f"choose from {', '.join(payload['splits'])}")
            indices = torch.as_tensor(payload["splits"][split], dtype=torch.long)
            result = evaluate(model.to(dev), data, indices, config.batch_size, dev, **config.batching())
            scores.append(result[data.task.metric])
            graphs = len(indices)
        results.append(Scored(label, scores, graphs))
    return first, data.task.metric, results


__all__ = ["Scored", "checkpoint_dataset", "run_checkpoints", "score_checkpoints"]
