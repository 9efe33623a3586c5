"""Pack a run folder into a small archive that another machine can resume from.

A long assessment (a selection, a bench) may outlive the machine it runs on. The archive keeps
what its results and a resume need: configurations, folds, the selection database, every
finished training's metrics, summary and test predictions. It leaves out model checkpoints
(``*.pt``, megabytes each), lock files, partial writes of killed processes and the folders of
trainings that had not finished: a resume trains those again from their start, with the same
seeds, so the results are those of an uninterrupted run. (A selection's pruned or diverged
training has ended without a summary: its ``stopped.json`` says so, and it is kept.) The selection
database is copied with SQLite's backup, consistent even while the run writes it (its journal
files are left out); the trainings under way when it was copied are put back by the resume
(their workers do not exist where it resumes).

    python benchmarks/pack_run.py RUN_DIR ARCHIVE.tar.gz [--replace]
    mkdir -p DIR && tar xzf ARCHIVE.tar.gz -C DIR      # then the run's command with --resume
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tarfile
import tempfile

from dgl_diffpool.data.storage import is_partial_write
from dgl_diffpool.training.rundir import STOPPED_FILE, SUMMARY_FILE

SKIPPED_FILES = {".lock", ".setup.lock"}
DATABASE_JOURNALS = ("-journal", "-wal", "-shm")  # SQLite's own: the backup copy needs none


def unfinished_training(files: list[str]) -> bool:
    """A training's folder (it has a checkpoint or per-epoch metrics: ``last.pt`` is written
    first) without the summary written at its end or the mark of a selection's stop."""
    started = "last.pt" in files or "metrics.jsonl" in files
    return started and SUMMARY_FILE not in files and STOPPED_FILE not in files


def skipped(file: str) -> bool:
    """Lock files, checkpoints, what a killed atomic write left and database journals."""
    return file in SKIPPED_FILES or file.endswith((".pt", *DATABASE_JOURNALS)) or is_partial_write(file)


def pack(run_dir: str, archive: str) -> tuple[int, int]:
    """Write ``archive`` (gzip tar, one top folder named as ``run_dir``); returns (files kept,
    unfinished trainings left out)."""
    run_dir = os.path.abspath(run_dir)
    top = os.path.basename(run_dir)
    kept = dropped = 0
    with tempfile.TemporaryDirectory() as scratch:
        partial = archive + ".partial"
        try:
            with tarfile.open(partial, "w:gz") as tar:
                for root, dirs, files in os.walk(run_dir):
                    dirs.sort()
                    if unfinished_training(files):
                        dropped += 1
                        dirs[:] = []
                        continue
                    name = os.path.join(top, os.path.relpath(root, run_dir))
                    tar.add(root, arcname=os.path.normpath(name), recursive=False)
                    for file in sorted(files):
                        if skipped(file):
                            continue
                        source = os.path.join(root, file)
                        if file.endswith(".db"):
                            source = _consistent_copy(source, os.path.join(scratch, f"{kept}.db"))
                        tar.add(source, arcname=os.path.normpath(os.path.join(name, file)))
                        kept += 1
            os.replace(partial, archive)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    return kept, dropped


def _consistent_copy(database: str, copy: str) -> str:
    source, target = sqlite3.connect(database), sqlite3.connect(copy)
    try:
        source.backup(target)
    except sqlite3.DatabaseError as exc:
        raise sqlite3.DatabaseError(f"{database}: {exc}") from None
    finally:
        source.close()
        target.close()
    return copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("archive")
    parser.add_argument("--replace", action="store_true", help="replace an existing archive")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.run_dir):
        print(f"Error: {args.run_dir} is not a folder", file=sys.stderr)
        return 2
    if os.path.exists(args.archive) and not args.replace:
        print(f"Error: {args.archive} exists; pass --replace to replace it", file=sys.stderr)
        return 2
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.archive))):
        print(f"Error: the folder of {args.archive} does not exist", file=sys.stderr)
        return 2
    try:
        kept, dropped = pack(args.run_dir, args.archive)
    except sqlite3.DatabaseError as exc:
        print(f"Error: cannot copy a selection database: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Error: cannot pack {args.run_dir} into {args.archive}: {exc}", file=sys.stderr)
        return 1
    size = os.path.getsize(args.archive)
    print(f"{args.archive}: {kept} files, {size / 1024:.0f} KiB; {dropped} unfinished training(s) left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
