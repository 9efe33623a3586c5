"""Which training options move a dataset's 10-fold accuracy: one cross-validation per lever, same folds.

    python benchmarks/levers.py --dataset ENZYMES --out benchmarks/results/levers-ENZYMES \
        [--levers base,features=attr+label,readout=sum] [--jobs 2] [--folds 10] [--mirror DIR]

Each lever is ``base`` (the ``train`` defaults) or ``option=value`` / ``no-option`` / a
``,``-free ``+``-joined list of those (``conv=gin+readout=sum``): a ``train --protocol cv``
run with those options and nothing else changed, in ``OUT/LEVER``. All levers share the folds
(same ``--seed``), so a lever's effect is read from the per-fold differences to ``base``
(paired), whose spread is much smaller than that of either mean. Runs are resumable: rerun the
command and finished levers are read back, interrupted ones continue. Prints a markdown
table (mean and std over folds, paired difference to base, its std, wall time) and writes it
to ``OUT/levers.md``. Each run is one process with one thread; ``--jobs`` runs that many at once.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_LEVERS = ("base", "features=attr+label", "input-norm", "readout=sum", "readout=mean", "conv=gin",
                  "pool-levels=2", "no-batch-norm", "weight-decay=0.0001", "hidden=64",
                  "batch-size=8", "no-link-loss+no-entropy-loss", "epochs=150+patience=50")


def lever_args(lever: str) -> list[str]:
    """``train`` arguments of a lever (``base``: none)."""
    if lever == "base":
        return []
    args: list[str] = []
    for part in lever.split("+"):
        if part.startswith(("features=",)):
            # attr+label contains '+': a features value takes the rest of the lever.
            return args + ["--features", lever.split("features=", 1)[1]]
        name, _, value = part.partition("=")
        args += [f"--{name}"] + ([value] if value else [])
    return args


def run_lever(lever: str, args: argparse.Namespace) -> float:
    """Train (or resume) one lever's cross-validation; wall seconds of this call."""
    out = os.path.join(args.out, lever)
    summary = os.path.join(out, "summary.json")
    if os.path.exists(summary) and json.load(open(summary)).get("finished") == args.folds:
        return 0.0
    cmd = [sys.executable, "-m", "cli", "train", "--dataset", args.dataset, "--protocol", "cv",
           "--folds", str(args.folds), "--seed", str(args.seed), "--no-progress", "--no-plot",
           "--out", out, *lever_args(lever), *args.extra]
    if os.path.exists(os.path.join(out, "config.json")):
        cmd.append("--resume")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if args.mirror:
        env["DGL_DIFFPOOL_MIRROR"] = args.mirror
    start = time.time()
    with open(os.path.join(args.out, f"{lever}.log"), "a") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if done.returncode != 0:
        print(f"{lever}: exit {done.returncode}, see {args.out}/{lever}.log", file=sys.stderr)
    return time.time() - start


def table(levers: list[str], args: argparse.Namespace, walls: dict) -> str:
    rows = ["| lever | mean | std | paired diff to base | its std | wall s |",
            "| --- | --- | --- | --- | --- | --- |"]
    scores = {}
    for lever in levers:
        path = os.path.join(args.out, lever, "summary.json")
        if os.path.exists(path):
            scores[lever] = {f["fold"]: f["test_score"] for f in json.load(open(path))["per_fold"]}
    base = scores.get("base", {})
    for lever in levers:
        s = scores.get(lever)
        if not s:
            rows.append(f"| {lever} | not run | | | | |")
            continue
        vals = list(s.values())
        common = sorted(set(s) & set(base))
        diffs = [s[f] - base[f] for f in common]
        diff = f"{100 * statistics.fmean(diffs):+.1f}" if diffs and lever != "base" else ""
        dstd = f"{100 * statistics.pstdev(diffs):.1f}" if len(diffs) > 1 and lever != "base" else ""
        rows.append(f"| {lever} | {100 * statistics.fmean(vals):.1f} ({len(vals)} folds) | "
                    f"{100 * statistics.pstdev(vals):.1f} | {diff} | {dstd} | {walls.get(lever, 0):.0f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--levers", default=",".join(DEFAULT_LEVERS))
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--mirror", default=os.environ.get("DGL_DIFFPOOL_MIRROR"))
    parser.add_argument("extra", nargs="*", help="more train options for every lever (after --)")
    args = parser.parse_args()
    args.out = os.path.abspath(args.out)
    levers = args.levers.split(",")
    os.makedirs(args.out, exist_ok=True)
    walls_path = os.path.join(args.out, "walls.json")
    walls = json.load(open(walls_path)) if os.path.exists(walls_path) else {}
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_lever, lever, args): lever for lever in levers}
        for future in as_completed(futures):
            walls[futures[future]] = walls.get(futures[future], 0.0) + future.result()
            with open(walls_path, "w") as fh:
                json.dump(walls, fh, indent=2)
    text = table(levers, args, walls)
    with open(os.path.join(args.out, "levers.md"), "w") as fh:
        fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
