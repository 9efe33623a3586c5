"""Where one training epoch spends its time: torch profiler over dgl-diffpool on a dataset.

    python benchmarks/profile_epoch.py --dataset DD [--fixed] [--bucket [--max-padded-nodes N]] [--out DIR]

Trains one epoch (after a few warm-up batches) of the benchmark configuration
(``benchmarks/train_speed.py``) under ``torch.profiler`` and prints the ten
operators with the most self CPU time, and the share of the epoch's wall time
spent in DGL's sparse kernels (message passing), in dense matrix products, in
other tensor operators, and outside operators (Python, batching, data handling).
Writes ``profile_DATASET.txt`` into ``--out``.
"""
from __future__ import annotations

import argparse
import os
import time

import torch
from torch.profiler import ProfilerActivity, profile

from dgl_diffpool.data import iterate_batches, load_dataset
from dgl_diffpool.models import build_model
from dgl_diffpool.training.metrics import task_loss

MATMUL = ("aten::bmm", "aten::mm", "aten::addmm", "aten::matmul", "aten::baddbmm")


def category(name: str) -> str:
    if "SpMM" in name or "SDDMM" in name or "dgl" in name.lower() or "EdgeSoftmax" in name:
        return "DGL sparse kernels"
    if name in MATMUL:
        return "dense matrix products"
    return "other tensor operators"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="DD")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--mirror", default=os.environ.get("DGL_DIFFPOOL_MIRROR"))
    parser.add_argument("--fixed", action="store_true", help="fixed cluster counts (default: adaptive)")
    parser.add_argument("--bucket", action="store_true")
    parser.add_argument("--max-padded-nodes", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args()

    data = load_dataset(args.dataset, args.data_dir, mirror=args.mirror)
    torch.manual_seed(0)
    model = build_model("diffpool", **data.model_shape(), pool_levels=2, ratio=0.25, gnn_layers=3, hidden_feats=64,
                        adaptive_clusters=not args.fixed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    batching = dict(bucket=args.bucket, max_padded_nodes=args.max_padded_nodes)

    def epoch(indices):
        for batch in iterate_batches(data, indices, 20, torch.Generator().manual_seed(1), **batching):
            out = model(batch.graph, batch.feat, edge_feat=batch.edge_feat)
            loss = task_loss(data.task, out.logits, batch.labels) + out.aux_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    epoch(order[:60])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        tick = time.perf_counter()
        epoch(order)
        wall = time.perf_counter() - tick
    events = prof.key_averages()
    top = events.table(sort_by="self_cpu_time_total", row_limit=10)
    shares: dict[str, float] = {}
    for e in events:
        shares[category(e.key)] = shares.get(category(e.key), 0.0) + e.self_cpu_time_total / 1e6
    outside = max(wall - sum(shares.values()), 0.0)
    lines = [f"{args.dataset}: one training epoch, {len(data)} graphs, adaptive={not args.fixed}, "
             f"bucket={args.bucket}, max_padded_nodes={args.max_padded_nodes}: {wall:.1f} s wall", ""]
    for name, seconds in sorted(shares.items(), key=lambda kv: -kv[1]):
        lines.append(f"{name:>28}: {seconds:8.1f} s  {100 * seconds / wall:5.1f} %")
    lines.append(f"{'outside operators':>28}: {outside:8.1f} s  {100 * outside / wall:5.1f} %")
    text = "\n".join(lines) + "\n\n" + top
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"profile_{args.dataset}.txt"), "w") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
