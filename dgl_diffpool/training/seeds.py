"""Repeating a run over seeds: a hold-out or official-split run (OGB's protocol: mean and std
over seeds), or a whole cross-validation, with or without model selection (how far the
10-fold mean of an assessment moves with its seed)."""
from __future__ import annotations

import dataclasses
import json
import os
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import ConfigError, DatasetError
from .config import RunConfig
from .cross_validation import FOLDS_FILE, RepeatedResult, cross_validate, finished_line, finished_run
from .distributed import init_from_env, is_main_process, run_on_main
from .engine import train
from .preflight import build_config_model, load_config_dataset, prepare_run
from .progress import Progress
from .rundir import SELECTION_FILE, SETUP_LOCK_FILE, SUMMARY_FILE, folder_lock, read_json, run_folder, write_json
from .selection import select_and_assess, without_password
from .space import SearchSpace


def repeat_seeds(config: RunConfig, run_dir: str, resume: bool = False, progress: bool | Progress = False,
                 tensorboard: bool = False) -> RepeatedResult:
    """Train ``config.seeds`` runs with seeds ``config.seed + i`` into ``run_dir/seed-S``.

    The dataset is loaded once (the built-in one with ``config.data_seed``, so every
    seed trains on the same graphs); on an official split every run sees the same
    split, on a hold-out split each seed draws its own. With ``resume`` finished seeds
    are kept and an interrupted one continued. ``summary.json`` holds each seed's test
    score and their mean and standard deviation. ``progress`` as in
    :func:`~dgl_diffpool.training.cross_validation.cross_validate`, per seed.
    """
    init_from_env(config.device)  # under torchrun, rank 0 alone writes the folder from here on
    data = load_config_dataset(config)
    runs = [dataclasses.replace(config, seed=config.seed + i, seeds=1) for i in range(config.seeds)]
    splits = [prepare_run(one, data)[1] for one in runs]  # protocol problems stop here
    build_config_model(config, data)
    results, report = [], Progress.of(progress)
    with run_folder(run_dir, config, resume):
        for i, (one, split) in enumerate(zip(runs, splits)):
            seed_dir = os.path.join(run_dir, f"seed-{one.seed}")
            step = report.within(f"seed {i + 1}/{len(runs)}")
            done = run_on_main(lambda: finished_run(seed_dir, one))  # one answer for every rank
            if done is None:
                done = train(one, seed_dir, resume=resume, progress=step, data=data, splits=split,
                             tensorboard=tensorboard)
            results.append(done)
            if is_main_process():
                step.say(finished_line(done, [r.test_score for r in results], "seed"))
        result = RepeatedResult(run_dir, results)
        result.write_summary(config, "seed", [one.seed for one in runs], len(runs))
    return result


@dataclass(frozen=True)
class Assessment:
    """How every seed of :func:`repeat_assessment` is assessed: a cross-validation, with model
    selection in every fold when ``space`` is given (see
    :func:`~dgl_diffpool.training.selection.select_and_assess` for the other fields)."""

    space: Optional[SearchSpace] = None
    final_runs: int = 3
    jobs: int = 1
    storage: Optional[str] = None
    prune: bool = False
    folds_file: Optional[str] = None

    def record(self) -> dict[str, Any]:
        """What the repeated run's ``selection.json`` holds (the keys of a selection's own file
        that a resume reads back)."""
        return {"space": self.space.to_dict(), "final_runs": self.final_runs, "prune": self.prune,
                "storage": None if self.storage is None else without_password(self.storage)}


def repeat_assessment(config: RunConfig, run_dir: str, assessment: Assessment = Assessment(), resume: bool = False,
                      progress: bool | Progress = False, echo: Callable[[str], None] = print,
                      tensorboard: bool = False) -> dict[str, Any]:
    """Repeat a whole ``config.folds``-fold assessment with seeds ``config.seed + i`` into
    ``run_dir/seed-S``; returns ``summary.json``.

    The seed draws everything random in an assessment: its outer folds (unless
    ``assessment.folds_file`` fixes them for every seed; they are kept in
    ``run_dir/folds.json``), inner splits, initialisations and batch order. Each seed's
    folder is a complete run of its own (``cross_validate`` or ``select_and_assess``, with
    their files). ``summary.json``, rewritten as each seed finishes, holds every finished
    seed's mean and std over folds, and over seeds the mean of those means, their population
    std and ``spread`` (largest minus smallest mean). With ``resume`` finished seeds are
    kept and an interrupted one continues, with the recorded selection and folds.
    """
    if config.seeds < 2:
        raise ConfigError(f"a repeated assessment needs at least 2 seeds, got {config.seeds}")
    init_from_env(config.device)  # under torchrun, rank 0 alone writes the folder from here on
    runs = [dataclasses.replace(config, seed=config.seed + i, seeds=1) for i in range(config.seeds)]
    selecting, report = assessment.space is not None, Progress.of(progress)
    with run_folder(run_dir, config, resume) as existing:
        folds_file = run_on_main(lambda: _check_record(run_dir, assessment.record() if selecting else None,
                                                       assessment.folds_file, existing))
        rows: list[dict[str, Any]] = []
        for i, one in enumerate(runs):
            label = f"seed {i + 1}/{len(runs)}"
            seed_dir, step = os.path.join(run_dir, f"seed-{one.seed}"), report.within(label)
            if selecting:  # one shared storage holds every seed's studies; a seed's own file, only its own
                assessed = select_and_assess(
                    one, assessment.space, seed_dir, assessment.final_runs, assessment.jobs, assessment.storage,
                    folds_file, resume=resume, progress=step if assessment.jobs == 1 else False,
                    echo=lambda line: echo(f"{label}: {line}"), prune=assessment.prune,
                    study_prefix=f"seed-{one.seed}/" if assessment.storage else "")
            else:
                result = cross_validate(one, seed_dir, folds_file, resume=resume, progress=step,
                                        tensorboard=tensorboard)
                assessed = {"metric": result.metric, "test_score_mean": result.mean, "test_score_std": result.std}
            rows.append(_seed_row(one.seed, assessed))
            summary = _summary(config, assessed["metric"], rows, len(runs), selecting)
            run_on_main(lambda: write_json(os.path.join(run_dir, SUMMARY_FILE), summary))
            if is_main_process():
                step.say(f"test {100 * assessed['test_score_mean']:.2f} +- {100 * assessed['test_score_std']:.2f} "
                         f"over {config.folds} folds; mean of {len(rows)} seed{'s' if len(rows) > 1 else ''} "
                         f"so far {100 * summary['test_score_mean']:.2f}")
    return summary


def _check_record(run_dir: str, record: Optional[dict[str, Any]], folds_file: Optional[str],
                  existing: bool) -> Optional[str]:
    """The selection (``record``; ``None``: none) and the folds every seed shares, written once;
    a resumed run must ask for the same ones, so that its seeds are assessed alike. Returns the
    folds file the seeds read (``None``: each draws its own)."""
    path, shared = os.path.join(run_dir, SELECTION_FILE), os.path.join(run_dir, FOLDS_FILE)
    with folder_lock(run_dir, wait=True, name=SETUP_LOCK_FILE):
        saved = read_json(path) if os.path.exists(path) else None
        if existing and (saved is None) != (record is None):
            kind = "without" if saved is None else "with"
            raise ConfigError(f"{run_dir} repeats a cross-validation {kind} model selection; resume it as it was")
        if saved is not None and saved != json.loads(json.dumps(record)):
            raise ConfigError(f"{run_dir} repeats a selection with another search space, number of final runs, "
                              "storage or pruning")
        given = None if folds_file is None else _read_folds(folds_file)
        if existing and given is not None and (not os.path.exists(shared) or read_json(shared) != given):
            raise ConfigError(f"{run_dir} repeats a cross-validation on other folds than those of {folds_file}; "
                              "resume it without --folds-file")
        if saved is None and record is not None:
            write_json(path, record)
        if given is not None and not existing:
            write_json(shared, given)
    return shared if os.path.exists(shared) else None


def _read_folds(path: str) -> Any:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read folds file {path} ({type(exc).__name__}: {exc})") from None


def _seed_row(seed: int, summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("test_score_mean", "test_score_std", "single_run_mean", "ensemble_mean")
    return {"seed": seed, **{k: summary[k] for k in keys if k in summary}}


def _summary(config: RunConfig, metric: str, rows: list[dict[str, Any]], total: int,
             selecting: bool) -> dict[str, Any]:
    means = [r["test_score_mean"] for r in rows]
    over_seeds = {}
    for key in ("single_run_mean", "ensemble_mean"):  # a selection's other measures, averaged over seeds
        values = [r.get(key) for r in rows]
        if None not in values:
            over_seeds[key] = statistics.fmean(values)
    return {
        "dataset": config.resolved().dataset, "model": config.model, "metric": metric, "folds": config.folds,
        "selection": selecting, "finished": len(rows), "total": total,
        "test_score_mean": statistics.fmean(means), "test_score_std": statistics.pstdev(means),
        "spread": max(means) - min(means), **over_seeds, "per_seed": rows,
    }
