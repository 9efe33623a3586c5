"""A task whose class no node's L-hop neighbourhood shows: can DiffPool learn it where a flat GNN cannot?

    python benchmarks/bridge_task.py --out DIR [--models sage-mean,diffpool] [--bridge-length 7]
        [--graphs 1000] [--seed 0] [--degree-features] [--set gnn_layers=5 ...]

Each graph is a ring of m cliques-with-chords (m = 4 or 6; 4 to 7 nodes each, ``--community-size``),
half of kind A and half of kind B, each joined to the next by a path of ``--bridge-length`` edges.
Node features are one-hot kinds (A, B, path node), with ``--degree-features`` also the one-hot degree.
Class 0: the kinds alternate around the ring (every bridge joins A and B); class 1: they do not (some
bridge joins two cliques of the same kind). Node counts, kinds and clique sizes have the same
distribution in both classes.

With bridges of 2L + 1 edges no node's L-hop neighbourhood holds both ends of a bridge, so an L-layer
flat GNN sees the same distribution of neighbourhoods in both classes: chance, by construction. The
middle edge of a bridge joins the two nodes L hops from either end: DiffPool's pooled adjacency
SᵀAS (a sum over edges) differs between the classes, at second order in the difference of those two
nodes' assignments (``tests/test_expressiveness.py``). With 2L + 2 edges DiffPool is blind too.

Every model trains with the ``train`` defaults (``--set key=value`` overrides a RunConfig field) on
one stratified hold-out split (80/10/10) into ``OUT/MODEL[-overrides]``; rerunning skips finished
runs. Prints validation and test accuracy, the first level's community recovery for DiffPool (ARI,
NMI of argmax S against the cliques and bridges) and the wall time.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

import dgl
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dgl_diffpool.data import GraphClassificationData  # noqa: E402
from dgl_diffpool.data.features import one_hot_degree  # noqa: E402
from dgl_diffpool.training import RunConfig, train  # noqa: E402

RING_SIZES = (4, 6)


def arrangements(m: int) -> dict[int, list[tuple[int, ...]]]:
    """Balanced kind sequences around a ring of ``m`` by class: 0 alternating, 1 not."""
    out: dict[int, list[tuple[int, ...]]] = {0: [], 1: []}
    for ones in itertools.combinations(range(m), m // 2):
        kinds = tuple(int(i in ones) for i in range(m))
        alternating = all(kinds[i] != kinds[(i + 1) % m] for i in range(m))
        out[0 if alternating else 1].append(kinds)
    return out


def make_graph(rng: np.random.Generator, label: int, bridge_length: int, community_size: tuple[int, int],
               p_in: float, degree_features: bool) -> dgl.DGLGraph:
    m = int(rng.choice(RING_SIZES))
    options = arrangements(m)[label]
    kinds = options[int(rng.integers(len(options)))]
    sizes = rng.integers(community_size[0], community_size[1] + 1, size=m)
    edges: set[tuple[int, int]] = set()
    kind: list[int] = []
    community: list[int] = []
    members = []
    n = 0
    for c in range(m):
        nodes = list(range(n, n + int(sizes[c])))
        members.append(nodes)
        n += len(nodes)
        kind += [kinds[c]] * len(nodes)
        community += [c] * len(nodes)
        for a, b in zip(nodes, nodes[1:] + nodes[:1]):  # a ring keeps the clique connected
            edges.add((min(a, b), max(a, b)))
        for i in range(len(nodes)):
            for j in range(i + 2, len(nodes)):
                if rng.random() < p_in:
                    edges.add((nodes[i], nodes[j]))
    for c in range(m):
        u = int(rng.choice(members[c]))
        v = int(rng.choice(members[(c + 1) % m]))
        path = [u] + list(range(n, n + bridge_length - 1)) + [v]
        n += bridge_length - 1
        kind += [2] * (bridge_length - 1)
        community += [m + c] * (bridge_length - 1)  # each bridge's path nodes: a group of their own
        edges.update((min(a, b), max(a, b)) for a, b in zip(path, path[1:]))
    src, dst = (torch.tensor(t) for t in zip(*sorted(edges)))
    g = dgl.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=n)
    feat = torch.nn.functional.one_hot(torch.tensor(kind), 3).float()
    g.ndata["feat"] = torch.cat([feat, one_hot_degree(g, 8)], 1) if degree_features else feat
    g.ndata["community"] = torch.tensor(community)
    return g


def dataset(args: argparse.Namespace) -> GraphClassificationData:
    rng = np.random.default_rng(args.seed)
    labels = np.arange(args.graphs) % 2
    rng.shuffle(labels)
    graphs = [make_graph(rng, int(y), args.bridge_length, tuple(args.community_size), args.p_in,
                         args.degree_features) for y in labels]
    return GraphClassificationData("bridge-task", graphs, torch.as_tensor(labels), 2)


def overrides(pairs: list[str]) -> dict[str, object]:
    fields = RunConfig().to_dict()
    out: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields:
            raise SystemExit(f"error: --set {pair}: {key!r} is not a RunConfig field")
        try:
            out[key] = json.loads(value)  # 5, 0.2, false
        except ValueError:
            out[key] = value  # gin
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", default="sage-mean,diffpool")
    parser.add_argument("--bridge-length", type=int, default=7)
    parser.add_argument("--graphs", type=int, default=1000)
    parser.add_argument("--community-size", type=int, nargs=2, default=(4, 7))
    parser.add_argument("--p-in", type=float, default=0.9)
    parser.add_argument("--degree-features", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if args.bridge_length < 1 or args.graphs < 10:
        raise SystemExit("error: --bridge-length must be >= 1 and --graphs >= 10")
    extra = overrides(args.set)
    torch.set_num_threads(1)
    data = dataset(args)
    print(f"{args.graphs} graphs, {np.mean([g.num_nodes() for g in data.graphs]):.1f} nodes on average, "
          f"bridges of {args.bridge_length} edges", flush=True)
    print("| model | validation | test | community ARI / NMI | seconds |\n| --- | ---: | ---: | --- | ---: |")
    for model in args.models.split(","):
        name = "-".join([model] + [p.replace("=", "") for p in args.set])
        run_dir = os.path.join(args.out, name)
        summary = os.path.join(run_dir, "result.json")
        if not os.path.exists(summary):
            start = time.time()
            result = train(RunConfig(model=model, data_dir=os.path.join(args.out, "data"), **extra), run_dir,
                           resume=os.path.exists(os.path.join(run_dir, "config.json")), data=data)
            with open(summary, "w") as fh:
                json.dump(dict(val=result.val_score, test=result.test_score, community=result.community,
                               seconds=time.time() - start), fh)
        row = json.load(open(summary))
        community = row["community"]
        recovery = f"{community['community_ari']:.3f} / {community['community_nmi']:.3f}" if community else ""
        print(f"| {name} | {row['val']:.2f} | {row['test']:.2f} | {recovery} | {row['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
