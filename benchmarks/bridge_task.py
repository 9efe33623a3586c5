"""A task whose class no node's L-hop neighbourhood shows: can DiffPool learn it where a flat GNN cannot?

    python benchmarks/bridge_task.py --out DIR [--models sage-mean,diffpool] [--bridge-length 7]
        [--graphs 1000] [--community-size 4 7] [--p-in 0.9] [--degree-features] [--seed 0]
        [--set gnn_layers=4 ...]

Each graph is a ring of m near-cliques (m = 4 or 6; ``--community-size`` nodes each, a cycle plus
every chord with probability ``--p-in``), half of kind A and half of kind B, each joined to the next
by a path of ``--bridge-length`` edges. Node features are one-hot kinds (A, B, path node), with
``--degree-features`` also the one-hot degree. Class 0: the kinds alternate around the ring (every
path joins A and B); class 1: they do not (some path joins two cliques of the same kind). Node
counts, kinds and clique sizes have the same distribution in both classes. ``--seed`` seeds the
graphs; a training's seed is ``--set seed=S``.

With paths of 2L + 1 edges no node's L-hop neighbourhood holds both ends of a path, so an L-layer
flat GNN sees the same distribution of neighbourhoods in both classes: chance, by construction. The
middle edge of a path joins the two nodes L hops from either end: DiffPool's pooled adjacency SᵀAS
(a sum over edges) differs between the classes, at second order in the difference of those two
nodes' assignments (``tests/test_expressiveness.py``). With 2L + 2 edges DiffPool is blind too.

Every model trains with the ``train`` defaults (``--set key=value`` overrides a RunConfig field) on
one stratified hold-out split (80/10/10), one thread, into ``OUT/MODEL[-overrides]``; the graph
options are recorded in ``OUT/graphs.json`` and another set is refused. Rerunning skips finished
runs and resumes interrupted ones (their seconds then count the last part only). The runs'
``config.json`` names the built-in dataset: their graphs are this script's. Prints validation and
test accuracy, the first level's community recovery for DiffPool (ARI and NMI of argmax S against
the cliques and paths) and the wall time.
"""
from __future__ import annotations

import argparse
import dataclasses
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


def dataset(graphs: int, seed: int, bridge_length: int, community_size: tuple[int, int], p_in: float,
            degree_features: bool) -> GraphClassificationData:
    rng = np.random.default_rng(seed)
    labels = np.arange(graphs) % 2
    rng.shuffle(labels)
    made = [make_graph(rng, int(y), bridge_length, community_size, p_in, degree_features) for y in labels]
    return GraphClassificationData("bridge-task", made, torch.as_tensor(labels), 2)


def overrides(pairs: list[str]) -> dict[str, object]:
    """RunConfig fields from ``key=value`` pairs, each value converted to its field's type."""
    fields = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    out: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields or key in ("model", "dataset", "data_dir"):
            raise SystemExit(f"error: --set {pair}: {key!r} is not a training option this script lets you set")
        kind = fields[key]
        try:
            if kind == "bool":
                if value not in ("true", "false"):
                    raise ValueError
                out[key] = value == "true"
            else:
                out[key] = {"int": int, "float": float}.get(kind, str)(value)
        except ValueError:
            raise SystemExit(f"error: --set {pair}: {key} takes a value of type {kind}") from None
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
    lo, hi = args.community_size
    if args.bridge_length < 1 or args.graphs < 10 or not 3 <= lo <= hi or not 0.0 <= args.p_in <= 1.0:
        raise SystemExit("error: need --bridge-length >= 1, --graphs >= 10, --community-size LO HI with "
                         "3 <= LO <= HI and 0 <= --p-in <= 1")
    extra = overrides(args.set)
    graph_options = dict(graphs=args.graphs, seed=args.seed, bridge_length=args.bridge_length,
                         community_size=[lo, hi], p_in=args.p_in, degree_features=args.degree_features)
    os.makedirs(args.out, exist_ok=True)
    recorded = os.path.join(args.out, "graphs.json")
    if os.path.exists(recorded):
        with open(recorded) as fh:
            if json.load(fh) != graph_options:
                raise SystemExit(f"error: {args.out} holds runs on other graphs ({recorded}); choose another --out")
    else:
        with open(recorded, "w") as fh:
            json.dump(graph_options, fh)
    torch.set_num_threads(1)
    data = dataset(**{**graph_options, "community_size": (lo, hi)})
    print(f"{args.graphs} graphs, {np.mean([g.num_nodes() for g in data.graphs]):.1f} nodes on average, "
          f"paths of {args.bridge_length} edges", flush=True)
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
        with open(summary) as fh:
            row = json.load(fh)
        community = row["community"]
        recovery = f"{community['community_ari']:.3f} / {community['community_nmi']:.3f}" if community else ""
        print(f"| {name} | {row['val']:.2f} | {row['test']:.2f} | {recovery} | {row['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
