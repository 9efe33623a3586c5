"""Default hyper-parameters of the models: one set, shared by the Python classes
(:class:`~dgl_diffpool.models.DiffPoolClassifier` and the baselines) and the command line
(:class:`~dgl_diffpool.training.RunConfig`). Free of torch, like :mod:`dgl_diffpool.names`.

The evidence behind each value is in the README ("Which options move the numbers").
"""
from __future__ import annotations

POOL_LEVELS = 1
RATIO = 0.25  # clusters per node at each level (the paper's 25%)
ADAPTIVE_CLUSTERS = True  # per-graph cluster counts ceil(ratio * n_b) rather than one K per level
GNN_LAYERS = 3
HIDDEN = 64  # ENZYMES +4.0, PROTEINS +1.0 points over 32 (README, levers)
MLP_HIDDEN = 64
CONV = "sage"
BATCH_NORM = True
DROPOUT = 0.0
READOUT = "max"
LINK_LOSS = True
ENTROPY_LOSS = True
SORT_K = 30  # sage-sort: nodes SortPool keeps
PATCHY_WIDTH = 32  # patchy-san: receptive fields per graph
PATCHY_FIELD = 10  # patchy-san: nodes per receptive field
LOADER_WORKERS = 1  # processes preparing batches beside training (README: loader workers)
