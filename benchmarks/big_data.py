"""Big datasets in bounded memory: preparation, reopening and training throughput.

    python benchmarks/big_data.py tu --tu-dir /tmp/large-tu --name COLLAB_SIZED [--baseline /tmp/old]
    python benchmarks/big_data.py ogb --ogb-dir /tmp/large-ogb [--batches 200]
    python benchmarks/big_data.py epoch --dataset ogbg-molhiv --workers 0,1,2 [--baseline /tmp/old]

Every measurement runs in a subprocess of its own, so that each peak resident memory
(``ru_maxrss``) is that step's alone; one thread per process. ``--baseline DIR`` also
runs the same step with the code checked out at ``DIR`` (``git worktree add DIR <commit>``),
side by side, for before/after tables.

* ``tu``: ``prep`` of a TU archive (make one with ``benchmarks/make_large_tu.py``) by
  dgl-diffpool and by PyG's ``TUDataset`` on the same files, then reopening the prepared
  dataset (seconds and resident memory above the interpreter with its libraries).
* ``ogb``: preparation of an OGB-shaped folder (``benchmarks/make_large_ogb.py``), reopening,
  and training the default DiffPool on its training split for ``--batches`` batches at
  batch sizes 20 and 128: graphs per second and resident memory beyond the libraries.
* ``epoch``: one training epoch of the default model on a dataset's training split (its
  official split, or the first 80%) with 0, 1, 2 loader workers: graphs per second.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- children
def _libraries() -> None:
    """Import what every run needs, so that memory measured from here on is the data's and the model's."""
    for module in ("torch", "dgl", "dgl_diffpool.data", "dgl_diffpool.models", "dgl_diffpool.training.engine"):
        importlib.import_module(module)


def child_prep(name: str, mirror: str, data_dir: str) -> dict:
    from dgl_diffpool.data import load_dataset

    start = time.perf_counter()
    data = load_dataset(name, data_dir, mirror=mirror)
    return dict(seconds=time.perf_counter() - start, graphs=len(data))


def child_tu_pyg(name: str, folder: str) -> dict:
    from torch_geometric.datasets import TUDataset

    root = tempfile.mkdtemp(prefix="pyg-")
    try:
        os.makedirs(os.path.join(root, name))
        os.symlink(os.path.abspath(folder), os.path.join(root, name, "raw"))
        start = time.perf_counter()
        data = TUDataset(root, name)
        return dict(seconds=time.perf_counter() - start, graphs=len(data))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def child_reopen(name: str, data_dir: str) -> dict:
    _libraries()
    from dgl_diffpool.data import load_dataset

    base = rss_mb()
    start = time.perf_counter()
    data = load_dataset(name, data_dir)
    seconds = time.perf_counter() - start
    return dict(seconds=seconds, above_interpreter_mb=rss_mb() - base, graphs=len(data))


def _default_model(data):
    from dgl_diffpool.models import build_model
    from dgl_diffpool.training.config import RunConfig

    return build_model("diffpool", **data.model_shape(), **RunConfig(dataset=data.name).model_kwargs())


def _train_split(data):
    import torch

    if data.split is not None:
        return data.split["train"]
    return torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[: int(0.8 * len(data))]


def child_train(name: str, data_dir: str, batch_size: int, batches: int, workers: int) -> dict:
    """Train the default model for ``batches`` batches (0: one whole epoch) of the training split."""
    import inspect

    import torch

    _libraries()
    from dgl_diffpool.data import load_dataset
    from dgl_diffpool.training import engine
    from dgl_diffpool.training.config import RunConfig

    torch.set_num_threads(1)
    base = rss_mb()
    data = load_dataset(name, data_dir)
    torch.manual_seed(0)
    model = _default_model(data)
    if hasattr(engine, "make_optimizer"):  # the optimizer `train` uses (older code: plain Adam)
        optimizer = engine.make_optimizer(model, RunConfig(dataset=data.name))
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    indices = _train_split(data)
    if batches:
        picked = torch.randperm(len(indices), generator=torch.Generator().manual_seed(1))[: batches * batch_size]
        indices = indices[picked]
    extra = {"workers": workers} if "workers" in inspect.signature(engine.run_epoch).parameters else {}
    if workers and not extra:
        return dict(skipped="this code has no loader workers")
    start = time.perf_counter()
    result = engine.run_epoch(model, data, indices, batch_size, torch.device("cpu"), optimizer, clip=2.0,
                              generator=torch.Generator().manual_seed(2), bucket=True, max_padded_nodes=4000, **extra)
    seconds = time.perf_counter() - start
    return dict(seconds=seconds, graphs=len(indices), graphs_per_s=len(indices) / seconds, loss=result["loss"],
                beyond_libraries_mb=peak_mb() - base)


CHILDREN = {"prep": child_prep, "tu-pyg": child_tu_pyg, "reopen": child_reopen, "train": child_train}


def run_child(step: str, *args, code: str = ROOT) -> dict:
    """``step`` in a fresh interpreter importing dgl-diffpool from ``code``; its result and peak RSS."""
    env = dict(os.environ, PYTHONPATH=code, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TQDM_DISABLE="1")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "_child", step, *map(str, args)],
                         env=env, capture_output=True, text=True, cwd=code)
    if out.returncode != 0:
        raise SystemExit(f"{step} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child_main(step: str, args: list[str]) -> None:
    fn = CHILDREN[step]
    kinds = [int if p.annotation == "int" else str for p in __import__("inspect").signature(fn).parameters.values()]
    result = fn(*(kind(a) for kind, a in zip(kinds, args)))
    result["peak_rss_mb"] = peak_mb()
    print(json.dumps(result))


# ------------------------------------------------------------------ reports
def _versions(baseline: str | None) -> list[tuple[str, str]]:
    return [("before", baseline)] * bool(baseline) + [("after", ROOT)]


def bench_tu(args) -> list[dict]:
    source = os.path.join(args.tu_dir, args.name)
    if not os.path.isdir(source):
        raise SystemExit(f"{source} is not a TU folder (write one with make_large_tu.py --format folder)")
    mirror = tempfile.mkdtemp(prefix="mirror-")
    os.symlink(os.path.abspath(args.tu_dir), os.path.join(mirror, "tu"))
    rows = []
    try:
        for version, code in _versions(args.baseline):
            data_dir = tempfile.mkdtemp(prefix="data-", dir=args.work)
            prep = run_child("prep", args.name, mirror, data_dir, code=code)
            rows.append(dict(step="prep", who=f"dgl-diffpool {version}", **prep))
            reopen = run_child("reopen", args.name, data_dir, code=code)
            rows.append(dict(step="reopen", who=f"dgl-diffpool {version}", **reopen))
            shutil.rmtree(data_dir, ignore_errors=True)
        if not args.no_pyg:
            rows.append(dict(step="prep", who="PyG TUDataset", **run_child("tu-pyg", args.name, source)))
    finally:
        shutil.rmtree(mirror, ignore_errors=True)
    return rows


def bench_ogb(args) -> list[dict]:
    mirror = tempfile.mkdtemp(prefix="mirror-")
    os.symlink(os.path.abspath(args.ogb_dir), os.path.join(mirror, "ogb"))
    rows = []
    data_dir = tempfile.mkdtemp(prefix="data-", dir=args.work)
    try:
        rows.append(dict(step="prep", who="dgl-diffpool", **run_child("prep", args.name, mirror, data_dir)))
        rows.append(dict(step="reopen", who="dgl-diffpool", **run_child("reopen", args.name, data_dir)))
        for batch_size in (20, 128):
            for workers in args.workers:
                result = run_child("train", args.name, data_dir, batch_size, args.batches, workers)
                rows.append(dict(step=f"train batch {batch_size}", who=f"workers {workers}", **result))
    finally:
        shutil.rmtree(mirror, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return rows


def bench_epoch(args) -> list[dict]:
    rows = []
    for version, code in _versions(args.baseline):
        data_dir = args.data_dir
        for workers in args.workers:
            result = run_child("train", args.dataset, data_dir, args.batch_size, 0, workers, code=code)
            if "skipped" not in result:
                rows.append(dict(step=f"epoch batch {args.batch_size}", who=f"{version}, workers {workers}", **result))
    return rows


def _table(rows: list[dict]) -> str:
    keys = ["step", "who", "seconds", "peak_rss_mb", "above_interpreter_mb", "beyond_libraries_mb", "graphs_per_s"]
    keys = [k for k in keys if any(k in r for r in rows)]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = [f"{r[k]:.1f}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        return _child_main(sys.argv[2], sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    tu = sub.add_parser("tu")
    tu.add_argument("--tu-dir", required=True, help="folder holding the TU dataset folder NAME/")
    tu.add_argument("--name", default="LARGE")
    tu.add_argument("--no-pyg", action="store_true")
    ogb = sub.add_parser("ogb")
    ogb.add_argument("--ogb-dir", required=True, help="folder holding ogbg_NAME/ in ogb's raw layout")
    ogb.add_argument("--name", default="ogbg-molpcba")
    ogb.add_argument("--batches", type=int, default=200, help="training batches per measurement")
    ogb.add_argument("--keep", action="store_true", help="keep the prepared data")
    epoch = sub.add_parser("epoch")
    epoch.add_argument("--dataset", default="ogbg-molhiv")
    epoch.add_argument("--data-dir", default=os.path.join(ROOT, "data"))
    epoch.add_argument("--batch-size", type=int, default=20)
    for p in (tu, ogb, epoch):
        p.add_argument("--baseline", default=None, help="a checkout of the code to compare with")
        p.add_argument("--work", default=None, help="where prepared data go (default: the temporary folder)")
        p.add_argument("--out", default=None, help="also write the rows as JSON here")
    for p in (ogb, epoch):
        p.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1])
    args = parser.parse_args()
    rows = {"tu": bench_tu, "ogb": bench_ogb, "epoch": bench_epoch}[args.what](args)
    print(_table(rows))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
