"""Reusable DiffPool building blocks for DGL models."""
from .dense_conv import DenseGCNConv, DenseGINConv, DenseSAGEConv
from .dense_gnn import DenseGNN
from .diffpool import DenseDiffPool, DiffPool
from .gnn import CONV_TYPES, GNN
from .low_rank import LowRankAdjacency
from .norm import MaskedBatchNorm, NodeBatchNorm
from .pooling import PoolOutput, cluster_counts, cluster_mask_from_counts, dense_diff_pool, sparse_diff_pool
from .readout import READOUTS, dense_readout, sparse_readout

__all__ = [
    "CONV_TYPES",
    "READOUTS",
    "DenseDiffPool",
    "DenseGCNConv",
    "DenseGINConv",
    "DenseGNN",
    "DenseSAGEConv",
    "DiffPool",
    "GNN",
    "LowRankAdjacency",
    "MaskedBatchNorm",
    "NodeBatchNorm",
    "PoolOutput",
    "cluster_counts",
    "cluster_mask_from_counts",
    "dense_diff_pool",
    "dense_readout",
    "sparse_diff_pool",
    "sparse_readout",
]
