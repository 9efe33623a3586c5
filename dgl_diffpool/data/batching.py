"""Mini-batches of graphs as one block-diagonal DGLGraph."""
from __future__ import annotations

from typing import Iterator, NamedTuple, Optional

import dgl
import torch

from .dataset import GraphClassificationData


class GraphBatch(NamedTuple):
    """A block-diagonal batch: node features :math:`(N, F)`, edge features
    :math:`(E, F_e)` when the dataset's model uses them (else ``None``), labels."""

    graph: dgl.DGLGraph
    feat: torch.Tensor
    labels: torch.Tensor
    edge_feat: Optional[torch.Tensor] = None


def iterate_batches(
    data: GraphClassificationData,
    indices: torch.Tensor,
    batch_size: int,
    generator: Optional[torch.Generator] = None,
    device: torch.device | str = "cpu",
) -> Iterator[GraphBatch]:
    """Yield batches of the graphs at ``indices``, shuffled if a ``generator`` is given.

    Order depends only on the generator's state, so a seeded generator per epoch
    makes an epoch reproducible on its own (what resuming relies on).
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if generator is not None:
        indices = indices[torch.randperm(len(indices), generator=generator)]
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size].tolist()
        graph = dgl.batch([data.graphs[i] for i in chunk]).to(device)
        feat = graph.ndata["feat"]
        feat = feat.float() if feat.is_floating_point() else feat  # integer columns go to embeddings
        edge_feat = graph.edata["feat"] if data.edge_encoder != "none" else None
        yield GraphBatch(graph, feat, data.labels[chunk].to(device), edge_feat)
