"""Graph-kernel baselines: a GraKeL kernel and an SVM, on the same folds as the GNNs.

The Gram matrix of all graphs is computed once (it uses the graphs and their node
labels, never the class labels); per fold the SVM's C is chosen on the fold's
validation split, the SVM is trained on the training split only, and the test fold
is scored once.
"""
from __future__ import annotations

import statistics
from typing import Any, Sequence

import numpy as np
import torch

from ..data import GraphClassificationData
from ..data.splits import fold_split
from ..errors import ConfigError
from ..names import KERNELS

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3)


def _grakel_graphs(data: GraphClassificationData) -> list:
    from grakel import Graph

    graphs = []
    for g in data.graphs:
        src, dst = (t.tolist() for t in g.edges())
        n = g.num_nodes()
        if "node_label" in g.ndata:
            labels = g.ndata["node_label"].reshape(-1).tolist()
        else:  # unlabelled graphs: degrees, as the kernel literature does
            labels = (g.in_degrees() + g.out_degrees()).tolist()
        edges = {(u, v) for u, v in zip(src, dst) if u != v}
        edges |= {(v, u) for u, v in edges}
        # Isolated nodes need a self-edge to exist in GraKeL's edge-list input.
        touched = {u for u, _ in edges}
        edges |= {(u, u) for u in range(n) if u not in touched}
        graphs.append(Graph(sorted(edges), node_labels=dict(enumerate(labels))))
    return graphs


def kernel_matrix(kernel: str, data: GraphClassificationData, seed: int = 0) -> np.ndarray:
    """Normalised Gram matrix :math:`(G, G)` of ``kernel`` (one of :data:`KERNELS`) over all graphs.

    ``wl-kernel``: Weisfeiler-Lehman subtree, 5 iterations (Shervashidze et al., 2011);
    ``sp-kernel``: shortest-path with node labels (Borgwardt and Kriegel, 2005);
    ``graphlet-kernel``: connected and disconnected 4-node graphlets, 200 samples per graph
    (Shervashidze et al., 2009). A graph the kernel cannot see (too small for a graphlet)
    is similar only to itself.
    """
    from grakel.kernels import GraphletSampling, ShortestPath, VertexHistogram, WeisfeilerLehman

    if kernel == "wl-kernel":
        model = WeisfeilerLehman(n_iter=5, base_graph_kernel=VertexHistogram, normalize=True)
    elif kernel == "sp-kernel":
        model = ShortestPath(normalize=True, with_labels=True)
    elif kernel == "graphlet-kernel":
        model = GraphletSampling(k=4, sampling={"n_samples": 200}, normalize=True, random_state=seed)
    else:
        raise ConfigError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    with np.errstate(divide="ignore", invalid="ignore"):
        gram = np.asarray(model.fit_transform(_grakel_graphs(data)), dtype=np.float64)
    gram = np.nan_to_num(gram, nan=0.0, posinf=0.0, neginf=0.0)
    np.fill_diagonal(gram, np.where(np.diag(gram) > 0, np.diag(gram), 1.0))
    return gram


def _svm_accuracy(gram: np.ndarray, y: np.ndarray, train: np.ndarray, other: np.ndarray, c: float) -> float:
    from sklearn.svm import SVC

    svm = SVC(kernel="precomputed", C=c)
    svm.fit(gram[np.ix_(train, train)], y[train])
    return float((svm.predict(gram[np.ix_(other, train)]) == y[other]).mean())


def kernel_cross_validate(
    gram: np.ndarray,
    labels: torch.Tensor,
    folds: Sequence[torch.Tensor],
    val_fraction: float,
    seed: int,
    c_grid: Sequence[float] = C_GRID,
) -> dict[str, Any]:
    """Per fold: C chosen on the validation split (ties: the smaller C), the SVM
    trained on the training split, the test fold scored once. The splits are those of
    :func:`~dgl_diffpool.training.cross_validate` for the same folds and seed.

    Returns a summary in the format of the GNNs' ``summary.json`` (``per_fold`` rows
    carry the chosen ``C`` instead of a selected epoch).
    """
    y = labels.numpy()
    rows = []
    for i, fold in enumerate(folds):
        split = {k: v.numpy() for k, v in fold_split(labels, fold, val_fraction, seed + i).items()}
        scores = [(_svm_accuracy(gram, y, split["train"], split["valid"], c), -c) for c in c_grid]
        val, neg_c = max(scores)
        test = _svm_accuracy(gram, y, split["train"], split["test"], -neg_c)
        rows.append({"fold": i, "test_score": test, "val_score": val, "C": -neg_c})
    tests = [r["test_score"] for r in rows]
    return {"metric": "accuracy", "test_score_mean": statistics.fmean(tests),
            "test_score_std": statistics.pstdev(tests), "per_fold": rows, "folds": len(folds)}


__all__ = ["C_GRID", "KERNELS", "kernel_cross_validate", "kernel_matrix"]
