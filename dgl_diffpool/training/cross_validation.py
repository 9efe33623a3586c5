"""Stratified k-fold cross-validation: one model selected on an inner validation split per fold,
each test fold scored once by it (Errica et al., ICLR 2020)."""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass
from typing import Any, Optional

import torch

from ..data.splits import fold_split, stratified_kfold
from ..errors import ConfigError, DatasetError
from .config import RunConfig
from .engine import LAST, RunResult, _write_json, load_config_dataset, resolve_protocol, train

FOLDS_FILE = "folds.json"


@dataclass
class RepeatedResult:
    """Runs of one configuration on several folds or seeds, in ``run_dir``."""

    run_dir: str
    runs: list[RunResult]

    @property
    def metric(self) -> str:
        return self.runs[0].metric

    @property
    def test_scores(self) -> list[float]:
        return [r.test_score for r in self.runs]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.test_scores)

    @property
    def std(self) -> float:
        """Population standard deviation over runs (0 for a single run)."""
        return statistics.pstdev(self.test_scores)

    def write_summary(self, config: RunConfig, unit: str, ids: list[int], **extra: Any) -> None:
        """``summary.json``: each run's test and validation score and selected epoch, their mean and std."""
        _write_json(os.path.join(self.run_dir, "summary.json"), {
            "dataset": config.dataset, "model": config.model, "metric": self.metric, **extra,
            "test_score_mean": self.mean, "test_score_std": self.std,
            f"per_{unit}": [{unit: i, "test_score": r.test_score, "val_score": r.val_score,
                             "best_epoch": r.best_epoch} for i, r in zip(ids, self.runs)],
        })


def finished_run(run_dir: str) -> Optional[RunResult]:
    """The result of the run in ``run_dir`` if it has finished (its ``summary.json`` exists)."""
    path = os.path.join(run_dir, "summary.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        row = json.load(fh)
    return RunResult(**{k: row[k] for k in RunResult.__dataclass_fields__})


def load_folds(path: str, num_graphs: int) -> list[torch.Tensor]:
    """Folds saved by :func:`cross_validate`; they must be disjoint and cover the dataset."""
    try:
        with open(path) as fh:
            folds = [torch.as_tensor(f, dtype=torch.long) for f in json.load(fh)["folds"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"cannot read folds file {path} ({exc})") from None
    joined = torch.cat(folds).sort().values if folds else torch.empty(0, dtype=torch.long)
    if not torch.equal(joined, torch.arange(num_graphs)):
        raise DatasetError(f"folds in {path} are not a partition of the {num_graphs} graphs of this dataset")
    return folds


def cross_validate(
    config: RunConfig,
    run_dir: str,
    folds_file: Optional[str] = None,
    only_fold: Optional[int] = None,
    resume: bool = False,
    progress: bool = False,
    tensorboard: bool = False,
) -> RepeatedResult:
    """Run ``config.folds``-fold stratified CV into ``run_dir/fold-I``.

    Folds are written to ``run_dir/folds.json`` (or read from ``folds_file``);
    a finished fold is not rerun on ``resume``. ``summary.json`` holds per-fold
    test scores, selected epochs, and their mean and standard deviation.
    """
    data = load_config_dataset(config)
    resolve_protocol(config, data)  # stops on datasets with binary targets
    os.makedirs(run_dir, exist_ok=True)
    _write_json(os.path.join(run_dir, "config.json"), config.to_dict())  # what --resume reads
    saved = os.path.join(run_dir, FOLDS_FILE)
    if folds_file is None and os.path.exists(saved):
        folds_file = saved
    if folds_file is not None:
        folds = load_folds(folds_file, len(data))
        if len(folds) != config.folds:
            raise ConfigError(f"{folds_file} holds {len(folds)} folds, --folds is {config.folds}")
    else:
        folds = stratified_kfold(data.labels, config.folds, config.seed)
    if not os.path.exists(saved):
        _write_json(saved, {"dataset": config.dataset, "folds": [f.tolist() for f in folds]})
    if only_fold is not None and not 0 <= only_fold < len(folds):
        raise ConfigError(f"fold must be in 0..{len(folds) - 1}, got {only_fold}")

    ids = list(range(len(folds))) if only_fold is None else [only_fold]
    results = []
    for i in ids:
        fold_dir = os.path.join(run_dir, f"fold-{i}")
        done = finished_run(fold_dir) if resume else None
        if done is None:
            splits = fold_split(data.labels, folds[i], config.val_fraction, config.seed + i)
            done = train(config, fold_dir, resume=resume and os.path.exists(os.path.join(fold_dir, LAST)),
                         progress=progress, data=data, splits=splits, tensorboard=tensorboard)
        results.append(done)
    result = RepeatedResult(run_dir, results)
    result.write_summary(config, "fold", ids, folds=len(folds))
    return result
