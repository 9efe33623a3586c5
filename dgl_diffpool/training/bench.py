"""The paper's comparison table: every model on every dataset, same folds and seeds.

``out/DATASET/folds.json`` fixes the folds of a dataset for every model;
``out/DATASET/MODEL/`` holds the pair's cross-validation run and ``pair.json``
(scores, times) once it has finished, so a rerun skips it. Of its times, ``seconds`` is the wall
time of the invocation that finished the pair (not of earlier, interrupted ones), ``train_seconds``
the sum of every epoch of every training it kept, whichever invocation ran it. ``table.md``,
``table.csv`` and ``results.json`` are rewritten after every pair.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import shutil
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ..data.storage import atomic_write_text
from ..errors import ConfigError
from ..names import BENCH_MODELS, OGB_DATASETS, resolve_dataset_name
from .config import RunConfig
from .cross_validation import cross_validate, fold_splits, load_folds, make_folds
from .preflight import load_config_dataset, resolve_protocol
from .progress import Progress
from .rundir import write_json
from .kernel_svm import C_GRID, KERNELS, kernel_cross_validate, kernel_matrix
from .selection import select_and_assess
from .space import KERNEL_OPTION, load_space

SETTINGS_FILE = "bench.json"
# Fields that belong to a pair or to where it runs, not to the shared settings of a bench.
_PAIR_FIELDS = ("dataset", "model", "device", "data_dir", "mirror")
BASELINE, HEADLINE = "sage-mean", "diffpool"


@dataclass(frozen=True)
class Selection:
    """Model selection for every pair: the search space (a YAML file, or ``default`` for each
    model's own), final runs per fold, worker processes, the Optuna storage URL and whether
    Optuna's median pruner stops trailing candidates."""

    space: str
    final_runs: int = 3
    jobs: int = 1
    storage: Optional[str] = None
    prune: bool = False


def _check_settings(out: str, base: RunConfig, selection: Optional[Selection] = None) -> None:
    """A bench directory holds one set of settings; a rerun with others would mix tables.

    Options newer than the bench's settings file count as agreeing when they are at
    their defaults (the earlier pairs ran without them).
    """
    settings = {k: v for k, v in base.to_dict().items() if k not in _PAIR_FIELDS}
    settings.update(select=None if selection is None else selection.space,
                    final_runs=None if selection is None else selection.final_runs,
                    prune=selection is not None and selection.prune)  # pruning changes which candidate wins
    path = os.path.join(out, SETTINGS_FILE)
    if os.path.exists(path):
        with open(path) as fh:
            saved = json.load(fh)
        defaults = {**RunConfig().to_dict(), "select": None, "final_runs": None, "prune": False}
        diff = [f"{k}: {saved.get(k, defaults[k])!r} != {v!r}" for k, v in settings.items()
                if saved.get(k, defaults[k]) != v]
        if diff:
            raise ConfigError(f"{out} holds a bench with other settings ({'; '.join(diff)}); choose another --out")
    else:
        write_json(path, settings)


def _dataset_folds(config: RunConfig, out: str) -> tuple[Any, list, str]:
    """The dataset and its folds (``out/DATASET/folds.json``, drawn the first time). No model's
    precomputed node data: the folds and the kernels need none, and each GNN's run loads its own."""
    data = load_config_dataset(dataclasses.replace(config, model=BASELINE))
    resolve_protocol(dataclasses.replace(config, protocol="cv"), data)  # binary-target datasets stop here
    path = os.path.join(out, config.dataset, "folds.json")
    if os.path.exists(path):
        folds = load_folds(path, len(data), config.dataset)
    else:
        folds = make_folds(config, data)
        write_json(path, {"dataset": config.dataset, "folds": [f.tolist() for f in folds]})
    return data, folds, path


def run_pair(config: RunConfig, model: str, out: str, data: Any, folds: list, folds_path: str,
             progress: bool | Progress, selection: Optional[Selection] = None,
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Cross-validate ``model`` on ``config.dataset`` into ``out/DATASET/MODEL``; returns its ``pair.json``.

    A GNN trains with ``config`` (its ``model`` set to ``model``), or with ``selection``
    selects a configuration in every fold (:func:`~dgl_diffpool.training.selection.select_and_assess`);
    a kernel uses its folds, validation fraction and seed, its C chosen from the space's
    ``C`` values under ``selection`` (the same inner split as the GNNs').
    """
    pair_dir = os.path.join(out, config.dataset, model)
    tick = time.perf_counter()
    if model in KERNELS:
        fold_splits(data, folds, config)  # the kernels select C on the GNNs' inner splits: none may be empty
        os.makedirs(pair_dir, exist_ok=True)
        gram = kernel_matrix(model, data, config.seed)
        grid = C_GRID if selection is None else load_space(selection.space, model, kernel=True).options[KERNEL_OPTION]
        summary = kernel_cross_validate(gram, data.labels, folds, config.val_fraction, config.seed, grid)
        write_json(os.path.join(pair_dir, "summary.json"), {"dataset": config.dataset, "model": model, **summary})
    elif selection is not None:
        config = dataclasses.replace(config, model=model)
        summary = select_and_assess(config, load_space(selection.space, model), pair_dir, selection.final_runs,
                                    selection.jobs, selection.storage, folds_path, resume=True,
                                    progress=progress if selection.jobs == 1 else False, echo=echo,
                                    study_prefix=f"{config.dataset}/{model}/", prune=selection.prune)
    else:
        config = dataclasses.replace(config, model=model)
        cross_validate(config, pair_dir, folds_path, resume=True, progress=progress)
        with open(os.path.join(pair_dir, "summary.json")) as fh:
            summary = json.load(fh)
    pair = {"dataset": config.dataset, "model": model, "mean": summary["test_score_mean"],
            "std": summary["test_score_std"], "per_fold": [r["test_score"] for r in summary["per_fold"]],
            "seconds": time.perf_counter() - tick, **epoch_times(pair_dir)}
    write_json(os.path.join(pair_dir, "pair.json"), pair)
    return pair


def epoch_times(folder: str) -> dict[str, Optional[float]]:
    """``epoch_seconds``, the median wall time of one epoch (training pass and validation), and
    ``train_seconds``, their sum, over every training run under ``folder`` (folds, candidates,
    final runs); ``None`` where nothing trained by epochs (kernels). The median, because an epoch
    during which the machine was paused or shared would move a mean by its whole delay."""
    times = []
    for root, _, files in os.walk(folder):
        if "metrics.jsonl" in files:
            with open(os.path.join(root, "metrics.jsonl")) as fh:
                times += [json.loads(line)["seconds"] for line in fh if line.strip()]
    return {"epoch_seconds": statistics.median(times) if times else None,
            "train_seconds": math.fsum(times) if times else None}


def finished_pair(out: str, dataset: str, model: str) -> Optional[dict[str, Any]]:
    """A finished pair's ``pair.json``, its timings recomputed from its runs' metrics: a pair
    written by an earlier version (a mean epoch, no ``train_seconds``) reads as this one's."""
    pair_dir = os.path.join(out, dataset, model)
    path = os.path.join(pair_dir, "pair.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return {**json.load(fh), **epoch_times(pair_dir)}


def run_bench(
    base: RunConfig,
    datasets: Sequence[str],
    models: Sequence[str],
    out: str,
    progress: bool | Progress = False,
    echo: Callable[[str], None] = print,
    selection: Optional[Selection] = None,
) -> list[dict[str, Any]]:
    """Cross-validate every model on every dataset (skipping finished pairs) and write the tables;
    with ``selection`` every model gets the same selection in every fold."""
    unknown = [m for m in models if m not in BENCH_MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(BENCH_MODELS)}")
    if not datasets or not models:
        raise ConfigError("bench needs at least one dataset and one model")
    datasets = [resolve_dataset_name(d) for d in datasets]  # an unknown name stops here, with suggestions
    ogb = [d for d in datasets if d in OGB_DATASETS]
    if ogb:
        raise ConfigError(f"bench cross-validates, and {', '.join(ogb)} come(s) with an official split: "
                          "use dgl-diffpool train --dataset NAME --seeds N instead")
    repeated = sorted({n for names in (datasets, models) for n in names if list(names).count(n) > 1})
    if repeated:
        raise ConfigError(f"{', '.join(repeated)} given twice; name each dataset and model once")
    base = dataclasses.replace(base, protocol="cv")
    if selection is not None:  # every model's space, before anything runs
        for model in models:
            load_space(selection.space, model, kernel=model in KERNELS)
    settings_path = os.path.join(out, SETTINGS_FILE)
    created = [p for p in (out, settings_path, *(os.path.join(out, d) for d in datasets)) if not os.path.exists(p)]
    os.makedirs(out, exist_ok=True)
    _check_settings(out, base, selection)
    try:
        return _run_pairs(base, datasets, models, out, progress, echo, selection)
    except ConfigError:
        # Bad input found by the first pair (too many folds, a model these graphs cannot take): a new
        # bench's settings would lock the folder to it, so what this call made goes, unless something ran.
        if settings_path in created and not _anything_ran(out):
            for path in created:  # the folder itself first, if this call made it
                if os.path.isdir(path):
                    shutil.rmtree(path)
                elif os.path.exists(path):
                    os.remove(path)
        raise


def _anything_ran(out: str) -> bool:
    return any("metrics.jsonl" in files or "pair.json" in files for _, _, files in os.walk(out))


def _run_pairs(base: RunConfig, datasets: Sequence[str], models: Sequence[str], out: str,
               progress: bool | Progress, echo: Callable[[str], None],
               selection: Optional[Selection]) -> list[dict[str, Any]]:
    pairs, total, done = [], len(datasets) * len(models), 0
    for dataset in datasets:
        data = folds = folds_path = None
        for model in models:
            done += 1
            pair = finished_pair(out, dataset, model)
            if pair is not None:
                echo(f"[{done}/{total}] {dataset} {model}: finished earlier, "
                     f"{100 * pair['mean']:.2f} +- {100 * pair['std']:.2f}")
            else:
                config = dataclasses.replace(base, dataset=dataset)
                if data is None:
                    data, folds, folds_path = _dataset_folds(config, out)
                echo(f"[{done}/{total}] {dataset} {model}: {len(folds)}-fold cross-validation ...")
                pair = run_pair(config, model, out, data, folds, folds_path, progress, selection, echo)
                trained = "" if pair["train_seconds"] is None else f"; {pair['train_seconds']:.0f} s of epochs in all"
                echo(f"[{done}/{total}] {dataset} {model}: {100 * pair['mean']:.2f} +- {100 * pair['std']:.2f} "
                     f"({pair['seconds']:.0f} s{trained})")
            pairs.append(pair)
            write_tables(pairs, out, datasets, models)
    return pairs


def relative_gains(pairs: Sequence[dict[str, Any]], datasets: Sequence[str]) -> dict[str, float]:
    """Per dataset, the relative gain in % of ``diffpool`` over ``sage-mean`` (both must have run)."""
    score = {(p["dataset"], p["model"]): p["mean"] for p in pairs}
    return {d: 100 * (score[d, HEADLINE] - score[d, BASELINE]) / score[d, BASELINE]
            for d in datasets if (d, HEADLINE) in score and (d, BASELINE) in score and score[d, BASELINE] > 0}


def format_table(pairs: Sequence[dict[str, Any]], datasets: Sequence[str], models: Sequence[str]) -> str:
    """Markdown: models as rows, datasets as columns, mean +- std accuracy in % and seconds per
    epoch, then DiffPool's gain over the mean-pool baseline in accuracy and its cost in time."""

    def cell(p: dict[str, Any]) -> str:
        time_per_epoch = "" if p.get("epoch_seconds") is None else f" ({p['epoch_seconds']:.2f} s/epoch)"
        return f"{100 * p['mean']:.2f} ± {100 * p['std']:.2f}{time_per_epoch}"

    cells = {(p["dataset"], p["model"]): cell(p) for p in pairs}
    lines = ["| model | " + " | ".join(datasets) + " |", "| --- |" + " ---: |" * len(datasets)]
    for m in models:
        lines.append(f"| {m} | " + " | ".join(cells.get((d, m), "") for d in datasets) + " |")
    gains = relative_gains(pairs, datasets)
    if gains:
        lines.append("")
        lines.append(f"Relative gain of {HEADLINE} over {BASELINE}: {statistics.fmean(gains.values()):+.1f}% "
                     "on average (" + ", ".join(f"{d} {g:+.1f}%" for d, g in gains.items()) + ")")
    ratios = time_ratios(pairs, datasets)
    if ratios:
        lines.append(f"Seconds per epoch of {HEADLINE} over {BASELINE}: x{statistics.fmean(ratios.values()):.2f} "
                     "on average (" + ", ".join(f"{d} x{r:.2f}" for d, r in ratios.items()) + ")")
    return "\n".join(lines)


def time_ratios(pairs: Sequence[dict[str, Any]], datasets: Sequence[str]) -> dict[str, float]:
    """Per dataset, the headline model's seconds per epoch divided by the baseline's."""
    per_epoch = {(p["dataset"], p["model"]): p.get("epoch_seconds") for p in pairs}
    return {d: per_epoch[d, HEADLINE] / per_epoch[d, BASELINE] for d in datasets
            if per_epoch.get((d, HEADLINE)) and per_epoch.get((d, BASELINE))}


def write_tables(pairs: Sequence[dict[str, Any]], out: str, datasets: Sequence[str], models: Sequence[str]) -> None:
    """``table.md``, ``table.csv`` (one row per pair) and ``results.json`` in ``out``."""
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["dataset", "model", "mean", "std", "folds", "seconds", "seconds_per_epoch", "train_seconds"])
    for p in pairs:
        per_epoch = "" if p.get("epoch_seconds") is None else f"{p['epoch_seconds']:.4f}"
        trained = "" if p.get("train_seconds") is None else f"{p['train_seconds']:.1f}"
        writer.writerow([p["dataset"], p["model"], f"{p['mean']:.6f}", f"{p['std']:.6f}", len(p["per_fold"]),
                         f"{p['seconds']:.1f}", per_epoch, trained])
    for name, text in (("table.md", format_table(pairs, datasets, models) + "\n"), ("table.csv", rows.getvalue())):
        atomic_write_text(os.path.join(out, name), text)
    write_json(os.path.join(out, "results.json"), {"pairs": list(pairs), "gains": relative_gains(pairs, datasets),
                                                          "time_ratios": time_ratios(pairs, datasets)})


__all__ = ["BENCH_MODELS", "Selection", "epoch_times", "format_table", "relative_gains", "run_bench", "run_pair",
           "time_ratios"]
