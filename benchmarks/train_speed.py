"""Seconds per training epoch and peak memory: PyG's dense DiffPool against dgl-diffpool.

    python benchmarks/train_speed.py --datasets ENZYMES,PROTEINS,DD [--mirror DIR] [--out benchmarks/results]

Per dataset, three configurations train in separate subprocesses (so that each peak
resident memory is its own), one after the other:

* ``pyg-dense``: PyG's ``dense_diff_pool`` + ``DenseSAGEConv``, each batch padded to its
  largest graph (``benchmarks/pyg_dense_diffpool.py``);
* ``ours-fixed``: dgl-diffpool with the same fixed cluster counts (like for like);
* ``ours-fast``: adaptive cluster counts and size-bucketed batches with a cap on padded nodes;
* ``sage-mean``: the flat baseline (the same GraphSAGE, mean of the node embeddings, no pooling)
  with ``ours-fast``'s batches: what DiffPool's pooling costs on top of its GNN (the paper: "no
  significant additional running time").

All use batch 20, 2 pooling levels, 3 SAGE layers of 64 per GNN, ratio 0.25 of the
dataset's largest graph, Adam, one thread per process unless ``--threads``. Each
worker runs a few warm-up batches, then full training epochs until ``--min-seconds``
have passed (at least one) and reports the median epoch. Prints a
table and writes ``train_speed.json`` and ``train_speed.md`` into ``--out``. Needs
``pip install .[bench]`` (PyG).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = ("pyg-dense", "ours-fixed", "ours-fast", "sage-mean")
COMMON = dict(pool_levels=2, ratio=0.25, gnn_layers=3, hidden=64, batch_size=20)


def peak_rss_mb() -> float:
    """High-water mark of this process's resident memory."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def worker(variant: str, dataset: str, data_dir: str, mirror: str | None, warmup: int, max_padded: int,
           min_seconds: float = 0.0) -> dict:
    import torch

    from dgl_diffpool.data import iterate_batches, load_dataset
    from dgl_diffpool.models import build_model
    from dgl_diffpool.training.metrics import task_loss

    data = load_dataset(dataset, data_dir, mirror=mirror)
    torch.manual_seed(0)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    batching = dict(bucket=True, max_padded_nodes=max_padded) if variant in ("ours-fast", "sage-mean") else {}
    if variant == "pyg-dense":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from pyg_dense_diffpool import PyGDenseDiffPool

        model = PyGDenseDiffPool(data.num_features, data.num_classes, data.max_num_nodes,
                                 COMMON["pool_levels"], COMMON["ratio"], COMMON["gnn_layers"], COMMON["hidden"])

        def step(batch):
            logits, aux = model(batch.graph, batch.feat)
            return task_loss(data.task, logits, batch.labels) + aux
    else:
        model = build_model("sage-mean" if variant == "sage-mean" else "diffpool", **data.model_shape(),
                            pool_levels=COMMON["pool_levels"], ratio=COMMON["ratio"], gnn_layers=COMMON["gnn_layers"],
                            hidden_feats=COMMON["hidden"], adaptive_clusters=variant == "ours-fast")

        def step(batch):
            out = model(batch.graph, batch.feat, edge_feat=batch.edge_feat)
            return task_loss(data.task, out.logits, batch.labels) + out.aux_loss

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    before_training = current_rss_mb()  # libraries, dataset and model: the same for every configuration

    def epoch(indices, generator):
        batches = 0
        for batch in iterate_batches(data, indices, COMMON["batch_size"], generator, **batching):
            loss = step(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            batches += 1
        return batches

    epoch(order[: warmup * COMMON["batch_size"]], None)
    # Whole epochs until min_seconds have passed; the median epoch is reported (one 2-second ENZYMES
    # epoch timed once varied by up to 50% between runs here).
    times: list[float] = []
    while not times or sum(times) < min_seconds:
        tick = time.perf_counter()
        batches = epoch(order, torch.Generator().manual_seed(1 + len(times)))
        times.append(time.perf_counter() - tick)
    seconds = statistics.median(times)
    return dict(variant=variant, dataset=dataset, graphs=len(data), batches=batches, seconds=seconds, epochs=len(times),
                graphs_per_s=len(data) / seconds, peak_rss_mb=peak_rss_mb(),
                training_peak_mb=peak_rss_mb() - before_training,
                threads=torch.get_num_threads())


def run_worker(args, variant: str, dataset: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", variant, "--datasets", dataset,
           "--data-dir", args.data_dir, "--warmup", str(args.warmup), "--max-padded-nodes", str(args.max_padded_nodes),
           "--min-seconds", str(args.min_seconds)]
    if args.mirror:
        cmd += ["--mirror", args.mirror]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return dict(variant=variant, dataset=dataset, error=tail[0])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| dataset | configuration | s / epoch | graphs / s | peak RSS (MB) | of which training (MB) "
             "| speed-up vs PyG | peak RSS vs PyG |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    ref = {r["dataset"]: r for r in rows if r["variant"] == "pyg-dense" and "error" not in r}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['dataset']} | {r['variant']} | failed: {r['error']} | | | | | |")
            continue
        base = ref.get(r["dataset"])
        speed = f"{base['seconds'] / r['seconds']:.2f}x" if base else "n/a"
        memory = f"{base['peak_rss_mb'] / r['peak_rss_mb']:.2f}x lower" if base else "n/a"
        lines.append(f"| {r['dataset']} | {r['variant']} | {r['seconds']:.2f} | {r['graphs_per_s']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['training_peak_mb']:.0f} | {speed} | {memory} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="ENZYMES,PROTEINS,DD")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--mirror", default=os.environ.get("DGL_DIFFPOOL_MIRROR"))
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    parser.add_argument("--warmup", type=int, default=3, help="warm-up batches before the timed epochs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-seconds", type=float, default=30.0,
                        help="time whole epochs until this many seconds have passed; report the median epoch")
    parser.add_argument("--max-padded-nodes", type=int, default=4000,
                        help="ours-fast: cap on graphs x largest graph per batch")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.datasets, args.data_dir, args.mirror, args.warmup,
                                args.max_padded_nodes, args.min_seconds)))
        return
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for dataset in args.datasets.split(","):
        for variant in args.variants.split(","):
            row = run_worker(args, variant, dataset)
            rows.append(row)
            print(json.dumps(row), flush=True)
    text = table(rows)
    print(text)
    with open(os.path.join(args.out, "train_speed.json"), "w") as fh:
        settings = {**COMMON, "threads": args.threads, "warmup": args.warmup, "min_seconds": args.min_seconds,
                    "max_padded_nodes": args.max_padded_nodes}
        json.dump({"settings": settings, "rows": rows}, fh, indent=2)
    with open(os.path.join(args.out, "train_speed.md"), "w") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
