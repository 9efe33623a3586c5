"""Mini-batches of graphs as one block-diagonal DGLGraph."""
from __future__ import annotations

import math
import sys
from typing import Iterator, NamedTuple, Optional

import dgl
import torch
from torch.utils.data import DataLoader, Dataset

from .dataset import GraphClassificationData
from .store import GraphStore, assemble


# Starting loader workers costs about 0.1 s per pass (measured: README, loader workers); a pass of
# fewer batches than this is made in this process, where a batch costs about a millisecond.
WORKER_MIN_BATCHES = 64
# Forked, not started the process's default way: in a selection worker (a spawned process, whose
# default is spawn) a spawned loader worker imports torch anew every pass, 5 s before the first
# batch of a D&D epoch. Forking is what the loader does by default on Linux elsewhere.
LOADER_CONTEXT = "fork" if sys.platform.startswith("linux") else None


class GraphBatch(NamedTuple):
    """A block-diagonal batch: node features :math:`(N, F)`, edge features
    :math:`(E, F_e)` when the dataset's model uses them (else ``None``), labels.

    ``share`` is this process's part of a sharded global batch times the number of
    shards (1 unsharded; 0 for a stand-in graph given to a shard left empty), the
    factor that makes averaged gradients those of the global batch.
    """

    graph: dgl.DGLGraph
    feat: torch.Tensor
    labels: torch.Tensor
    edge_feat: Optional[torch.Tensor] = None
    share: float = 1.0


def batch_indices(
    sizes: torch.Tensor,
    indices: torch.Tensor,
    batch_size: int,
    generator: Optional[torch.Generator] = None,
    bucket: bool = False,
    max_padded_nodes: int = 0,
    size_spread: float = 2.0,
) -> list[torch.Tensor]:
    """Split ``indices`` (graphs of ``sizes[indices]`` nodes) into batches.

    Graphs are taken in order (shuffled if a ``generator`` is given; with
    ``bucket``, ordered by size) and cut into batches of ``batch_size``; a batch
    ends early once ``graphs x largest graph`` would exceed ``max_padded_nodes``
    (0: no cap; a graph larger than the cap goes alone). Dense pooling pads every
    graph of a batch to its largest one, so the cap bounds the padded work and
    the peak memory. With ``bucket`` a batch holds graphs of similar size, which
    keeps padding low, and the batches are shuffled.

    With ``bucket`` and a ``generator`` the order is by :math:`\log n + u`,
    :math:`u \sim U[0, \log(\text{size\_spread}))`: graphs whose sizes differ by
    less than ``size_spread`` mix freely, so a batch's members change from epoch
    to epoch. (A strict sort puts the same graphs together in every epoch; on
    ENZYMES that cost about 9 points of 10-fold CV accuracy.) Without a
    generator the order is the exact sort.

    The result depends only on the generator's state (what exact resuming needs).
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if max_padded_nodes < 0:
        raise ValueError(f"max_padded_nodes must be >= 0, got {max_padded_nodes}")
    if size_spread < 1.0:
        raise ValueError(f"size_spread must be >= 1, got {size_spread}")
    if generator is not None:
        indices = indices[torch.randperm(len(indices), generator=generator)]
    if bucket:
        key = sizes[indices].clamp(min=1).double().log()
        if generator is not None:
            key = key + torch.rand(len(indices), generator=generator, dtype=torch.float64) * math.log(size_spread)
        indices = indices[torch.argsort(key, stable=True)]
    batches, start, largest = [], 0, 0
    ordered = sizes[indices].tolist()
    for end in range(1, len(indices) + 1):
        largest = max(largest, ordered[end - 1])
        full = end - start == batch_size
        over = (end < len(indices) and max_padded_nodes
                and (end + 1 - start) * max(largest, ordered[end]) > max_padded_nodes)
        if full or over or end == len(indices):
            batches.append(indices[start:end])
            start, largest = end, 0
    if bucket and generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def iterate_batches(
    data: GraphClassificationData,
    indices: torch.Tensor,
    batch_size: int,
    generator: Optional[torch.Generator] = None,
    device: torch.device | str = "cpu",
    bucket: bool = False,
    max_padded_nodes: int = 0,
    shard: tuple[int, int] = (0, 1),
    workers: int = 0,
) -> Iterator[GraphBatch]:
    """Yield the batches of :func:`batch_indices` as :class:`GraphBatch` on ``device``.

    With ``shard=(r, W)`` every batch is cut into ``W`` shards and only graphs
    ``r, r + W, ...`` of it are yielded (data-parallel training: all processes draw the
    same batches from the same generator). A shard left empty gets the batch's first
    graph with ``share=0``, so every process still takes part in each step.

    With ``workers > 0`` (and at least :data:`WORKER_MIN_BATCHES` batches) the batches are cut
    from the dataset's store in that many worker processes (a :class:`torch.utils.data.DataLoader`),
    so that preparing the next batches overlaps the model's work on this one. The batches are
    the same: which graphs go together is decided here, from ``generator``, before any worker starts.
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    rank, shards = shard
    plan, shares = [], []
    for chunk in batch_indices(data.num_nodes, indices, batch_size, generator, bucket, max_padded_nodes):
        share = 1.0
        if shards > 1:
            mine = chunk[rank::shards]
            share = len(mine) * shards / len(chunk)
            chunk = mine if len(mine) else chunk[:1]
        plan.append(chunk)
        shares.append(share)
    if workers and len(plan) >= WORKER_MIN_BATCHES:
        parts = map(_from_numpy, DataLoader(_BatchParts(data.store, plan), batch_size=None, collate_fn=_as_is,
                                            num_workers=min(workers, len(plan)), prefetch_factor=4,
                                            multiprocessing_context=LOADER_CONTEXT))
    else:
        parts = map(data.store.batch_parts, plan)
    for chunk, share, part in zip(plan, shares, parts):
        graph = assemble(*part).to(device)
        feat = graph.ndata["feat"]
        feat = feat.float() if feat.is_floating_point() else feat  # integer columns go to embeddings
        edge_feat = graph.edata["feat"] if data.edge_encoder != "none" else None
        yield GraphBatch(graph, feat, data.labels[chunk].to(device), edge_feat, share)


class _BatchParts(Dataset):
    """The tensors of batch ``k`` of a fixed plan (what a loader worker builds)."""

    def __init__(self, store: GraphStore, plan: list[torch.Tensor]) -> None:
        self.store, self.plan = store, plan

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, k: int) -> tuple:
        # NumPy arrays travel through the worker's pipe in one pickle; tensors would each get a
        # shared-memory file, which costs more than building a batch of small graphs.
        return _map_arrays(lambda t: t.numpy(), self.store.batch_parts(self.plan[k]))


def _map_arrays(fn, parts: tuple) -> tuple:
    return tuple({k: fn(v) for k, v in p.items()} if isinstance(p, dict) else fn(p) for p in parts)


def _from_numpy(parts: tuple) -> tuple:
    return _map_arrays(torch.from_numpy, parts)


def _as_is(parts: tuple) -> tuple:
    return parts
