"""The built-in dataset: graphs whose class is the pattern their communities form.

Each graph is a set of dense communities (small random graphs); communities
are wired together by a few edges following a *super-graph* whose shape is the
class: a path, a cycle, a star, or a binary tree. The number and size of
communities vary, and a few random edges add noise, so node counts alone do not
tell the class; it is the arrangement of the communities that does, which is
what hierarchical pooling is meant to see.
"""
from __future__ import annotations

import hashlib
import os

import dgl
import numpy as np
import torch
from dgl.data import DGLDataset

from .features import one_hot_degree
from .storage import atomic_save_graphs, load_graphs

PATTERNS = ("path", "cycle", "star", "binary-tree")


def _super_edges(pattern: str, m: int) -> list[tuple[int, int]]:
    if pattern == "path":
        return [(i, i + 1) for i in range(m - 1)]
    if pattern == "cycle":
        return [(i, (i + 1) % m) for i in range(m)]
    if pattern == "star":
        return [(0, i) for i in range(1, m)]
    return [((i - 1) // 2, i) for i in range(1, m)]


def make_graph(
    rng: np.random.Generator,
    pattern: str,
    communities: tuple[int, int],
    community_size: tuple[int, int],
    p_in: float,
    bridge_edges: int,
    noise_edges: int,
) -> dgl.DGLGraph:
    """One undirected graph (both edge directions stored) of the given super-graph pattern;
    ``ndata["community"]`` holds each node's planted community."""
    m = int(rng.integers(communities[0], communities[1] + 1))
    sizes = rng.integers(community_size[0], community_size[1] + 1, size=m)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    edges: set[tuple[int, int]] = set()
    for c in range(m):
        nodes = np.arange(offsets[c], offsets[c + 1])
        # A ring keeps every community connected; random chords make it dense.
        for a, b in zip(nodes, np.roll(nodes, -1)):
            if a != b:
                edges.add((min(a, b), max(a, b)))
        for i in range(len(nodes)):
            for j in range(i + 2, len(nodes)):
                if rng.random() < p_in:
                    edges.add((int(nodes[i]), int(nodes[j])))
    for a, b in _super_edges(pattern, m):
        for _ in range(bridge_edges):
            u = int(rng.integers(offsets[a], offsets[a + 1]))
            v = int(rng.integers(offsets[b], offsets[b + 1]))
            edges.add((min(u, v), max(u, v)))
    n = int(offsets[-1])
    for _ in range(noise_edges):
        u, v = (int(t) for t in rng.integers(0, n, size=2))
        if u != v:
            edges.add((min(u, v), max(u, v)))
    src, dst = (torch.tensor(t, dtype=torch.int64) for t in zip(*sorted(edges)))
    g = dgl.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=n)
    g.ndata["community"] = torch.as_tensor(np.repeat(np.arange(m), sizes), dtype=torch.int64)
    return g


class HierarchicalCommunityDataset(DGLDataset):
    """Synthetic graph classification by community arrangement (deterministic from ``seed``).

    Parameters
    ----------
    num_graphs : int
        Number of graphs, split evenly over the four classes
        (``path``, ``cycle``, ``star``, ``binary-tree`` super-graphs).
    seed : int
        Seed of the generator: the same arguments always give the same graphs.
    save_dir : str, optional
        Where the generated graphs are cached (DGL's default if ``None``).
    communities : (int, int)
        Inclusive range of the number of communities per graph.
    community_size : (int, int)
        Inclusive range of nodes per community.
    p_in : float
        Probability of each extra edge inside a community.
    bridge_edges : int
        Random edges drawn between two communities joined in the super-graph.
    noise_edges : int
        Random edges added anywhere in each graph.
    max_degree : int
        Node features are the one-hot degree, clipped at this value.

    Each item is ``(graph, label)``; ``graph.ndata["feat"]`` holds the features and
    ``graph.ndata["community"]`` the planted community of each node (see
    :func:`dgl_diffpool.models.communities.community_recovery`).
    """

    def __init__(
        self,
        num_graphs: int = 1000,
        seed: int = 0,
        save_dir: str | None = None,
        communities: tuple[int, int] = (5, 8),
        community_size: tuple[int, int] = (5, 8),
        p_in: float = 0.9,
        bridge_edges: int = 1,
        noise_edges: int = 0,
        max_degree: int = 8,
        verbose: bool = False,
    ) -> None:
        if num_graphs < len(PATTERNS):
            raise ValueError(f"num_graphs must be at least {len(PATTERNS)}, got {num_graphs}")
        if communities[0] < 3 or communities[0] > communities[1]:
            raise ValueError(f"communities must be a range (lo, hi) with 3 <= lo <= hi, got {communities}")
        if community_size[0] < 2 or community_size[0] > community_size[1]:
            raise ValueError(f"community_size must be a range (lo, hi) with 2 <= lo <= hi, got {community_size}")
        self.params = dict(
            num_graphs=num_graphs,
            seed=seed,
            communities=tuple(communities),
            community_size=tuple(community_size),
            p_in=p_in,
            bridge_edges=bridge_edges,
            noise_edges=noise_edges,
            max_degree=max_degree,
            stored="community",  # caches written before communities were stored are not reused
        )
        digest = hashlib.sha1(repr(sorted(self.params.items())).encode()).hexdigest()[:10]
        self.graphs: list[dgl.DGLGraph] = []
        self.labels = torch.empty(0, dtype=torch.long)
        super().__init__(name=f"synthetic-{digest}", save_dir=save_dir, verbose=verbose)

    @property
    def cache_path(self) -> str:
        return os.path.join(self.save_path, "graphs.bin")

    def process(self) -> None:
        p = self.params
        rng = np.random.default_rng(p["seed"])
        labels = np.arange(p["num_graphs"]) % len(PATTERNS)
        rng.shuffle(labels)
        graphs = []
        for label in labels:
            g = make_graph(rng, PATTERNS[label], p["communities"], p["community_size"], p["p_in"],
                           p["bridge_edges"], p["noise_edges"])
            g.ndata["feat"] = one_hot_degree(g, p["max_degree"])
            graphs.append(g)
        self.graphs, self.labels = graphs, torch.as_tensor(labels, dtype=torch.long)

    def has_cache(self) -> bool:
        return os.path.exists(self.cache_path)

    def save(self) -> None:
        atomic_save_graphs(self.cache_path, self.graphs, {"labels": self.labels})

    def load(self) -> None:
        self.graphs, extra = load_graphs(self.cache_path)
        self.labels = extra["labels"]

    @property
    def num_classes(self) -> int:
        return len(PATTERNS)

    def __getitem__(self, idx: int):
        return self.graphs[idx], self.labels[idx]

    def __len__(self) -> int:
        return len(self.graphs)
