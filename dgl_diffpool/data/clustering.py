"""Deterministic graph clustering for DiffPool-Det: Graclus-style matching, repeated.

Graclus (Dhillon, Guan and Kulis, 2007) coarsens a graph by greedy matching: each
unmatched node, in a fixed order, joins the unmatched neighbour that maximises the
normalised-cut weight :math:`w_{uv} (1/d_u + 1/d_v)`; a node with no unmatched
neighbour stays alone. One round roughly halves the node count. Repeating rounds on the
coarsened graph until at most :math:`\\lceil r\\,n \\rceil` clusters remain gives
DiffPool-Det's assignment; repeating that per level gives a nested hierarchy.
"""
from __future__ import annotations

import math
import os

import dgl
import numpy as np
import scipy.sparse as sp
import torch

from .dataset import GraphClassificationData
from .storage import attach_cached_node_data

CLUSTER_KEY = "det_cluster"


def graclus_matching(adj: sp.csr_matrix) -> np.ndarray:
    """One round of greedy normalised-cut matching; returns cluster ids ``0..c-1`` per node.

    ``adj`` is a symmetric weighted adjacency (self-loops ignored). Nodes are visited
    in index order and ties go to the lower index, so the result is deterministic.
    """
    n = adj.shape[0]
    adj = adj.tocsr()
    degree = np.asarray(adj.sum(axis=1)).ravel() - adj.diagonal()
    inv = np.divide(1.0, degree, out=np.zeros(n), where=degree > 0)
    cluster = np.full(n, -1, dtype=np.int64)
    next_id = 0
    indptr, indices, data = adj.indptr, adj.indices, adj.data
    for u in range(n):
        if cluster[u] >= 0:
            continue
        best, best_score = -1, -1.0
        for pos in range(indptr[u], indptr[u + 1]):
            v = indices[pos]
            if v == u or cluster[v] >= 0:
                continue
            score = data[pos] * (inv[u] + inv[v])
            if score > best_score or (score == best_score and v < best):
                best, best_score = v, score
        cluster[u] = next_id
        if best >= 0:
            cluster[best] = next_id
        next_id += 1
    return cluster


def _coarsen(adj: sp.csr_matrix, cluster: np.ndarray) -> sp.csr_matrix:
    """S^T A S for the hard assignment ``cluster``: edge weights summed between clusters."""
    n, c = adj.shape[0], int(cluster.max()) + 1 if len(cluster) else 0
    s = sp.csr_matrix((np.ones(n), (np.arange(n), cluster)), shape=(n, c))
    return (s.T @ adj @ s).tocsr()


def cluster_to_target(adj: sp.csr_matrix, target: int) -> np.ndarray:
    """Graclus rounds until at most ``target`` clusters remain (or no edge is left to contract)."""
    n = adj.shape[0]
    cluster = np.arange(n, dtype=np.int64)
    current = adj
    while current.shape[0] > max(target, 1):
        step = graclus_matching(current)
        if step.max(initial=-1) + 1 == current.shape[0]:  # nothing matched: isolated clusters
            break
        cluster = step[cluster]
        current = _coarsen(current, step)
    return cluster


def cluster_hierarchy(graph: dgl.DGLGraph, ratio: float, levels: int) -> torch.Tensor:
    """Nested Graclus clusters of one graph: ``(n, levels)``, column ``l`` the level-``l+1``
    cluster of each node, ids ``0..k_l-1`` with :math:`k_l \\approx \\lceil r\\,k_{l-1} \\rceil`.

    Edge directions are ignored (the adjacency is symmetrised), as in Graclus.
    """
    n = graph.num_nodes()
    src, dst = (t.numpy() for t in graph.edges())
    adj = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    adj = (adj + adj.T).tocsr()
    columns, assignment, count = [], np.arange(n, dtype=np.int64), n
    for _ in range(levels):
        step = cluster_to_target(adj, max(1, math.ceil(ratio * count)))
        assignment = step[assignment]
        columns.append(assignment.copy())
        adj = _coarsen(adj, step)
        count = adj.shape[0]
    return torch.as_tensor(np.stack(columns, axis=1) if columns else np.zeros((n, 0), dtype=np.int64))


def attach_cluster_hierarchy(data: GraphClassificationData, ratio: float, levels: int, cache_dir: str) -> None:
    """Store :func:`cluster_hierarchy` of every graph in ``ndata["det_cluster"]``.

    Computed once per dataset, ratio and depth and cached in ``cache_dir``.
    """
    path = os.path.join(cache_dir, "clusters", f"{data.name}-graclus-r{ratio:g}-l{levels}.pt")
    attach_cached_node_data(data.store, path, lambda g: {CLUSTER_KEY: cluster_hierarchy(g, ratio, levels)})


__all__ = ["CLUSTER_KEY", "attach_cluster_hierarchy", "cluster_hierarchy", "cluster_to_target", "graclus_matching"]
