"""Receptive fields for PATCHY-SAN (Niepert, Ahmed and Kutzkov, ICML 2016).

Every node is ranked by a graph labeling (betweenness centrality, ties by degree,
then node id); each node's receptive field is the ``k`` nodes nearest to it by
breadth-first search, ordered by distance and then by rank (the paper further
canonicalises the field with NAUTY; ties here fall back to the labeling). The model
takes the fields of the ``w`` best-ranked nodes of each graph.
"""
from __future__ import annotations

import os

import dgl
import networkx as nx
import torch

from .dataset import GraphClassificationData
from .storage import attach_cached_node_data

FIELD_KEY, RANK_KEY = "patchy_field", "patchy_rank"
# Exact betweenness is O(n m); larger graphs use this many sampled sources.
_EXACT_BETWEENNESS_NODES = 500


def receptive_fields(graph: dgl.DGLGraph, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fields, rank)``: ``fields[v]`` the ``k`` node ids of ``v``'s receptive field (``-1`` pads a
    field of a component with fewer than ``k`` nodes), ``rank[v]`` its position in the labeling."""
    n = graph.num_nodes()
    src, dst = (t.tolist() for t in graph.edges())
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from((u, v) for u, v in zip(src, dst) if u != v)
    sample = None if n <= _EXACT_BETWEENNESS_NODES else min(n, 100)
    centrality = nx.betweenness_centrality(g, k=sample, seed=seed)
    order = sorted(range(n), key=lambda v: (-centrality[v], -g.degree[v], v))
    rank = [0] * n
    for position, v in enumerate(order):
        rank[v] = position
    fields = torch.full((n, k), -1, dtype=torch.long)
    for v in range(n):
        chosen, frontier, seen = [v], [v], {v}
        while len(chosen) < k and frontier:
            layer = sorted({u for w in frontier for u in g[w] if u not in seen}, key=rank.__getitem__)
            seen.update(layer)
            chosen.extend(layer)
            frontier = layer
        fields[v, : min(k, len(chosen))] = torch.tensor(chosen[:k])
    return fields, torch.tensor(rank, dtype=torch.long)


def attach_receptive_fields(data: GraphClassificationData, k: int, cache_dir: str) -> None:
    """Store :func:`receptive_fields` of every graph in ``ndata`` (computed once, cached in ``cache_dir``)."""
    path = os.path.join(cache_dir, "patchy", f"{data.name}-k{k}.pt")
    attach_cached_node_data(data.store, path, lambda g: dict(zip((FIELD_KEY, RANK_KEY), receptive_fields(g, k))))


__all__ = ["FIELD_KEY", "RANK_KEY", "attach_receptive_fields", "receptive_fields"]
