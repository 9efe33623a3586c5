"""Write a synthetic OGB graph-property dataset shaped like ogbg-molpcba, in ogb's raw layout, for benchmarks.

    python benchmarks/make_large_ogb.py --out /tmp/large-ogb
    python benchmarks/make_large_ogb.py --out /tmp/small-ogb --graphs 50 --seed 1

writes ``OUT/ogbg_molpcba/`` exactly as ogb lays out a downloaded molecule dataset (the
format of the mirrored ogbg_molhiv): ``RELEASE_v1.txt``; ``raw/`` with ``edge.csv.gz``,
``num-node-list.csv.gz``, ``num-edge-list.csv.gz``, ``node-feat.csv.gz``, ``edge-feat.csv.gz``
and ``graph-label.csv.gz``; ``split/scaffold/{train,valid,test}.csv.gz``; ``mapping/`` with
``README.md`` and ``mol.csv.gz``. ``ogb.graphproppred.DglGraphPropPredDataset('ogbg-molpcba',
root=OUT)`` reads it (and writes its ``processed/`` cache into it).

The molecules are random: a mostly chain-like random tree plus ring closures (about 26
atoms and 28 bonds per graph, as in molpcba), atom and bond features within ogb's vocabularies
(the degree feature is the real degree), 128 binary tasks with 60-90 % of the labels missing
and positives tied weakly to the ring count, and a scaffold-like 80/10/10 split (groups of
"scaffolds", the biggest in train, as ogb's scaffold split does). Written in chunks of graphs,
deterministic for a seed, to a temporary folder renamed at the end; an existing output is
refused (exit code 2) unless ``--force``.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from make_large_tu import OutputExists, atomic_output, format_int_rows, refuse_existing, rng_for

MOLPCBA_GRAPHS = 437_929
# ogb.utils.features.get_atom_feature_dims() / get_bond_feature_dims() (ogb 1.3.x); tests check they agree.
ATOM_FEATURE_DIMS = (119, 5, 12, 12, 10, 6, 6, 2, 2)
BOND_FEATURE_DIMS = (5, 6, 2)
# Atom types as indices of ogb's atomic number list (atomic number - 1): C, N, O, F, S, Cl, Br, P, I,
# at roughly their frequencies in drug-like molecules; the rest is any element.
ELEMENTS = np.array([5, 6, 7, 8, 15, 16, 34, 14, 52])
ELEMENT_P = np.array([0.72, 0.11, 0.12, 0.013, 0.017, 0.012, 0.004, 0.002, 0.001])
OTHER_ELEMENT_P = 0.001
# Usual valence by atomic number index, for the hydrogen count (1 for anything else).
VALENCE = {5: 4, 6: 3, 7: 2, 15: 2, 14: 3}
# log-normal node counts: mean about 26 atoms (molpcba: 25.97), clipped to molpcba's range.
NODE_MEAN, NODE_SIGMA, MIN_NODES, MAX_NODES = 26.0, 0.35, 1, 332
# A new atom bonds to the atom G steps back, G ~ geometric: mostly chains, some branches.
BRANCH_P = 0.55
# Ring closures per eligible atom: about 3.1 rings per molecule, 28 bonds on average.
RING_P = 0.15
AROMATIC_RING_P = 0.6
MISSING_RANGE = (0.66, 0.94)  # of a molecule's labels missing, before the per-task shift pulls it to ~60-90 %
CHUNK_GRAPHS = 16384
STREAM_TASKS, STREAM_CHUNK = range(2)


def dataset_meta(name: str) -> tuple[int, int]:
    """(number of tasks, release version) of ``name`` from ogb's master.csv, without importing ogb.

    Falls back to molpcba's (128, 1) for a name ogb does not know or when ogb is not installed.
    """
    spec = importlib.util.find_spec("ogb")
    if spec is None or not spec.submodule_search_locations:
        return 128, 1
    master = os.path.join(list(spec.submodule_search_locations)[0], "graphproppred", "master.csv")
    if not os.path.exists(master):
        return 128, 1
    with open(master, newline="") as fh:
        rows = {row[0]: row[1:] for row in csv.reader(fh)}
    names = rows[""]
    if name not in names:
        return 128, 1
    column = names.index(name)
    return int(rows["num tasks"][column]), int(rows["version"][column])


@dataclass
class Tasks:
    """Per-task parameters, drawn once so that every chunk labels the same way."""

    positive_logit: np.ndarray  # base rate of positives
    missing_shift: np.ndarray  # some tasks are measured on more molecules than others
    ring_effect: np.ndarray  # how much the ring count moves the positive rate

    @classmethod
    def draw(cls, rng: np.random.Generator, count: int) -> "Tasks":
        rate = np.clip(np.exp(rng.normal(np.log(0.01), 0.9, count)), 0.001, 0.3)
        return cls(np.log(rate / (1 - rate)), rng.normal(0.0, 1.0, count), rng.normal(0.0, 0.7, count))


@dataclass
class Chunk:
    """A block of molecules: local edge ids, features, labels and per-graph counts."""

    nodes: np.ndarray  # atoms per graph
    edges: np.ndarray  # (E, 2) local ids, grouped by graph
    edge_counts: np.ndarray
    node_feat: np.ndarray  # (N, 9)
    edge_feat: np.ndarray  # (E, 3)
    labels: np.ndarray  # (graphs, tasks) int8: 0, 1, or -1 for missing
    scaffolds: np.ndarray  # scaffold group id per graph


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def node_counts(rng: np.random.Generator, graphs: int) -> np.ndarray:
    mu = np.log(NODE_MEAN) - NODE_SIGMA ** 2 / 2
    return np.clip(np.rint(rng.lognormal(mu, NODE_SIGMA, graphs)), MIN_NODES, MAX_NODES).astype(np.int64)


def skeleton(rng: np.random.Generator, nodes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bonds (global ids within the chunk) of random trees plus ring closures, grouped by graph.

    Returns (edges (E, 2), graph of each edge, ring cover and aromatic cover of each atom, rings per graph).
    """
    total = int(nodes.sum())
    graph = np.repeat(np.arange(len(nodes)), nodes)
    local = np.arange(total) - np.repeat(np.cumsum(nodes) - nodes, nodes)
    # Tree: atom k > 0 bonds to atom k - 1 - G of its graph; a parent always has the lower id.
    child = np.flatnonzero(local > 0)
    back = np.minimum(rng.geometric(BRANCH_P, len(child)) - 1, local[child] - 1)
    parent = np.full(total, -1)
    parent[child] = child - 1 - back
    # Ring closures: atom k bonds back to k - 4 or k - 5 (a 5- or 6-ring along a chain), unless that
    # bond is its tree bond already; at most one closure per atom, so closures never repeat.
    size = rng.integers(5, 7, total)
    closing = (local >= size - 1) & (rng.random(total) < RING_P)
    closing &= parent != np.arange(total) - (size - 1)
    ring_end = np.flatnonzero(closing)
    ring_start = ring_end - (size[ring_end] - 1)
    aromatic = rng.random(len(ring_end)) < AROMATIC_RING_P
    edges = np.concatenate([np.stack([parent[child], child], 1), np.stack([ring_end, ring_start], 1)])
    edge_graph = graph[edges[:, 0]]
    order = np.argsort(edge_graph, kind="stable")  # per graph: tree bonds, then ring closures
    ring_cover = _cover(total, ring_start, ring_end)
    aromatic_cover = _cover(total, ring_start[aromatic], ring_end[aromatic])
    rings = np.bincount(graph[ring_end], minlength=len(nodes))
    return edges[order], edge_graph[order], ring_cover, aromatic_cover, rings


def _cover(total: int, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whether each atom lies in one of the ranges start..end (inclusive)."""
    diff = np.zeros(total + 1, dtype=np.int64)
    np.add.at(diff, start, 1)
    np.add.at(diff, end + 1, -1)
    return np.cumsum(diff[:-1]) > 0


def atom_features(rng: np.random.Generator, degree: np.ndarray, in_ring: np.ndarray,
                  aromatic: np.ndarray) -> np.ndarray:
    """The 9 columns of ogb's atom_to_feature_vector, each within ATOM_FEATURE_DIMS."""
    n = len(degree)
    element = ELEMENTS[rng.choice(len(ELEMENTS), n, p=ELEMENT_P / ELEMENT_P.sum())]
    other = rng.random(n) < OTHER_ELEMENT_P
    element[other] = rng.integers(0, ATOM_FEATURE_DIMS[0], int(other.sum()))
    valence = np.ones(n, dtype=np.int64)
    for index, value in VALENCE.items():
        valence[element == index] = value
    chirality = rng.choice(3, n, p=[0.97, 0.015, 0.015])
    charge = rng.choice([4, 5, 6], n, p=[0.01, 0.98, 0.01])  # index 5 is charge 0
    hydrogens = np.clip(valence - degree - aromatic, 0, 8)
    radical = (rng.random(n) < 0.0005).astype(np.int64)
    hybridization = np.where(aromatic, 1, rng.choice(3, n, p=[0.03, 0.22, 0.75]))  # SP, SP2, SP3
    columns = [element, chirality, np.minimum(degree, 11), charge, hydrogens, radical, hybridization,
               aromatic, in_ring]
    return np.stack(columns, axis=1).astype(np.int64)


def bond_features(rng: np.random.Generator, edges: np.ndarray, in_ring: np.ndarray,
                  aromatic: np.ndarray) -> np.ndarray:
    """The 3 columns of ogb's bond_to_feature_vector (type, stereo, conjugated), within BOND_FEATURE_DIMS."""
    e = len(edges)
    is_aromatic = aromatic[edges[:, 0]] & aromatic[edges[:, 1]]
    bond_type = np.where(is_aromatic, 3, rng.choice(3, e, p=[0.84, 0.14, 0.02]))  # single, double, triple
    ring_bond = in_ring[edges[:, 0]] & in_ring[edges[:, 1]]
    stereo = np.where((bond_type == 1) & ~ring_bond, rng.choice(3, e, p=[0.7, 0.15, 0.15]), 0)  # none, Z, E
    conjugated = (bond_type == 1) | (bond_type == 3) | (rng.random(e) < 0.1)
    return np.stack([bond_type, stereo, conjugated.astype(np.int64)], axis=1)


def task_labels(rng: np.random.Generator, tasks: Tasks, rings: np.ndarray) -> np.ndarray:
    """(graphs, tasks) of 0 / 1 / -1 (missing): a missing rate per molecule and task, positives tied to rings."""
    graphs, count = len(rings), len(tasks.positive_logit)
    missing_rate = rng.uniform(*MISSING_RANGE, graphs)
    missing_logit = np.log(missing_rate / (1 - missing_rate))[:, None] + tasks.missing_shift
    missing = rng.random((graphs, count)) < _sigmoid(missing_logit)
    # Every molecule keeps at least one label, as in molpcba.
    missing[np.arange(graphs), rng.integers(0, count, graphs)] = False
    signal = (rings[:, None] - 3.1) / 1.8 * tasks.ring_effect
    positive = rng.random((graphs, count)) < _sigmoid(tasks.positive_logit + signal)
    labels = positive.astype(np.int8)
    labels[missing] = -1
    return labels


def scaffold_ids(rng: np.random.Generator, rings: np.ndarray) -> np.ndarray:
    """A scaffold group per molecule: acyclic ones share one (as Murcko scaffolds do), the rest Zipf-sized groups."""
    tail = np.minimum(rng.zipf(1.5, len(rings)), (1 << 30) - 1)
    return np.where(rings == 0, 0, (rings.astype(np.int64) << 30) + tail)


def make_chunk(seed: int, index: int, graphs: int, tasks: Tasks) -> Chunk:
    rng = rng_for(seed, STREAM_CHUNK, index)
    nodes = node_counts(rng, graphs)
    edges, edge_graph, in_ring, aromatic, rings = skeleton(rng, nodes)
    degree = np.bincount(edges.ravel(), minlength=int(nodes.sum()))
    starts = np.cumsum(nodes) - nodes
    return Chunk(
        nodes=nodes,
        edges=edges - starts[edge_graph][:, None],
        edge_counts=np.bincount(edge_graph, minlength=graphs),
        node_feat=atom_features(rng, degree, in_ring, aromatic.astype(np.int64)),
        edge_feat=bond_features(rng, edges, in_ring, aromatic),
        labels=task_labels(rng, tasks, rings),
        scaffolds=scaffold_ids(rng, rings),
    )


def label_rows(labels: np.ndarray, tail: bytes = b"\n") -> bytes:
    """Rows of 0 / 1 with an empty field for a missing label (what pandas writes for NaN), then ``tail``."""
    rows, count = labels.shape
    buf = np.zeros((rows, 2 * count - 1 + len(tail)), dtype=np.uint8)
    buf[:, 0:2 * count - 1:2] = np.where(labels < 0, 0, ord("0") + labels)
    buf[:, 1:2 * count - 1:2] = ord(",")
    buf[:, 2 * count - 1:] = np.frombuffer(tail, dtype=np.uint8)
    return buf[buf != 0].tobytes()


def scaffold_split(scaffolds: np.ndarray, train: float = 0.8, valid: float = 0.1) -> dict[str, np.ndarray]:
    """ogb's scaffold split: groups by size (largest first, ties by the later first member), filling train,
    then valid, the rest in test; indices ascending within each split, as in ogb's files."""
    _, first, inverse, counts = np.unique(scaffolds, return_index=True, return_inverse=True, return_counts=True)
    order = np.lexsort((first, counts))[::-1]
    train_cut, valid_cut = train * len(scaffolds), (train + valid) * len(scaffolds)
    side = np.empty(len(counts), dtype=np.int8)
    in_train = in_valid = 0
    for group, size in zip(order.tolist(), counts[order].tolist()):
        if in_train + size <= train_cut:
            side[group], in_train = 0, in_train + size
        elif in_train + in_valid + size <= valid_cut:
            side[group], in_valid = 1, in_valid + size
        else:
            side[group] = 2
    of_graph = side[inverse]
    return {name: np.flatnonzero(of_graph == k) for k, name in enumerate(("train", "valid", "test"))}


class GzipText:
    """A gzip file written in pieces, counting the bytes of text; fixed header (mtime 0) for identical bytes."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.raw = open(path, "wb")
        name = os.path.basename(path)[:-len(".gz")]
        # Level 1: several times faster than ogb's level 9, for files about 1.5 times as big.
        self.gz = gzip.GzipFile(filename=name, mode="wb", compresslevel=1, fileobj=self.raw, mtime=0)
        self.written = 0

    def write(self, data: bytes) -> None:
        self.gz.write(data)
        self.written += len(data)

    def close(self) -> None:
        self.gz.close()
        self.raw.close()


RAW_FILES = ("edge", "num-node-list", "num-edge-list", "node-feat", "edge-feat", "graph-label")


def write_dataset(folder: str, graphs: int, seed: int, name: str) -> dict:
    """Write the whole dataset folder; returns counts and the bytes of text written."""
    num_tasks, version = dataset_meta(name)
    tasks = Tasks.draw(rng_for(seed, STREAM_TASKS), num_tasks)
    scaffolds, totals = [], dict(nodes=0, edges=0, labels=0)
    with contextlib.ExitStack() as stack:
        out = {key: GzipText(os.path.join(folder, "raw", f"{key}.csv.gz")) for key in RAW_FILES}
        out["mol"] = GzipText(os.path.join(folder, "mapping", "mol.csv.gz"))
        for handle in out.values():
            stack.callback(handle.close)
        header = ",".join([f"task_{t + 1}" for t in range(num_tasks)] + ["smiles", "mol_id"]) + "\n"
        out["mol"].write(header.encode())
        for index, start in enumerate(range(0, graphs, CHUNK_GRAPHS)):
            chunk = make_chunk(seed, index, min(CHUNK_GRAPHS, graphs - start), tasks)
            _write_chunk(out, chunk)
            scaffolds.append(chunk.scaffolds)
            totals["nodes"] += int(chunk.nodes.sum())
            totals["edges"] += len(chunk.edges)
            totals["labels"] += int((chunk.labels >= 0).sum())
    split = scaffold_split(np.concatenate(scaffolds) if scaffolds else np.empty(0, np.int64))
    written = sum(handle.written for handle in out.values())
    for part, indices in split.items():
        handle = GzipText(os.path.join(folder, "split", "scaffold", f"{part}.csv.gz"))
        handle.write(format_int_rows(indices))
        handle.close()
        written += handle.written
    _write_notes(folder, name, version, num_tasks)
    return dict(totals, written=written, tasks=num_tasks, split={k: len(v) for k, v in split.items()})


def _write_chunk(out: dict, chunk: Chunk) -> None:
    out["edge"].write(format_int_rows(chunk.edges, b","))
    out["num-node-list"].write(format_int_rows(chunk.nodes))
    out["num-edge-list"].write(format_int_rows(chunk.edge_counts))
    out["node-feat"].write(format_int_rows(chunk.node_feat, b","))
    out["edge-feat"].write(format_int_rows(chunk.edge_feat, b","))
    out["graph-label"].write(label_rows(chunk.labels))
    out["mol"].write(label_rows(chunk.labels, b",,\n"))  # no molecule behind a graph: empty smiles, mol_id


def _write_notes(folder: str, name: str, version: int, num_tasks: int) -> None:
    # ogb asks on stdin whether to re-download a folder without RELEASE_v<version>.txt: this one stops that.
    with open(os.path.join(folder, f"RELEASE_v{version}.txt"), "w") as fh:
        fh.write(f"# Release note for {name} (synthetic)\n\n### v{version}\n\n"
                 "Written by benchmarks/make_large_ogb.py: random molecule-like graphs, not real molecules.\n")
    with open(os.path.join(folder, "mapping", "README.md"), "w") as fh:
        fh.write(f"# {name} (synthetic)\n\n## mol.csv.gz\n\nThe columns are organized as follows:\n\n"
                 f"[task_1, ... task_{num_tasks}], SMILES, mol_id\n\n"
                 "The graphs are random, not molecules: SMILES and mol_id are empty.\n"
                 "i-th data object represents i-th row in mol.csv.gz.\n")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="root directory: the dataset goes to OUT/<name with - as _>/")
    parser.add_argument("--name", default="ogbg-molpcba", help="OGB dataset name; default ogbg-molpcba")
    parser.add_argument("--graphs", type=int, default=MOLPCBA_GRAPHS, help=f"default {MOLPCBA_GRAPHS:,} (molpcba)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing output (and ogb's processed/ in it)")
    args = parser.parse_args(argv)
    if args.graphs < 1 or args.seed < 0:
        parser.error("need --graphs >= 1 and --seed >= 0")
    if not args.name or os.sep in args.name or args.name.startswith("."):
        parser.error(f"--name {args.name!r} is not a plain dataset name")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    final = os.path.join(args.out, args.name.replace("-", "_"))
    try:
        refuse_existing(final, args.force)
        with atomic_output(final, args.force) as tmp:
            os.makedirs(tmp)
            stats = write_dataset(tmp, args.graphs, args.seed, args.name)
    except OutputExists as exc:
        print(f"make_large_ogb: error: {exc}", file=sys.stderr)
        return 2
    cells = args.graphs * stats["tasks"]
    split = "/".join(str(stats["split"][k]) for k in ("train", "valid", "test"))
    print(f"{args.graphs} graphs, {stats['nodes']} nodes, {stats['edges']} undirected edges, "
          f"{1 - stats['labels'] / cells:.1%} of {stats['tasks']} task labels missing, split {split}, "
          f"{stats['written']} bytes of text -> {final} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
