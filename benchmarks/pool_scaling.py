"""Level-0 pooling of one large graph: dgl-diffpool's sparse path against a dense one.

    python benchmarks/pool_scaling.py [--sizes 1000,3000,10000,30000] [--clusters 64] [--out benchmarks/results]

For each size n, a random undirected graph of mean degree about 10, embeddings
Z (n x 64) and assignment logits (n x K) are pooled, forward and backward:

* ``sparse``: :func:`dgl_diffpool.nn.sparse_diff_pool` on the DGLGraph (no n x n tensor);
* ``dense``: PyG's ``dense_diff_pool`` on the dense adjacency (what a dense model must build),
  skipped above ``--dense-max-nodes`` where its n x n matrices alone would take many GB.

Each point runs in its own subprocess: the median time of ``--repeats`` runs after a
warm-up, and the growth of peak resident memory over the process's state before the
graph was built. Prints a table, writes ``pool_scaling.json``, ``pool_scaling.md`` and a
log-log ``pool_scaling.png`` into ``--out``. Needs ``pip install .[bench]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from train_speed import current_rss_mb, peak_rss_mb

FEATURES = 64


def worker(impl: str, n: int, clusters: int, repeats: int) -> dict:
    import dgl
    import torch
    from torch_geometric.nn import dense_diff_pool

    from dgl_diffpool.nn import sparse_diff_pool

    torch.manual_seed(0)
    baseline = current_rss_mb()  # after the imports: only the graph and the pooling count
    src = torch.randint(0, n, (5 * n,))
    dst = torch.randint(0, n, (5 * n,))
    graph = dgl.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=n)
    z = torch.randn(n, FEATURES, requires_grad=True)
    s = torch.randn(n, clusters, requires_grad=True)
    if impl == "sparse":
        def run():
            out = sparse_diff_pool(graph, z, s)
            (out.x.sum() + out.adj.sum() + out.link_loss + out.entropy_loss).backward()
    else:
        adj = torch.zeros(n, n).index_put_(graph.edges(), torch.ones(graph.num_edges()), accumulate=True)

        def run():
            x, a, link, entropy = dense_diff_pool(z.unsqueeze(0), adj.unsqueeze(0), s.unsqueeze(0))
            (x.sum() + a.sum() + link + entropy).backward()

    run()
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        run()
        times.append(time.perf_counter() - tick)
    return dict(impl=impl, nodes=n, edges=graph.num_edges(), clusters=clusters, seconds=statistics.median(times),
                peak_growth_mb=peak_rss_mb() - baseline)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for impl, style in (("sparse", "o-"), ("dense", "s--")):
        pts = [r for r in rows if r["impl"] == impl and "error" not in r and "skipped" not in r]
        if not pts:
            continue
        label = {"sparse": "dgl-diffpool sparse_diff_pool", "dense": "dense (PyG dense_diff_pool)"}[impl]
        axes[0].plot([r["nodes"] for r in pts], [r["seconds"] for r in pts], style, label=label)
        axes[1].plot([r["nodes"] for r in pts], [max(r["peak_growth_mb"], 1.0) for r in pts], style, label=label)
    for ax, title in zip(axes, ("forward + backward (s)", "peak memory growth (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("nodes in the graph")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"Level-0 DiffPool of one graph, mean degree 10, K = {rows[0]['clusters']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,3000,10000,30000")
    parser.add_argument("--clusters", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dense-max-nodes", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.clusters, args.repeats)))
        return
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for n in (int(v) for v in args.sizes.split(",")):
        for impl in ("sparse", "dense"):
            if impl == "dense" and n > args.dense_max_nodes:
                rows.append(dict(impl=impl, nodes=n, clusters=args.clusters,
                                 skipped=f"n x n float32 = {n * n * 4 / 2**30:.1f} GiB per dense matrix"))
                print(json.dumps(rows[-1]), flush=True)
                continue
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, str(n),
                   "--clusters", str(args.clusters), "--repeats", str(args.repeats)]
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
            if proc.returncode != 0:
                rows.append(dict(impl=impl, nodes=n, clusters=args.clusters,
                                 error=(proc.stderr.strip().splitlines() or ["no output"])[-1]))
            else:
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    lines = ["| nodes | implementation | forward + backward (s) | peak memory growth (MB) |",
             "| ---: | --- | ---: | ---: |"]
    for r in rows:
        if "seconds" in r:
            lines.append(f"| {r['nodes']} | {r['impl']} | {r['seconds']:.3f} | {r['peak_growth_mb']:.0f} |")
        else:
            lines.append(f"| {r['nodes']} | {r['impl']} | {r.get('skipped') or 'failed: ' + r['error']} | |")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "pool_scaling.json"), "w") as fh:
        json.dump(rows, fh, indent=2)
    with open(os.path.join(args.out, "pool_scaling.md"), "w") as fh:
        fh.write(text + "\n")
    plot(rows, os.path.join(args.out, "pool_scaling.png"))


if __name__ == "__main__":
    main()
