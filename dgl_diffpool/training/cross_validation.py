"""Stratified k-fold cross-validation: one model selected on an inner validation split per fold,
each test fold scored once by it (Errica et al., ICLR 2020)."""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass
from typing import Any, Optional

import torch

from ..data import GraphClassificationData
from ..data.splits import fold_split, stratified_kfold
from ..errors import ConfigError, DatasetError, RunFolderError
from ..names import METRIC_LABELS
from .config import RunConfig
from .engine import RunResult, train
from .preflight import build_config_model, check_splits, load_config_dataset, resolve_protocol
from .distributed import init_from_env, is_main_process, run_on_main
from .progress import Progress
from .rundir import (SELECTION_FILE, SETUP_LOCK_FILE, SUMMARY_FILE, check_same_config, folder_lock, read_json,
                     run_folder, write_json)

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

    def write_summary(self, config: RunConfig, unit: str, ids: list[int], total: int, **extra: Any) -> None:
        """``summary.json``: each run's test and validation score and selected epoch, their mean and
        std, and how many of the ``total`` runs have finished (``finished``, ``total``)."""
        community = {}
        if self.runs and all(r.community for r in self.runs):  # mean over runs of each measure
            community = {"community": {k: statistics.fmean(r.community[k] for r in self.runs)
                                       for k in self.runs[0].community}}
        write_json(os.path.join(self.run_dir, SUMMARY_FILE), {
            "dataset": config.dataset, "model": config.model, "metric": self.metric, **extra,
            "finished": len(self.runs), "total": total,
            "test_score_mean": self.mean, "test_score_std": self.std, **community,
            f"per_{unit}": [{unit: i, "test_score": r.test_score, "val_score": r.val_score,
                             "best_epoch": r.best_epoch, **({"community": r.community} if r.community else {})}
                            for i, r in zip(ids, self.runs)],
        })


def finished_run(run_dir: str, config: RunConfig) -> Optional[RunResult]:
    """The result of the run of ``config`` in ``run_dir`` if it has finished: its ``summary.json``
    exists and it either stopped early or ran ``config.epochs`` epochs (a run given more epochs
    since is continued). A finished run of another configuration is a :class:`ConfigError`."""
    path = os.path.join(run_dir, SUMMARY_FILE)
    if not os.path.exists(path):
        return None
    check_same_config(run_dir, config)
    row = read_json(path)
    result = RunResult(**{k: row[k] for k in RunResult.__dataclass_fields__ if k in row})  # older: no community
    return result if result.stopped_early or result.epochs_run >= config.epochs else None


def load_folds(path: str, num_graphs: int, dataset: Optional[str] = None) -> list[torch.Tensor]:
    """Folds saved by :func:`cross_validate`; they must be disjoint, cover the dataset and,
    where the file names its dataset, be for ``dataset``."""
    try:
        with open(path) as fh:
            saved = json.load(fh)
        folds = [torch.as_tensor(f, dtype=torch.long) for f in saved["folds"]]
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise DatasetError(f"cannot read folds file {path} ({type(exc).__name__}: {exc})") from None
    if dataset is not None and saved.get("dataset", dataset) != dataset:
        raise DatasetError(f"folds in {path} are for dataset {saved['dataset']}, not {dataset}")
    joined = torch.cat(folds).sort().values if folds else torch.empty(0, dtype=torch.long)
    if not torch.equal(joined, torch.arange(num_graphs)):
        raise DatasetError(f"folds in {path} are not a partition of the {num_graphs} graphs of this dataset")
    return folds


def make_folds(config: RunConfig, data: GraphClassificationData,
               folds_file: Optional[str] = None) -> list[torch.Tensor]:
    """``config.folds`` stratified folds of ``data`` (drawn with ``config.seed``), or those of ``folds_file``."""
    if folds_file is not None:
        folds = load_folds(folds_file, len(data), config.dataset)
        if len(folds) != config.folds:
            raise ConfigError(f"{folds_file} holds {len(folds)} folds, --folds is {config.folds}")
        return folds
    smallest = int(torch.bincount(data.labels).min())
    if config.folds > len(data):
        raise ConfigError(f"--folds {config.folds}: {data.name} has only {len(data)} graphs")
    if config.folds > smallest:
        raise ConfigError(f"--folds {config.folds}: the smallest class of {data.name} has {smallest} graphs, "
                          "and stratified folds need one of each class per fold")
    return stratified_kfold(data.labels, config.folds, config.seed)


def saved_folds(path: str, data: GraphClassificationData, given: Optional[list[torch.Tensor]] = None
                ) -> list[torch.Tensor]:
    """The folds saved at ``path``, which must be the ``given`` ones (those of ``--folds-file``) if any."""
    saved = load_folds(path, len(data), data.name)
    if given is not None and [f.tolist() for f in saved] != [f.tolist() for f in given]:
        raise ConfigError(f"{path} holds other folds than --folds-file; choose another --out")
    return saved


def _shared_folds(run_dir: str, folds: list[torch.Tensor], data: GraphClassificationData,
                  given: bool) -> list[torch.Tensor]:
    """The folds of the run in ``run_dir``: saved on first use, then the same for every process."""
    path = os.path.join(run_dir, FOLDS_FILE)

    def read_or_write() -> list[torch.Tensor]:
        with folder_lock(run_dir, wait=True, name=SETUP_LOCK_FILE):
            if not os.path.exists(path):
                write_json(path, {"dataset": data.name, "folds": [f.tolist() for f in folds]})
                return folds
        return saved_folds(path, data, folds if given else None)

    return run_on_main(read_or_write)


def cross_validate(
    config: RunConfig,
    run_dir: str,
    folds_file: Optional[str] = None,
    only_fold: Optional[int] = None,
    resume: bool = False,
    progress: bool | Progress = False,
    tensorboard: bool = False,
) -> RepeatedResult:
    """Run ``config.folds``-fold stratified CV into ``run_dir/fold-I``.

    Folds are written to ``run_dir/folds.json`` (or read from ``folds_file``). With
    ``only_fold`` this process trains that fold alone; several such processes may share
    ``run_dir`` (same configuration and folds), each locking its own fold. With
    ``resume`` finished folds are kept and interrupted ones continued. ``summary.json``
    holds the test scores, selected epochs, mean and standard deviation of every
    finished fold (``finished`` of ``total``), whichever process finished it. ``progress``
    (see :class:`~dgl_diffpool.training.progress.Progress`) labels each fold's epochs
    ``fold I/N`` and says each fold's test score, and the mean so far, when it finishes.
    """
    if config.seeds > 1:
        raise ConfigError(f"cross_validate runs one seed, not {config.seeds}: repeat_assessment repeats it over seeds")
    init_from_env(config.device)  # under torchrun, rank 0 alone writes the folder from here on
    data = load_config_dataset(config)
    resolve_protocol(config, data)  # stops on datasets with binary targets
    build_config_model(config, data)  # a model that cannot be built stops before any folder exists
    folds = make_folds(config, data, folds_file)
    if only_fold is not None and not 0 <= only_fold < len(folds):
        raise ConfigError(f"fold must be in 0..{len(folds) - 1}, got {only_fold}")
    fold_splits(data, folds, config)  # an empty split stops before any folder exists

    join = only_fold is not None
    with run_folder(run_dir, config, resume, join=join) as existing:
        if existing and os.path.exists(os.path.join(run_dir, SELECTION_FILE)):
            raise RunFolderError(f"{run_dir} holds a model selection; continue it with --resume (and no --fold)")
        folds = _shared_folds(run_dir, folds, data, folds_file is not None)
        splits = fold_splits(data, folds, config)
        report, scores = Progress.of(progress), []
        for i in range(len(folds)) if only_fold is None else [only_fold]:
            fold_dir = os.path.join(run_dir, f"fold-{i}")
            done = run_on_main(lambda: finished_run(fold_dir, config))  # one answer for every rank
            if done is not None and not resume:
                raise RunFolderError(f"{fold_dir} has finished already; pass --resume to keep it")
            step = report.within(f"fold {i + 1}/{len(folds)}")
            if done is None:
                done = train(config, fold_dir, resume=resume, progress=step, data=data, splits=splits[i],
                             tensorboard=tensorboard)
            scores.append(done.test_score)
            if is_main_process():
                step.say(finished_line(done, scores, "fold"))
        return run_on_main(lambda: _summarise(run_dir, config, len(folds)))


def fold_splits(data: GraphClassificationData, folds: list[torch.Tensor],
                config: RunConfig) -> list[dict[str, torch.Tensor]]:
    """Each outer fold's training, validation and test split: the fold is the test split, the
    validation split a stratified ``config.val_fraction`` of the rest drawn with seed
    ``config.seed + i``; a split without graphs is refused for every fold before any trains."""
    splits = [fold_split(data.labels, fold, config.val_fraction, config.seed + i) for i, fold in enumerate(folds)]
    for split in splits:
        check_splits(split, data)
    return splits


def finished_line(run: RunResult, scores: list[float], unit: str) -> str:
    """``test accuracy 0.7000 (fold-2, selected epoch 12, validation 0.7100); mean of 3 folds so far 68.50``."""
    label = METRIC_LABELS[run.metric]
    return (f"test {label} {run.test_score:.4f} ({os.path.basename(run.run_dir)}, selected epoch {run.best_epoch + 1}, "
            f"validation {run.val_score:.4f}); mean of {len(scores)} {unit}{'s' if len(scores) > 1 else ''} so far "
            f"{100 * statistics.fmean(scores):.2f}")


def _summarise(run_dir: str, config: RunConfig, total: int) -> RepeatedResult:
    """Every fold finished so far, by this process or another, into ``summary.json``."""
    with folder_lock(run_dir, wait=True, name=SETUP_LOCK_FILE):
        found = {i: finished_run(os.path.join(run_dir, f"fold-{i}"), config) for i in range(total)}
        ids = [i for i, run in found.items() if run is not None]
        result = RepeatedResult(run_dir, [found[i] for i in ids])
        result.write_summary(config, "fold", ids, total, folds=total)
    return result
