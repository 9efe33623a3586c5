"""Stratified k-fold cross-validation: one model selected on an inner validation split per fold,
each test fold scored once by it (Errica et al., ICLR 2020)."""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass
from typing import Optional

import torch

from ..data.splits import fold_split, stratified_kfold
from ..errors import ConfigError, DatasetError
from .config import RunConfig
from .engine import LAST, RunResult, _write_json, load_config_dataset, train

FOLDS_FILE = "folds.json"


@dataclass
class CVResult:
    run_dir: str
    folds: list[RunResult]

    @property
    def test_accs(self) -> list[float]:
        return [r.test_acc for r in self.folds]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.test_accs)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.test_accs)


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
) -> CVResult:
    """Run ``config.folds``-fold stratified CV into ``run_dir/fold-I``.

    Folds are written to ``run_dir/folds.json`` (or read from ``folds_file``);
    a finished fold is not rerun on ``resume``. ``summary.json`` holds per-fold
    test accuracies, selected epochs, and their mean and standard deviation.
    """
    data = load_config_dataset(config)
    os.makedirs(run_dir, exist_ok=True)
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

    results = []
    for i in range(len(folds)) if only_fold is None else [only_fold]:
        fold_dir = os.path.join(run_dir, f"fold-{i}")
        summary = os.path.join(fold_dir, "summary.json")
        if resume and os.path.exists(summary):
            with open(summary) as fh:
                row = json.load(fh)
            results.append(RunResult(**{k: row[k] for k in RunResult.__dataclass_fields__}))
            continue
        splits = fold_split(data.labels, folds[i], config.val_fraction, config.seed + i)
        results.append(
            train(config, fold_dir, resume=resume and os.path.exists(os.path.join(fold_dir, LAST)),
                  progress=progress, data=data, splits=splits)
        )
    result = CVResult(run_dir, results)
    _write_json(os.path.join(run_dir, "summary.json"), {
        "dataset": config.dataset, "model": config.model, "folds": len(folds),
        "test_acc_mean": result.mean, "test_acc_std": result.std,
        "per_fold": [{"fold": i if only_fold is None else only_fold, "test_acc": r.test_acc,
                      "val_acc": r.val_acc, "best_epoch": r.best_epoch} for i, r in enumerate(results)],
    })
    return result
