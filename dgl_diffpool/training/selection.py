"""Model selection inside every outer fold, assessed by averaged final runs (Errica et al., ICLR 2020).

For each stratified outer fold ``i`` the outer training graphs are split (stratified) into an
inner training and an inner validation part, saved in ``folds.json``. Every candidate of the
search space trains on the inner training part and is scored by its best epoch on the inner
validation part; the test fold is not used. The best candidate (ties: the earlier one) then
trains ``final_runs`` times from scratch with other seeds, early-stopping on the same inner
validation part, and each final run scores the test fold once; the fold's score is their mean.

The bookkeeping is Optuna's: per fold a study ``fold-I`` (one trial per candidate) and a study
``fold-I-final`` (one per final run), in ``RUN_DIR/selection.db`` or in a database that workers
on several machines share. A worker claims the next training with ``study.ask()`` (finals of a
fold as soon as its selection is complete), trains it into ``fold-I/candidate-J`` or
``fold-I/final-R`` and records the score with ``study.tell()``. A training's seed comes from
(seed, fold, candidate, repeat), never from the worker, so the results do not depend on how
many workers there are. A trial whose worker died (its folder is no longer locked) is put back
and resumes from its last checkpoint.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import multiprocessing
import os
import signal
import socket
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import torch

from ..data import GraphClassificationData
from ..errors import ConfigError, DiffPoolError, RunFolderError, TrainingError
from .config import RunConfig
from .cross_validation import FOLDS_FILE, fold_splits, load_folds, make_folds, saved_folds
from .engine import PREDICTIONS_FILE, train
from .metrics import score
from .device import resolve_device
from .preflight import build_config_model, load_config_dataset, resolve_protocol
from .progress import Progress
from .rundir import (LAST, SELECTION_FILE, SETUP_LOCK_FILE, STOPPED_FILE, SUMMARY_FILE, folder_lock, read_json,
                     run_folder, saved_config, write_json)
from .space import SearchSpace, apply

STORAGE_FILE = "selection.db"
STALE_AFTER = datetime.timedelta(seconds=60)
PRUNE_AFTER_EPOCHS = 10
_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def _alive_since(pid: int, since: datetime.datetime) -> bool:
    """Whether process ``pid`` exists and was started by ``since`` (a naive local time): a
    process started later only reuses the number, as after a reboot or on a new machine of the
    same name, to which a copied run folder moved."""
    import psutil

    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    return started <= since.timestamp() + 1.0  # create_time counts in clock ticks


@dataclass
class Plan:
    """What a selection trains: shared by every worker, rebuilt from the run folder."""

    config: RunConfig
    space: SearchSpace
    final_runs: int
    run_dir: str
    storage: str
    prefix: str = ""  # of the study names: several selections (a bench's pairs) in one database
    prune: bool = False
    devices: tuple[str, ...] = ()  # one per worker (CUDA: one job per device); empty: config.device

    def study(self, storage, fold: int, final: bool = False):
        return _study(storage, f"{self.prefix}fold-{fold}{'-final' if final else ''}")

    def candidates(self) -> list[dict[str, Any]]:
        return self.space.candidates(self.config.seed)

    def to_dict(self) -> dict[str, Any]:
        """``selection.json``: what a resumed selection must match. The storage is ``None`` for the
        run folder's own file, else its URL without the password."""
        storage = None if self.storage == default_storage(self.run_dir) else without_password(self.storage)
        return {"space": self.space.to_dict(), "candidates": self.candidates(), "final_runs": self.final_runs,
                "storage": storage, "prune": self.prune}


def without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL: _storage names the problem when it is opened
        return url


@dataclass(frozen=True)
class SavedSelection:
    """What ``selection.json`` of a run folder records (see :meth:`Plan.to_dict`)."""

    space: SearchSpace
    final_runs: int
    storage: Optional[str]
    prune: bool


def saved_selection(run_dir: str) -> Optional[SavedSelection]:
    """The recorded selection of ``run_dir``, if it holds one (files from before storage and
    pruning were recorded: the run folder's own storage, no pruning)."""
    path = os.path.join(run_dir, SELECTION_FILE)
    if not os.path.exists(path):
        return None
    saved = read_json(path)
    return SavedSelection(SearchSpace(**saved["space"]), saved["final_runs"], saved.get("storage"),
                          saved.get("prune", False))


def training_seed(seed: int, fold: int, candidate: int, repeat: int) -> int:
    """The seed of one training, from what it is and never from who trains it."""
    return int(np.random.SeedSequence([seed % 2**32, fold, candidate, repeat]).generate_state(1)[0] % 2**31)


def default_storage(run_dir: str) -> str:
    return "sqlite:///" + os.path.abspath(os.path.join(run_dir, STORAGE_FILE))


def _storage(url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {"connect_args": {"timeout": 300}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as exc:  # SQLAlchemy's errors for a bad URL or an unreachable database
        raise ConfigError(f"cannot open storage {url} ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def _study(storage, name: str):
    import optuna

    # Used only with prune: after two finished candidates, stop one that trails their median from epoch 10 on.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=PRUNE_AFTER_EPOCHS)
    return optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True,
                               pruner=pruner)


def _setup(plan: Plan, data: GraphClassificationData, folds: list[torch.Tensor], given: bool) -> list[torch.Tensor]:
    """Folds, inner splits and studies, written once; a rerun checks they are the same."""
    path = os.path.join(plan.run_dir, FOLDS_FILE)
    with folder_lock(plan.run_dir, wait=True, name=SETUP_LOCK_FILE):
        selection = os.path.join(plan.run_dir, SELECTION_FILE)
        if os.path.exists(selection):
            saved, wanted = read_json(selection), json.loads(json.dumps(plan.to_dict()))
            saved = {"storage": None, "prune": False, **saved}  # files from before these were recorded
            if saved != wanted:
                raise ConfigError(f"{plan.run_dir} holds a selection with another search space, number of final "
                                  "runs, storage or pruning")
        else:
            write_json(selection, plan.to_dict())
        if os.path.exists(path):
            folds = saved_folds(path, data, folds if given else None)
        else:
            inner = fold_splits(data, folds, plan.config)
            write_json(path, {"dataset": data.name, "folds": [f.tolist() for f in folds],
                              "inner_valid": [s["valid"].tolist() for s in inner]})
        storage, count = _storage(plan.storage), len(plan.candidates())
        for i in range(len(folds)):
            _enqueue_missing(plan.study(storage, i), "candidate", count)
            _enqueue_missing(plan.study(storage, i, final=True), "repeat", plan.final_runs)
    return folds


def _enqueue_missing(study, key: str, count: int) -> None:
    """Enqueue each ``key`` index (candidate or repeat) below ``count`` that no trial holds, waiting,
    running or finished: what a setup cut short never enqueued, or a dead worker's training
    failed by a process killed before it put it back. Called under the run's setup lock."""
    from optuna.trial import TrialState

    held = {t.user_attrs[key] for t in study.get_trials(deepcopy=False) if _key(t) == key and (
        t.state != TrialState.FAIL or "diverged" in t.user_attrs)}  # waiting, running or finished
    for index in range(count):
        if index not in held:
            study.enqueue_trial({}, user_attrs={key: index})


def _key(trial) -> Optional[str]:
    return "candidate" if "candidate" in trial.user_attrs else "repeat" if "repeat" in trial.user_attrs else None


def _finished(study) -> dict[int, Any]:
    """Per candidate (or repeat) index, its finished trial: scored, pruned (no score) or diverged."""
    from optuna.trial import TrialState

    done = {}
    for t in study.get_trials(deepcopy=False):
        key = _key(t)
        if key is not None and (t.state in (TrialState.COMPLETE, TrialState.PRUNED) or "diverged" in t.user_attrs):
            done[t.user_attrs[key]] = t
    return done


def chosen_candidate(study, count: int) -> Optional[int]:
    """The best candidate of a complete selection (ties: the earlier one; a pruned candidate, whose
    score is that of the epoch it stopped at, is not chosen), ``None`` until complete."""
    done = _finished(study)
    if len(done) < count:
        return None
    from optuna.trial import TrialState

    scored = [(t.value, -j) for j, t in done.items() if t.state == TrialState.COMPLETE]
    if not scored:
        raise TrainingError(f"every candidate of {study.study_name} diverged")
    return -max(scored)[1]


class _Pruned(Exception):
    """Raised from a candidate's epoch when Optuna's pruner stops it."""


class _Worker:
    """Claims trainings from the studies until none is left, in one process."""

    def __init__(self, plan: Plan, echo: Callable[[str], None], progress: bool | Progress, jobs: int, index: int = 0,
                 data: Optional[GraphClassificationData] = None) -> None:
        self.plan, self.echo, self.progress, self.jobs = plan, echo, progress, jobs
        self.device = plan.devices[index % len(plan.devices)] if plan.devices else plan.config.device
        self.data = data if data is not None else load_config_dataset(plan.config)  # a worker process loads its own
        self.folds = load_folds(os.path.join(plan.run_dir, FOLDS_FILE), len(self.data), self.data.name)
        self.inner = fold_splits(self.data, self.folds, plan.config)
        self.storage = _storage(plan.storage)
        self.candidates = plan.candidates()
        self.studies = [(plan.study(self.storage, i), plan.study(self.storage, i, final=True))
                        for i in range(len(self.folds))]
        self.total = len(self.folds) * (len(self.candidates) + plan.final_runs)
        self.whole: list[float] = []  # seconds of the trainings this worker ran from their start
        self.claim_id = uuid.uuid4().hex  # tells its claims from those of an earlier worker of this process

    def _claim(self):
        """(study, trial, fold, final) of the next training, or ``None`` if nothing can start now."""
        from optuna.trial import TrialState

        for final in (True, False):  # finals first: they finish folds
            for i, (select, finals) in enumerate(self.studies):
                study = finals if final else select
                if final and chosen_candidate(select, len(self.candidates)) is None:
                    continue
                if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                    continue
                trial = study.ask()
                if _key(trial) is None:  # another worker took the last waiting one first
                    study.tell(trial, state=TrialState.FAIL)
                    continue
                trial.set_user_attr("worker", _WORKER)
                trial.set_user_attr("claim", self.claim_id)
                return study, trial, i, final
        return None

    def _requeue_stale(self) -> None:
        """Put back trials whose worker died: a process of this machine that is gone, or, for
        another machine's, a trial running for a while whose folder nobody locks; and any
        training no trial holds (see :func:`_enqueue_missing`)."""
        from optuna.trial import TrialState
        from optuna.exceptions import UpdateFinishedTrialError

        now = datetime.datetime.now()
        for i, pair in enumerate(self.studies):
            for study, key, count in zip(pair, ("candidate", "repeat"), (len(self.candidates), self.plan.final_runs)):
                for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                    if _key(t) is None or not self._dead(t, i, now):
                        continue
                    try:
                        self.storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
                    except UpdateFinishedTrialError:
                        pass  # another worker put it back, or it finished meanwhile
                _enqueue_missing(study, key, count)  # what was failed, here or by a process killed since

    def _dead(self, trial, fold: int, now: datetime.datetime) -> bool:
        host, _, pid = trial.user_attrs.get("worker", "").rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            if int(pid) == os.getpid():  # claimed by an earlier, interrupted worker of this process (from Python)
                return trial.user_attrs.get("claim") != self.claim_id
            return not _alive_since(int(pid), trial.datetime_start)  # a running trial has a start
        if trial.datetime_start is None or now - trial.datetime_start < STALE_AFTER:
            return False  # claimed moments ago: its folder may not be locked yet
        folder = self._folder(fold, _key(trial), trial.user_attrs[_key(trial)])
        if os.path.isdir(folder):
            try:
                with folder_lock(folder):
                    pass
            except RunFolderError:
                return False
        return True

    def _folder(self, fold: int, key: str, index: int) -> str:
        kind = "candidate" if key == "candidate" else "final"
        return os.path.join(self.plan.run_dir, f"fold-{fold}", f"{kind}-{index}")

    def _done(self) -> int:
        return sum(len(_finished(s)) for pair in self.studies for s in pair)

    def run(self) -> None:
        with self._serialised():
            self._requeue_stale()
        while True:
            with self._serialised():
                claim = self._claim()
                if claim is None and self._done() < self.total:
                    self._requeue_stale()
            if claim is None:
                if self._done() == self.total:
                    return
                time.sleep(1.0)
                continue
            self._train(*claim)

    def _serialised(self):
        """One worker at a time claims or puts back trials. SQLite ignores the row locks Optuna's
        state changes rely on: two workers could take the same waiting trial, or put back the
        same dead one twice, and then train one candidate twice at once."""
        return folder_lock(self.plan.run_dir, wait=True, name=SETUP_LOCK_FILE)

    def _train(self, study, trial, fold: int, final: bool) -> None:
        config = self.plan.config
        if final:
            repeat = trial.user_attrs["repeat"]
            index = chosen_candidate(self.studies[fold][0], len(self.candidates))
            splits = {**self.inner[fold], "test": self.folds[fold]}
            folder = self._folder(fold, "repeat", repeat)
        else:
            repeat, index = 0, trial.user_attrs["candidate"]
            splits = {k: v for k, v in self.inner[fold].items() if k != "test"}
            folder = self._folder(fold, "candidate", index)
        # Candidates train with repeat 0, final runs with 1, 2, ...: from scratch, not a copy of the candidate.
        one = dataclasses.replace(apply(config, self.candidates[index]), device=self.device,
                                  seed=training_seed(config.seed, fold, index, repeat + 1 if final else 0))
        what = (f"fold {fold} final run {repeat}" if final else f"fold {fold} candidate {index}") + \
            f" ({', '.join(f'{k}={v}' for k, v in self.candidates[index].items())})"
        from optuna.trial import TrialState

        def report(row: dict[str, Any]) -> None:  # the pruner sees each epoch's inner validation score
            trial.report(row[f"val_{self.data.task.metric}"], row["epoch"])
            if trial.should_prune():
                raise _Pruned()

        # A resumed training's time says nothing of a whole one's: it stays out of the ETA.
        started = None if os.path.exists(os.path.join(folder, LAST)) else time.monotonic()
        try:
            result = train(one, folder, resume=True, progress=Progress.of(self.progress).within(what),
                           data=self.data, splits=splits,
                           on_epoch_end=report if self.plan.prune and not final else None)
        except TrainingError as exc:  # a candidate that diverges loses; it does not stop the selection
            _mark_stopped(folder, f"diverged: {exc}")
            if self._tell(study, trial, what, {"diverged": str(exc)}, state=TrialState.FAIL):
                self.echo(f"{what}: {exc}")
            return
        except _Pruned:
            _mark_stopped(folder, "pruned")
            if self._tell(study, trial, what, {}, state=TrialState.PRUNED):
                self.echo(f"{what}: pruned")
            return
        attrs = {"val_score": result.val_score, **({"chosen": index} if final else {})}
        if not self._tell(study, trial, what, attrs, result.test_score if final else result.val_score):
            return
        if started is not None:
            self.whole.append(time.monotonic() - started)
        done = self._done()
        eta = (f"ETA {statistics.fmean(self.whole) * (self.total - done) / self.jobs / 60:.1f} min" if self.whole
               else "ETA after a training run whole")
        score = f"test {result.test_score:.4f}" if final else f"validation {result.val_score:.4f}"
        self.echo(f"[{done}/{self.total}] {what}: {score}; {eta}")

    def _tell(self, study, trial, what: str, attrs: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
        """Record a finished training; ``False`` if another worker took it for dead and put it
        back meanwhile (the gap between its folder's lock and this): the copy resumes the
        finished folder and records the same result."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        try:
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            told = study.tell(trial, *args, skip_if_finished=True, **kwargs).state
        except UpdateFinishedTrialError:
            told = None
        if told != kwargs.get("state", TrialState.COMPLETE):
            self.echo(f"{what}: finished, but put back meanwhile by a worker that took it for dead; "
                      "its copy records the same result")
            return False
        return True


def _mark_stopped(folder: str, why: str) -> None:
    """Mark a training that will not be resumed (its trial is finished) as ended, although it has
    no summary: what packs a run (``benchmarks/pack_run.py``) keeps its curve. Written before the
    trial is told, so a kill in between trains it again to the same stop."""
    if os.path.isdir(folder):  # a training that failed before its first checkpoint left no folder
        write_json(os.path.join(folder, STOPPED_FILE), {"stopped": why})


def _stop(signum: int, frame: Any) -> None:
    """SIGTERM from the main process: stop at once, as by default (the trial resumes from its
    last checkpoint), but take the batch loader's processes along: orphaned, they held the
    run's output open. Unwinding instead (KeyboardInterrupt) could deadlock on a lock it broke."""
    for child in multiprocessing.active_children():
        child.terminate()
    os._exit(128 + signum)


def _work(plan: Plan, progress: bool, jobs: int, index: int) -> None:
    """A worker process: one thread, its own line per finished training."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGTERM, _stop)
    try:
        _Worker(plan, lambda line: print(line, flush=True), progress, jobs, index).run()
    except DiffPoolError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _run_workers(plan: Plan, jobs: int, progress: bool | Progress, echo: Callable[[str], None],
                 data: GraphClassificationData) -> None:
    if jobs == 1:
        _Worker(plan, echo, progress, 1, data=data).run()
        return
    context = multiprocessing.get_context("spawn")  # no forked torch or database state
    workers = [context.Process(target=_work, args=(plan, False, jobs, k)) for k in range(jobs)]
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.join()
    finally:
        for w in workers:  # on Ctrl-C or SIGTERM: their trials resume with --resume
            if w.is_alive():
                w.terminate()
                w.join()
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        raise TrainingError(f"{len(failed)} of {jobs} workers failed (exit codes {failed}); see their lines above")


def _ensemble_score(plan: Plan, data: GraphClassificationData, fold: int) -> Optional[float]:
    """The test score of the average of a fold's final runs' predicted probabilities (``None``
    if a final run has no predictions file: trained before they were written)."""
    probs = []
    for r in range(plan.final_runs):
        path = os.path.join(plan.run_dir, f"fold-{fold}", f"final-{r}", PREDICTIONS_FILE)
        if not os.path.exists(path):
            return None
        saved = read_json(path)
        probs.append(torch.tensor(saved["probabilities"], dtype=torch.float64))
    indices = torch.tensor(saved["indices"], dtype=torch.long)
    return score(data.task, torch.stack(probs).mean(0), data.labels[indices])


def summarise(plan: Plan, data: GraphClassificationData, folds: int) -> dict[str, Any]:
    """``summary.json`` of a finished selection: per fold the candidates' inner validation scores,
    the chosen configuration and its final runs' test scores; over folds the mean and std of the
    per-fold means (Errica et al.'s number), of the first final run alone, and of the ensemble
    of the final runs (their averaged probabilities: a different model, reported beside)."""
    storage = _storage(plan.storage)
    candidates = plan.candidates()
    rows = []
    for i in range(folds):
        select, finals = plan.study(storage, i), plan.study(storage, i, final=True)
        chosen = chosen_candidate(select, len(candidates))
        scored = _finished(select)
        runs = _finished(finals)
        diverged = [r for r, t in runs.items() if t.value is None]
        if diverged:
            reason = runs[diverged[0]].user_attrs["diverged"]
            raise TrainingError(f"fold {i}: final run(s) {diverged} diverged: {reason}")
        tests = [runs[r].value for r in range(plan.final_runs)]
        rows.append({
            "fold": i, "chosen": candidates[chosen], "chosen_index": chosen,
            "candidates": [{"config": c, "val_score": scored[j].value, "state": scored[j].state.name.lower()}
                           for j, c in enumerate(candidates)],
            "final_test_scores": tests,
            "final_val_scores": [runs[r].user_attrs["val_score"] for r in range(plan.final_runs)],
            "test_score": statistics.fmean(tests),
            "ensemble_test_score": _ensemble_score(plan, data, i),
        })
    means, singles = [r["test_score"] for r in rows], [r["final_test_scores"][0] for r in rows]
    ensembles = [r["ensemble_test_score"] for r in rows]
    ensembles = None if None in ensembles else ensembles
    return {
        "dataset": plan.config.dataset, "model": plan.config.model, "metric": data.task.metric, "folds": folds,
        "final_runs": plan.final_runs, "candidates": candidates,
        "test_score_mean": statistics.fmean(means), "test_score_std": statistics.pstdev(means),
        "single_run_mean": statistics.fmean(singles), "single_run_std": statistics.pstdev(singles),
        "ensemble_mean": statistics.fmean(ensembles) if ensembles else None,
        "ensemble_std": statistics.pstdev(ensembles) if ensembles else None,
        "per_fold": rows,
    }


def select_and_assess(
    config: RunConfig,
    space: SearchSpace,
    run_dir: str,
    final_runs: int = 3,
    jobs: int = 1,
    storage: Optional[str] = None,
    folds_file: Optional[str] = None,
    resume: bool = False,
    progress: bool | Progress = False,
    echo: Callable[[str], None] = print,
    study_prefix: str = "",
    prune: bool = False,
) -> dict[str, Any]:
    """Select a configuration of ``space`` inside each of ``config.folds`` outer folds and assess
    it by ``final_runs`` final runs (see the module's description); returns ``summary.json``.

    ``jobs`` worker processes share the trainings; ``storage`` is an Optuna storage URL
    (default: ``RUN_DIR/selection.db``), through which commands on other machines given the
    same run folder (with ``resume``) work on the same selection. With ``resume`` an
    interrupted selection continues: finished trainings are kept, interrupted ones resume.
    With ``prune``, Optuna's median pruner stops candidates whose inner validation score
    trails the others' at the same epoch (faster; with several workers its decisions depend
    on which candidates finished first). ``config.device`` may list devices
    (``cuda:0,cuda:1``): worker ``k`` trains on the ``k``-th, and ``jobs`` defaults to one
    per device.
    """
    if final_runs < 1 or jobs < 1:
        raise ConfigError(f"final runs and jobs must be >= 1, got {final_runs} and {jobs}")
    if config.seeds > 1:
        raise ConfigError(f"select_and_assess runs one seed, not {config.seeds}: "
                          "repeat_assessment repeats it over seeds")
    devices = tuple(d.strip() for d in config.device.split(",")) if "," in config.device else ()
    if devices:
        for device in devices:
            resolve_device(device)
        config = dataclasses.replace(config, device=devices[0])
        jobs = len(devices) if jobs == 1 else jobs
    data = load_config_dataset(config)
    resolve_protocol(config, data)
    for candidate in space.candidates(config.seed):  # every candidate's model, before any folder exists
        build_config_model(apply(config, candidate), data)
    folds = make_folds(config, data, folds_file)
    fold_splits(data, folds, config)  # an empty inner split stops before any folder exists
    plan = Plan(config, space, final_runs, run_dir, storage or default_storage(run_dir), study_prefix, prune, devices)
    # A shared lock: commands on other machines join with --resume; each training locks its own folder.
    with run_folder(run_dir, config, resume, shared=True) as existing:
        marks = [os.path.exists(os.path.join(run_dir, f)) for f in (FOLDS_FILE, SELECTION_FILE)]
        if existing and marks == [True, False]:  # folds written, but by a cross-validation without selection
            raise RunFolderError(f"{run_dir} holds a cross-validation without model selection; choose another --out")
        saved = saved_config(run_dir) if existing else None
        if saved is not None and saved.epochs != config.epochs and "epochs" not in space.options:
            raise ConfigError(f"{run_dir} holds a selection trained with --epochs {saved.epochs}, not {config.epochs}: "
                              "its trainings share one budget; resume it without --epochs or choose another --out")
        folds = _setup(plan, data, folds, folds_file is not None)
        _run_workers(plan, jobs, progress, echo, data)
        summary = summarise(plan, data, len(folds))
        write_json(os.path.join(run_dir, SUMMARY_FILE), summary)
    return summary


__all__ = ["SavedSelection", "SearchSpace", "chosen_candidate", "saved_selection", "select_and_assess", "summarise",
           "training_seed"]
