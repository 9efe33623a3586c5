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

An archive is reproducible: packing the same files and folders (with their times) again gives
the same bytes. A bench, packed
``--per-pair``, becomes one archive per (dataset, model) pair plus one for the rest, so that the
archive of a finished pair, repacked at every session's end, is the same file each time, which
version control stores once (one archive of the whole bench would be stored again in full, each
time it grew).

    python benchmarks/pack_run.py RUN_DIR ARCHIVE.tar.gz [--replace]
    mkdir -p DIR && tar xzf ARCHIVE.tar.gz -C DIR      # then the run's command with --resume
    python benchmarks/pack_run.py BENCH_DIR OUT_DIR --per-pair [--replace]
    for a in OUT_DIR/*.tar.gz; do tar xzf "$a" -C DIR; done
"""
from __future__ import annotations

import argparse
import gzip
import os
import sqlite3
import sys
import tarfile
import tempfile

from dgl_diffpool.data.storage import is_partial_write
from dgl_diffpool.training.bench import SETTINGS_FILE as BENCH_FILE
from dgl_diffpool.training.rundir import STOPPED_FILE, SUMMARY_FILE

SKIPPED_FILES = {".lock", ".setup.lock"}
DATABASE_JOURNALS = ("-journal", "-wal", "-shm")  # SQLite's own: the backup copy needs none


def unfinished_training(files: list[str]) -> bool:
    """A training's folder (it has a checkpoint or per-epoch metrics) without the summary
    written at its end or the mark of a selection's stop."""
    started = "last.pt" in files or "metrics.jsonl" in files
    return started and SUMMARY_FILE not in files and STOPPED_FILE not in files


def skipped(file: str) -> bool:
    """Lock files, checkpoints, what a killed atomic write left and database journals."""
    return file in SKIPPED_FILES or file.endswith((".pt", *DATABASE_JOURNALS)) or is_partial_write(file)


def pack(run_dir: str, archive: str, under: str = "", leave_out: frozenset[str] = frozenset()) -> tuple[int, int]:
    """Write ``archive`` (gzip tar, one top folder named as ``run_dir``) of ``run_dir``'s subfolder
    ``under`` (all of it by default) without the subfolders ``leave_out`` (paths relative to
    ``run_dir``); returns (files kept, unfinished trainings left out)."""
    run_dir = os.path.abspath(run_dir)
    top = os.path.basename(run_dir)
    kept = dropped = 0
    with tempfile.TemporaryDirectory() as scratch:
        partial = archive + ".partial"
        try:
            # No time or file name in the gzip header, so that the same files give the same bytes.
            with open(partial, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                    tarfile.open(fileobj=gz, mode="w") as tar:
                for root, dirs, files in os.walk(os.path.join(run_dir, under)):
                    relative = os.path.relpath(root, run_dir)
                    dirs[:] = sorted(d for d in dirs if os.path.normpath(os.path.join(relative, d)) not in leave_out)
                    if unfinished_training(files):
                        dropped += 1
                        dirs[:] = []
                        continue
                    name = os.path.normpath(os.path.join(top, relative))
                    _add(tar, root, name)
                    for file in sorted(files):
                        if skipped(file):
                            continue
                        source = os.path.join(root, file)
                        if file.endswith(".db"):
                            copy = _consistent_copy(source, os.path.join(scratch, f"{kept}.db"))
                            _add(tar, copy, os.path.join(name, file), mtime=int(os.stat(source).st_mtime))
                        else:
                            _add(tar, source, os.path.join(name, file))
                        kept += 1
            os.replace(partial, archive)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    return kept, dropped


def pack_bench(bench_dir: str, out_dir: str) -> list[tuple[str, int, int]]:
    """Pack a bench folder into ``out_dir``: ``DATASET-MODEL.tar.gz`` for each pair's folder,
    ``bench.tar.gz`` for the rest (settings, tables, folds); returns (archive, files kept,
    unfinished trainings left out) for each archive."""
    pairs = sorted(os.path.join(dataset, model) for dataset in os.listdir(bench_dir)
                   if os.path.isdir(os.path.join(bench_dir, dataset))
                   for model in os.listdir(os.path.join(bench_dir, dataset))
                   if os.path.isdir(os.path.join(bench_dir, dataset, model)))
    names = [pair.replace(os.sep, "-") for pair in pairs] + ["bench"]
    clashing = sorted({n for n in names if names.count(n) > 1})
    if clashing:
        raise ValueError(f"two folders would share the archive {clashing[0]}.tar.gz; pack them one by one")
    os.makedirs(out_dir, exist_ok=True)
    packed = []
    for under, name in zip(pairs + [""], names):
        archive = os.path.join(out_dir, f"{name}.tar.gz")
        kept, dropped = pack(bench_dir, archive, under, frozenset() if under else frozenset(pairs))
        packed.append((archive, kept, dropped))
    return packed


def _add(tar: tarfile.TarFile, path: str, name: str, mtime: int | None = None) -> None:
    """Add one file, or one folder without its content, with no owner (uid 0, no names): the bytes
    do not depend on who packed it. ``mtime`` dates a copy as its original."""
    info = tar.gettarinfo(path, name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if mtime is not None:
        info.mtime = mtime
    if info.isfile():
        with open(path, "rb") as fh:
            tar.addfile(info, fh)
    else:
        tar.addfile(info)


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
    parser.add_argument("archive", help="the archive, or with --per-pair the folder of the archives")
    parser.add_argument("--per-pair", action="store_true", help="pack a bench folder into one archive per pair")
    parser.add_argument("--replace", action="store_true", help="replace existing archives")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.run_dir):
        print(f"Error: {args.run_dir} is not a folder", file=sys.stderr)
        return 2
    run_dir, archive = os.path.abspath(args.run_dir), os.path.abspath(args.archive)
    if os.path.commonpath([run_dir, archive]) == run_dir:
        print(f"Error: {args.archive} is inside {args.run_dir}, which it would pack into itself", file=sys.stderr)
        return 2
    if args.per_pair and not os.path.isfile(os.path.join(args.run_dir, BENCH_FILE)):
        print(f"Error: {args.run_dir} is not a bench folder (no {BENCH_FILE}); --per-pair packs a bench",
              file=sys.stderr)
        return 2
    if args.per_pair and os.path.isdir(args.archive) and not args.replace \
            and any(f.endswith(".tar.gz") for f in os.listdir(args.archive)):
        print(f"Error: {args.archive} holds archives; pass --replace to replace them", file=sys.stderr)
        return 2
    if not args.per_pair and os.path.exists(args.archive) and not args.replace:
        print(f"Error: {args.archive} exists; pass --replace to replace it", file=sys.stderr)
        return 2
    if not os.path.isdir(os.path.dirname(archive)):
        print(f"Error: the folder of {args.archive} does not exist", file=sys.stderr)
        return 2
    try:
        if args.per_pair:
            packed = pack_bench(args.run_dir, args.archive)
        else:
            packed = [(args.archive, *pack(args.run_dir, args.archive))]
    except sqlite3.DatabaseError as exc:
        print(f"Error: cannot copy a selection database: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"Error: cannot pack {args.run_dir} into {args.archive}: {exc}", file=sys.stderr)
        return 1
    for path, kept, dropped in packed:
        size = os.path.getsize(path)
        print(f"{path}: {kept} files, {size / 1024:.0f} KiB; {dropped} unfinished training(s) left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
