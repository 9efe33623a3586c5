"""Run folders: never silently replaced, written by one process at a time, and removed
again when a run fails before it has produced anything worth keeping.

A folder *holds a run* once any of a run's files (``config.json``, checkpoints,
``folds.json``, ``fold-I/``, ``seed-S/``, ...) is in it. A new run is refused there;
``resume`` continues it, and only under the configuration it was started with. The
writer holds an exclusive ``fcntl.flock`` on ``RUN_DIR/.lock`` (released by the OS when
the process dies, so a killed run leaves no stale lock). Cross-validation processes of
single folds (``--fold I``) share their parent folder with a shared lock and take the
exclusive lock on their own ``fold-I/``.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
from typing import Any, Iterator, Optional

from ..data.storage import atomic_write_text, is_partial_write
from ..errors import CheckpointError, ConfigError, RunFolderError
from .config import RunConfig
from .distributed import is_main_process, run_on_main

CONFIG_FILE, SUMMARY_FILE = "config.json", "summary.json"
SELECTION_FILE = "selection.json"  # marks a cross-validation with model selection in every fold
STOPPED_FILE = "stopped.json"  # a selection's training stopped for good before its end: pruned or diverged
LOCK_FILE, SETUP_LOCK_FILE = ".lock", ".setup.lock"
_RUN_FILES = (CONFIG_FILE, SUMMARY_FILE, "folds.json", "metrics.jsonl", "last.pt", "best.pt")
_RUN_PREFIXES = ("fold-", "seed-")
LAST, BEST = "last.pt", "best.pt"  # a run's checkpoints: to resume from, and the model selected


def holds_run(path: str) -> bool:
    """Whether ``path`` is a folder with a run's files (finished, interrupted or running) in it."""
    if not os.path.isdir(path):
        return False
    return any(e in _RUN_FILES or e.startswith(_RUN_PREFIXES) for e in os.listdir(path))


def _strict(value: Any) -> Any:
    """``value`` with non-finite floats as ``None``: JSON has no NaN or Infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def write_json(path: str, value: Any, lines: bool = False) -> None:
    """Strict JSON (or JSON lines) written atomically; only the main process writes in a distributed run."""
    if not is_main_process():
        return
    if lines:
        text = "".join(json.dumps(_strict(row), allow_nan=False) + "\n" for row in value)
    else:
        text = json.dumps(_strict(value), indent=2, allow_nan=False)
    atomic_write_text(path, text)


def read_json(path: str) -> Any:
    """A JSON file of a run, or :class:`CheckpointError` naming it if it is unreadable."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except ValueError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the run cannot be continued from it") from None


def saved_config(run_dir: str) -> Optional[RunConfig]:
    """The configuration a run in ``run_dir`` was started with, or ``None`` if it has none."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    values = read_json(path)
    if not isinstance(values, dict):
        raise CheckpointError(f"{path} is not a run configuration")
    try:
        return RunConfig.from_dict(values)
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path} is not a valid run configuration ({exc})") from None


def check_same_config(run_dir: str, config: RunConfig, saved: Optional[RunConfig] = None) -> None:
    """Refuse to add to the run in ``run_dir`` under a configuration other than its own."""
    saved = saved if saved is not None else saved_config(run_dir)
    if saved is None:
        raise RunFolderError(f"{run_dir} holds files of a run but no {CONFIG_FILE}; choose another --out")
    diff = saved.differences(config)
    if diff:
        raise ConfigError(f"{run_dir} holds a run with another configuration ({'; '.join(diff)})")


@contextlib.contextmanager
def folder_lock(folder: str, shared: bool = False, wait: bool = False, name: str = LOCK_FILE) -> Iterator[None]:
    """``fcntl.flock`` on ``folder/name``: exclusive (one writer) or ``shared``; without ``wait``
    a lock held by another process is a :class:`RunFolderError` naming the folder."""
    fd = os.open(os.path.join(folder, name), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise RunFolderError(
                f"{folder} is being written by another dgl-diffpool process; wait for it to end or choose another --out"
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _first_missing(path: str) -> Optional[str]:
    """The outermost folder of ``path`` that does not exist yet (what creating it would add)."""
    path = os.path.abspath(path)
    missing = None
    while not os.path.exists(path):
        missing, parent = path, os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _has_checkpoint(folder: str) -> bool:
    return any(LAST in files for _, _, files in os.walk(folder))


def _remove_created(run_dir: str, created: Optional[str], was_empty: bool) -> None:
    """Undo what :func:`run_folder` created for a run that failed before any checkpoint."""
    if not was_empty or _has_checkpoint(run_dir):
        return
    try:
        with folder_lock(run_dir):  # not while other processes still use the folder
            for entry in os.listdir(run_dir):
                path = os.path.join(run_dir, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    except RunFolderError:
        return
    if created is None:
        return
    # Up to the outermost folder this call created, each only while empty: a parent it created
    # (a fold's folder) may since hold the runs of other processes.
    path, outside = os.path.abspath(run_dir), os.path.dirname(created)
    while path != outside:
        try:
            os.rmdir(path)
        except OSError:
            return
        path = os.path.dirname(path)


@contextlib.contextmanager
def run_folder(run_dir: str, config: RunConfig, resume: bool = False, join: bool = False,
               shared: Optional[bool] = None) -> Iterator[bool]:
    """Open ``run_dir`` to write a run of ``config``; yields whether it continues an earlier one.

    Checks come before anything is written: a folder that holds a run is refused
    unless ``resume`` (or ``join``, for processes that each run single folds of one
    cross-validation), and then only under that run's configuration. While open, the
    folder is locked against other writers (``shared``, by default for joiners, lets other
    processes that claim their work elsewhere write beside this one). If the body fails
    before any epoch was checkpointed, the folders this call created are removed; an
    interrupt (Ctrl-C, SIGTERM) keeps them, so that ``resume`` can start the run again.
    In a distributed run the main process checks, locks and writes, and every process
    gets its outcome or its error.
    """
    shared = join if shared is None else shared
    with contextlib.ExitStack() as held:
        created, was_empty = None, False

        def open_folder() -> bool:
            nonlocal created, was_empty
            created = _first_missing(run_dir)
            os.makedirs(run_dir, exist_ok=True)
            was_empty = not os.listdir(run_dir)
            try:
                held.enter_context(folder_lock(run_dir, shared=shared))
                with folder_lock(run_dir, wait=True, name=SETUP_LOCK_FILE):  # joiners set up one at a time
                    existing = holds_run(run_dir)
                    if existing and not (resume or join):
                        raise RunFolderError(
                            f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
                        )
                    if existing:
                        check_same_config(run_dir, config)
                        if not shared:  # the exclusive lock: no other process writes here
                            for name in filter(is_partial_write, os.listdir(run_dir)):
                                os.remove(os.path.join(run_dir, name))
                    else:
                        write_json(os.path.join(run_dir, CONFIG_FILE), config.resolved().to_dict())
                    return existing
            except BaseException:
                held.close()
                _remove_created(run_dir, created, was_empty)
                raise

        existing = run_on_main(open_folder)
        try:
            yield existing
        except KeyboardInterrupt:
            raise
        except BaseException:
            if is_main_process():
                held.close()
                _remove_created(run_dir, created, was_empty)
            raise


__all__ = [
    "CONFIG_FILE",
    "STOPPED_FILE",
    "SUMMARY_FILE",
    "check_same_config",
    "folder_lock",
    "holds_run",
    "read_json",
    "run_folder",
    "saved_config",
    "write_json",
]
