"""Write a large synthetic TU graph-classification dataset, to benchmark readers and training at scale.

    python benchmarks/make_large_tu.py --preset collab --out /tmp/large
    python benchmarks/make_large_tu.py --out /tmp/small --graphs 30 --avg-nodes 20 --node-labels 3 --format folder

The output follows the TU format (https://chrsmrrs.github.io/datasets/docs/format/):
``NAME_A.txt`` (``u, v`` per directed edge row, 1-based node ids over the whole dataset,
every undirected edge in both directions, rows sorted by u then v),
``NAME_graph_indicator.txt``, ``NAME_graph_labels.txt`` (classes 1..C) and, if asked,
``NAME_node_labels.txt`` (0..K-1) and ``NAME_node_attributes.txt``. It is a zip
``OUT/NAME.zip`` with members ``NAME/NAME_*.txt`` like the official zips, or a folder ``OUT/NAME/``.

Graphs are ego-network-like: node counts from a lognormal shifted to the minimum and clipped
to the maximum, edges drawn without replacement with Chung-Lu weights (a few hubs, many
low-degree nodes; no self loops, no duplicates), and a graph's density depends weakly on its
class, so that a classifier has something to learn. ``--preset collab`` gives COLLAB's size:
5,000 graphs of 32 to 492 nodes (74.49 on average), about 24.6 million edge rows, classes of
2,600 / 775 / 1,625 graphs.

Everything is generated and written in chunks (memory stays in the low hundreds of MB), and
the same seed gives the same bytes. Output goes to a temporary name that is renamed at the
end; an existing output is refused (exit code 2) unless ``--force``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Optional, Sequence

import numpy as np

# COLLAB as the TU collection lists it: 2457.78 undirected edges per graph on average.
COLLAB = dict(graphs=5000, avg_nodes=74.49, min_nodes=32, max_nodes=492, classes=3,
              avg_degree=2 * 2457.78 / 74.49, class_sizes=(2600, 775, 1625), node_labels=0, node_attributes=0)
DEFAULTS = dict(graphs=1000, avg_nodes=30.0, avg_degree=4.0, classes=2, node_labels=0, node_attributes=0)

# Spread of log(n - min): sigma 1 puts COLLAB's median near 58 nodes and ~10 graphs at the maximum.
NODE_SIGMA = 1.0
# Chung-Lu weight of the i-th node ~ i**-ALPHA, i.e. a power-law degree tail of exponent 1 + 1/ALPHA.
ALPHA = 0.6
# Class c multiplies the density by exp(CLASS_SPREAD * t_c) (t_c from -1 to 1); per-graph noise of
# the same size keeps the signal weak.
CLASS_SPREAD = 0.4
DENSITY_NOISE = 0.4
# Density ~ n**-0.5, i.e. mean degree ~ sqrt(n): big graphs are sparser, as in real networks.
DENSITY_SIZE_EXPONENT = -0.5
# Above this many node pairs a graph samples endpoints instead of scoring every pair.
DENSE_PAIRS = 1 << 22
# Rows (or nodes) formatted at a time: a few tens of MB of buffers.
CHUNK_ROWS = 1 << 20
# Independent random streams, so that each file can be written in its own pass.
STREAM_PLAN, STREAM_EDGES, STREAM_NODE_LABELS, STREAM_ATTRIBUTES = range(4)

_TRIPLETS = np.array([list(b"%03d" % i) for i in range(1000)], dtype=np.uint8)


class OutputExists(Exception):
    """The output is there already and --force was not given."""


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """A generator for one stream (and chunk) of one seed, independent of every other."""
    return np.random.default_rng([seed, *key])


def format_int_rows(values: np.ndarray, sep: bytes = b", ") -> bytes:
    """Rows of non-negative integers as text, ``sep`` between columns and a newline after each row.

    Vectorised with a table of 3-digit groups: measured faster than ``'%d, %d\\n' % tuple(...)``
    (0.42 s against 0.64 s for 2 M rows), pandas ``to_csv`` (2.6 s) and ``np.char`` (6.6 s), and
    it creates no Python object per value.
    """
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    if values.size == 0:
        return b""
    if values.min() < 0:
        raise ValueError("format_int_rows takes non-negative integers")
    rows, cols = values.shape
    groups = -(-len(str(int(values.max()))) // 3)
    digits = 3 * groups
    width = digits + len(sep)
    buf = np.empty((rows, cols, width), dtype=np.uint8)
    rest = values.astype(np.int64)
    for g in range(groups - 1, -1, -1):
        rest, low = np.divmod(rest, 1000)
        buf[:, :, 3 * g:3 * g + 3] = _TRIPLETS[low]
    buf[:, :, digits:] = np.frombuffer(sep, dtype=np.uint8)
    buf[:, -1, digits] = ord("\n")
    length = np.ones(values.shape, dtype=np.int8)
    for k in range(1, digits):
        length += values >= 10 ** k
    keep = np.arange(width, dtype=np.int8) >= (digits - length)[..., None]
    keep[:, -1, digits + 1:] = False
    return buf[keep].tobytes()


def format_float_rows(values: np.ndarray, sep: str = ", ", fmt: str = "%.5f") -> bytes:
    """Rows of floats as text (only node attributes use it: one value per node and column, in chunks)."""
    rows, cols = values.shape
    line = sep.join([fmt] * cols) + "\n"
    return ((line * rows) % tuple(values.ravel().tolist())).encode()


def split_evenly(total: int, weights: Sequence[float]) -> np.ndarray:
    """``total`` split in proportion to ``weights``, rounded by largest remainder (sums exactly to ``total``)."""
    share = np.asarray(weights, dtype=np.float64)
    share = share / share.sum() * total
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[:total - counts.sum()]] += 1
    return counts


def fit_scale(counts_for: Callable[[float], np.ndarray], target: int, lo: float, hi: float) -> np.ndarray:
    """Counts from ``counts_for(x)`` (non-decreasing in x) whose sum is closest to ``target`` from below."""
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if counts_for(mid).sum() > target:
            hi = mid
        else:
            lo = mid
    return counts_for(lo)


def nudge_to_total(counts: np.ndarray, target: int, low: np.ndarray, high: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Add or remove 1 on randomly chosen entries (kept within ``low..high``) until the sum is ``target``."""
    counts = counts.copy()
    diff = target - int(counts.sum())
    room = np.flatnonzero(counts < high) if diff > 0 else np.flatnonzero(counts > low)
    counts[rng.permutation(room)[:abs(diff)]] += np.sign(diff)
    if counts.sum() != target:
        raise ValueError(f"cannot reach a total of {target} within the bounds")
    return counts


def node_counts(rng: np.random.Generator, graphs: int, avg: float, lo: int, hi: int) -> np.ndarray:
    """Heavy-tailed node counts in ``lo..hi`` whose mean is ``avg`` (to the nearest node in total)."""
    z = rng.standard_normal(graphs)

    def counts(mu: float) -> np.ndarray:
        return np.clip(np.floor(lo + np.exp(mu + NODE_SIGMA * z)), lo, hi).astype(np.int64)

    target = int(round(avg * graphs))
    fitted = fit_scale(counts, target, -30.0, np.log(hi) + 10 * NODE_SIGMA)
    return nudge_to_total(fitted, target, np.full(graphs, lo), np.full(graphs, hi), rng)


def class_labels(rng: np.random.Generator, sizes: np.ndarray) -> np.ndarray:
    """Class 0..C-1 of each graph, exactly ``sizes[c]`` graphs of class c, in random order."""
    return rng.permutation(np.repeat(np.arange(len(sizes)), sizes))


def edge_counts(rng: np.random.Generator, nodes: np.ndarray, classes: np.ndarray, num_classes: int,
                target: int) -> np.ndarray:
    """Undirected edges per graph, ``target`` in total, density weakly tied to the class."""
    pairs = nodes * (nodes - 1) // 2
    if target > pairs.sum():
        raise ValueError(f"{2 * target} edge rows do not fit: the graphs have at most {2 * pairs.sum()}")
    tilt = np.linspace(-1.0, 1.0, num_classes) if num_classes > 1 else np.zeros(1)
    noise = DENSITY_NOISE * rng.standard_normal(len(nodes))
    base = np.exp(CLASS_SPREAD * tilt[classes] + noise) * np.maximum(nodes - 1, 1) ** DENSITY_SIZE_EXPONENT

    def counts(scale: float) -> np.ndarray:
        return np.rint(np.minimum(1.0, scale * base) * pairs).astype(np.int64)

    fitted = fit_scale(counts, target, 0.0, 1.0 / base.min())
    return nudge_to_total(fitted, target, np.zeros_like(pairs), pairs, rng)


def chung_lu_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """Power-law node weights in random order (the hubs are not always the first nodes)."""
    return rng.permutation(np.arange(1, n + 1, dtype=np.float64) ** -ALPHA)


def graph_edges(rng: np.random.Generator, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` distinct undirected edges of an n-node Chung-Lu graph, as directed rows (u, v).

    Both directions of every edge, sorted by u then v, 0-based; no self loops.
    """
    weights = chung_lu_weights(rng, n)
    if m == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    if n * (n - 1) // 2 <= DENSE_PAIRS:
        first, second = _dense_pairs(rng, weights, m)
        adjacency = np.zeros((n, n), dtype=bool)
        adjacency[first, second] = True
        adjacency[second, first] = True
        return np.nonzero(adjacency)
    first, second = _sparse_pairs(rng, weights, m)
    codes = np.sort(np.concatenate([first * n + second, second * n + first]))
    return codes // n, codes % n


def _dense_pairs(rng: np.random.Generator, weights: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sampling of m pairs without replacement (Efraimidis-Spirakis: the m smallest Exp(1) / w_i w_j)."""
    first, second = np.triu_indices(len(weights), 1)
    if m < len(first):
        keys = rng.standard_exponential(len(first)) / (weights[first] * weights[second])
        pick = np.argpartition(keys, m - 1)[:m]
        first, second = first[pick], second[pick]
    return first, second


def _sparse_pairs(rng: np.random.Generator, weights: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """m distinct pairs from endpoints drawn in proportion to the weights (for graphs too big to score all pairs)."""
    n = len(weights)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    codes = np.empty(0, dtype=np.int64)
    while len(codes) < m:
        draws = int(1.2 * (m - len(codes))) + 64
        ends = np.minimum(np.searchsorted(cdf, rng.random((2, draws)), side="right"), n - 1)
        low, high = ends.min(0), ends.max(0)
        codes = np.unique(np.concatenate([codes, (low * n + high)[low != high]]))
    if len(codes) > m:
        codes = rng.choice(codes, m, replace=False)
    return codes // n, codes % n


@dataclass
class Plan:
    """Everything decided before any file is written: small per-graph arrays."""

    nodes: np.ndarray  # node count per graph
    edges: np.ndarray  # undirected edge count per graph
    classes: np.ndarray  # class 0..C-1 per graph
    node_labels: int
    node_attributes: int
    seed: int

    @property
    def offsets(self) -> np.ndarray:
        """1-based id of each graph's first node."""
        return np.concatenate([[1], 1 + np.cumsum(self.nodes)[:-1]]).astype(np.int64)


def make_plan(graphs: int, avg_nodes: float, min_nodes: int, max_nodes: int, avg_degree: float,
              class_sizes: np.ndarray, node_labels: int, node_attributes: int, seed: int) -> Plan:
    rng = rng_for(seed, STREAM_PLAN)
    nodes = node_counts(rng, graphs, avg_nodes, min_nodes, max_nodes)
    classes = class_labels(rng, class_sizes)
    undirected = int(round(avg_degree * nodes.sum() / 2))
    edges = edge_counts(rng, nodes, classes, len(class_sizes), undirected)
    return Plan(nodes, edges, classes, node_labels, node_attributes, seed)


def graph_blocks(sizes: np.ndarray, limit: int = CHUNK_ROWS) -> Iterator[tuple[int, int]]:
    """Consecutive graph ranges [start, stop) of at most ``limit`` in total size (or one graph)."""
    start, total = 0, 0
    for index, size in enumerate(sizes.tolist()):
        if total and total + size > limit:
            yield start, index
            start, total = index, 0
        total += size
    if start < len(sizes):
        yield start, len(sizes)


def indicator_chunks(plan: Plan) -> Iterator[bytes]:
    for start, stop in graph_blocks(plan.nodes):
        yield format_int_rows(np.repeat(np.arange(start + 1, stop + 1), plan.nodes[start:stop]))


def graph_label_chunks(plan: Plan) -> Iterator[bytes]:
    yield format_int_rows(plan.classes + 1)  # TU labels of COLLAB and most others start at 1


def node_label_chunks(plan: Plan) -> Iterator[bytes]:
    """Labels with a Zipf-like frequency, shifted by the graph's class for some nodes (a weak signal)."""
    k = plan.node_labels
    base = 1.0 / np.arange(1, k + 1)
    for block, (start, stop) in enumerate(graph_blocks(plan.nodes)):
        rng = rng_for(plan.seed, STREAM_NODE_LABELS, block)
        nodes = plan.nodes[start:stop]
        labels = rng.choice(k, size=int(nodes.sum()), p=base / base.sum())
        shifted = rng.random(len(labels)) < 0.3
        labels[shifted] += np.repeat(plan.classes[start:stop], nodes)[shifted]
        yield format_int_rows(labels % k)


def attribute_chunks(plan: Plan) -> Iterator[bytes]:
    """Standard normal attributes; the first column is shifted by half the graph's class (a weak signal)."""
    for block, (start, stop) in enumerate(graph_blocks(plan.nodes, CHUNK_ROWS // max(1, plan.node_attributes))):
        rng = rng_for(plan.seed, STREAM_ATTRIBUTES, block)
        nodes = plan.nodes[start:stop]
        values = rng.standard_normal((int(nodes.sum()), plan.node_attributes))
        values[:, 0] += 0.5 * np.repeat(plan.classes[start:stop], nodes)
        yield format_float_rows(values)


def edge_chunks(plan: Plan) -> Iterator[bytes]:
    """The rows of ``_A.txt``; each graph has its own random stream, so chunking does not change the output."""
    offsets = plan.offsets
    parts, rows = [], 0
    for g, (n, m) in enumerate(zip(plan.nodes.tolist(), plan.edges.tolist())):
        u, v = graph_edges(rng_for(plan.seed, STREAM_EDGES, g), n, m)
        parts.append(np.stack([u, v], axis=1) + offsets[g])
        rows += len(u)
        if rows >= CHUNK_ROWS:
            yield from _in_slices(np.concatenate(parts))
            parts, rows = [], 0
    if parts:
        yield from _in_slices(np.concatenate(parts))


def _in_slices(rows: np.ndarray) -> Iterator[bytes]:
    """Formatted at most CHUNK_ROWS rows at a time: one huge graph must not multiply the buffers."""
    for start in range(0, len(rows), CHUNK_ROWS):
        yield format_int_rows(rows[start:start + CHUNK_ROWS])


def files(plan: Plan) -> list[tuple[str, Callable[[Plan], Iterator[bytes]]]]:
    """(suffix, chunk writer) of every file; in the order they are written, one at a time (a zip needs that)."""
    out = [("graph_indicator", indicator_chunks), ("graph_labels", graph_label_chunks)]
    if plan.node_labels:
        out.append(("node_labels", node_label_chunks))
    if plan.node_attributes:
        out.append(("node_attributes", attribute_chunks))
    out.append(("A", edge_chunks))
    return out


@contextlib.contextmanager
def _members(path: str, name: str, fmt: str) -> Iterator[Callable[[str], BinaryIO]]:
    """``open(file name)`` for members of the zip (``NAME/NAME_x.txt``) or for files of the folder at ``path``."""
    if fmt == "folder":
        os.makedirs(path)
        yield lambda fname: open(os.path.join(path, fname), "wb")
        return
    # Streaming members with force_zip64: sizes are unknown up front and may pass 4 GB.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        yield lambda fname: zf.open(f"{name}/{fname}", "w", force_zip64=True)


def write_dataset(plan: Plan, path: str, name: str, fmt: str) -> int:
    """Write every file of ``plan`` to ``path`` (a zip or a folder); returns the bytes of text written."""
    written = 0
    with _members(path, name, fmt) as open_member:
        for suffix, chunks in files(plan):
            with open_member(f"{name}_{suffix}.txt") as fh:
                for chunk in chunks(plan):
                    fh.write(chunk)
                    written += len(chunk)
    return written


def refuse_existing(final: str, force: bool) -> None:
    if os.path.lexists(final) and not force:
        raise OutputExists(f"{final} exists; give --force to replace it")


@contextlib.contextmanager
def atomic_output(final: str, force: bool) -> Iterator[str]:
    """A temporary path beside ``final``, renamed to ``final`` if the block succeeds and removed if not."""
    refuse_existing(final, force)
    parent, base = os.path.split(os.path.abspath(final))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{base}.part-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        _replace(tmp, final, force)
    finally:
        _remove(tmp)


def _replace(tmp: str, final: str, force: bool) -> None:
    refuse_existing(final, force)  # again: it may have appeared while we were writing
    if os.path.isdir(final) and not os.path.islink(final):
        old = f"{tmp}.old"
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory to write OUT/NAME.zip or OUT/NAME/ into")
    parser.add_argument("--name", default="LARGE", help="dataset name (file prefix); default LARGE")
    parser.add_argument("--format", choices=("zip", "folder"), default="zip")
    parser.add_argument("--preset", choices=("collab",), help="COLLAB's size (options given explicitly still win)")
    parser.add_argument("--graphs", type=int)
    parser.add_argument("--avg-nodes", type=float)
    parser.add_argument("--min-nodes", type=int, help="default: about 0.43 x avg (COLLAB's ratio), at least 2")
    parser.add_argument("--max-nodes", type=int, help="default: about 6.6 x avg (COLLAB's ratio)")
    parser.add_argument("--avg-degree", type=float, help="mean directed edge rows per node")
    parser.add_argument("--classes", type=int)
    parser.add_argument("--node-labels", type=int, help="number of node labels K (0: no node label file)")
    parser.add_argument("--node-attributes", type=int, help="attribute columns D (0: no attribute file)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    args = parser.parse_args(argv)
    settings = dict(DEFAULTS, **(COLLAB if args.preset == "collab" else {}))
    for key, value in settings.items():
        if hasattr(args, key) and getattr(args, key) is None:
            setattr(args, key, value)
    if args.min_nodes is None:
        args.min_nodes = settings.get("min_nodes", max(2, int(round(args.avg_nodes * 32 / 74.49))))
    if args.max_nodes is None:
        args.max_nodes = settings.get("max_nodes", max(args.min_nodes, int(round(args.avg_nodes * 492 / 74.49))))
    _check(parser, args)
    return args


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.graphs < 1 or args.classes < 1 or args.classes > args.graphs:
        parser.error("need --graphs >= 1 and 1 <= --classes <= --graphs")
    if not 1 <= args.min_nodes <= args.avg_nodes <= args.max_nodes:
        parser.error(f"need 1 <= --min-nodes ({args.min_nodes}) <= --avg-nodes ({args.avg_nodes}) "
                     f"<= --max-nodes ({args.max_nodes})")
    if args.avg_degree < 0 or args.node_labels < 0 or args.node_attributes < 0 or args.seed < 0:
        parser.error("--avg-degree, --node-labels, --node-attributes and --seed must not be negative")
    if not args.name or os.sep in args.name or args.name.startswith("."):
        parser.error(f"--name {args.name!r} is not a plain file name")


def class_sizes(args: argparse.Namespace) -> np.ndarray:
    """COLLAB's class proportions for its preset, else imbalanced ones (the k-th class ~ 1/(k+1))."""
    if args.preset == "collab" and args.classes == len(COLLAB["class_sizes"]):
        return split_evenly(args.graphs, COLLAB["class_sizes"])
    return split_evenly(args.graphs, [1.0 / (k + 1) for k in range(args.classes)])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    final = os.path.join(args.out, args.name + (".zip" if args.format == "zip" else ""))
    try:
        refuse_existing(final, args.force)  # before minutes of work, not only after
        plan = make_plan(args.graphs, args.avg_nodes, args.min_nodes, args.max_nodes, args.avg_degree,
                         class_sizes(args), args.node_labels, args.node_attributes, args.seed)
        with atomic_output(final, args.force) as tmp:
            written = write_dataset(plan, tmp, args.name, args.format)
    except (OutputExists, ValueError) as exc:
        print(f"make_large_tu: error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(plan.nodes)} graphs, {int(plan.nodes.sum())} nodes, {2 * int(plan.edges.sum())} edge rows, "
          f"{written} bytes of text -> {final} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
