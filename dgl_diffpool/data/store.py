"""Graphs as flat arrays: built once, written once, opened memory-mapped, batched from slices.

A :class:`GraphStore` of :math:`G` graphs with :math:`N` nodes and :math:`E` edges in all holds

* ``node_offsets`` :math:`(G + 1,)` and ``edge_offsets`` :math:`(G + 1,)`, int64: graph ``i``
  owns nodes ``node_offsets[i]:node_offsets[i + 1]`` and edges ``edge_offsets[i]:edge_offsets[i + 1]``
  (CSR offsets over graphs);
* ``src``, ``dst`` :math:`(E,)`, int32: the edges' endpoints, numbered within their graph;
* ``ndata`` / ``edata``: named tensors of :math:`N` / :math:`E` rows.

A Python list of ``DGLGraph`` objects costs kilobytes per graph before any data; this
costs the arrays alone, and a batch is built from slices of them in a few tensor
operations instead of one ``dgl.batch`` over many graphs. :func:`save_store` writes a
folder of ``.npy`` files and :func:`open_store` maps them back without reading them, so
reopening a prepared dataset reads no array and pages in only what is used.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from functools import cached_property
from typing import Iterator, Optional, Sequence

import dgl
import numpy as np
import torch

from ..errors import DatasetError
from .storage import _umask

# Bumped whenever the layout changes: a store of another format is rebuilt, never misread.
STORE_FORMAT = 1
_META = "meta.json"


class GraphStore:
    """Many small graphs in flat arrays (see the module docstring for the layout).

    Parameters
    ----------
    node_offsets, edge_offsets : torch.Tensor
        :math:`(G + 1,)` integer offsets starting at 0, non-decreasing.
    src, dst : torch.Tensor
        :math:`(E,)` endpoints of every edge, numbered within its graph (stored as int32).
    ndata, edata : dict of str to torch.Tensor, optional
        Node data of :math:`N` rows and edge data of :math:`E` rows.
    check_endpoints : bool
        Check that every endpoint lies in its graph (one pass over the edges; skipped for a
        store opened from disk, checked when it was built).

    Raises
    ------
    DatasetError
        If the arrays do not describe graphs (offsets that fall, an endpoint outside
        its graph, data of the wrong length).
    """

    def __init__(
        self,
        node_offsets: torch.Tensor,
        edge_offsets: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        ndata: Optional[dict[str, torch.Tensor]] = None,
        edata: Optional[dict[str, torch.Tensor]] = None,
        check_endpoints: bool = True,
    ) -> None:
        self.node_offsets = torch.as_tensor(node_offsets).long()
        self.edge_offsets = torch.as_tensor(edge_offsets).long()
        self.src = torch.as_tensor(src).int()
        self.dst = torch.as_tensor(dst).int()
        self.ndata = dict(ndata or {})
        self.edata = dict(edata or {})
        self._check()
        if check_endpoints:
            self._check_endpoints()

    def _check_endpoints(self, chunk: int = 1 << 20) -> None:
        for start in range(0, self.total_edges, chunk):
            edges = torch.arange(start, min(start + chunk, self.total_edges))
            size = self.num_nodes[self._graph_of(edges)]
            for ends in (self.src[edges], self.dst[edges]):
                bad = torch.nonzero((ends < 0) | (ends >= size))
                if len(bad):
                    edge = start + int(bad[0])
                    raise DatasetError(f"graph store: edge {edge} has an endpoint outside its graph")

    def _check(self) -> None:
        for name, offsets, total in (("node", self.node_offsets, None), ("edge", self.edge_offsets, len(self.src))):
            if offsets.dim() != 1 or len(offsets) < 1 or int(offsets[0]) != 0 or bool((offsets.diff() < 0).any()):
                raise DatasetError(f"graph store: {name} offsets must start at 0 and never fall")
            if total is not None and int(offsets[-1]) != total:
                raise DatasetError(f"graph store: edge offsets end at {int(offsets[-1])} for {total} edges")
        if len(self.node_offsets) != len(self.edge_offsets) or self.src.shape != self.dst.shape:
            raise DatasetError("graph store: node and edge offsets (or src and dst) differ in length")
        for kind, data, rows in (("node", self.ndata, self.total_nodes), ("edge", self.edata, self.total_edges)):
            for key, value in data.items():
                if value.shape[0] != rows:
                    raise DatasetError(f"graph store: {kind} data {key!r} has {value.shape[0]} rows for {rows} {kind}s")

    # ----------------------------------------------------------------- sizes
    def __len__(self) -> int:
        return len(self.node_offsets) - 1

    @property
    def total_nodes(self) -> int:
        return int(self.node_offsets[-1])

    @property
    def total_edges(self) -> int:
        return int(self.edge_offsets[-1])

    @cached_property
    def num_nodes(self) -> torch.Tensor:
        """Node count of every graph, :math:`(G,)` int64."""
        return self.node_offsets.diff()

    @cached_property
    def num_edges(self) -> torch.Tensor:
        """Edge count of every graph, :math:`(G,)` int64."""
        return self.edge_offsets.diff()

    def in_degrees(self, chunk: int = 1 << 20) -> torch.Tensor:
        """In-degree of every node, :math:`(N,)` int64 (``chunk`` edges at a time, to bound memory)."""
        degrees = torch.zeros(self.total_nodes, dtype=torch.long)
        for start in range(0, self.total_edges, chunk):
            edges = torch.arange(start, min(start + chunk, self.total_edges))
            degrees.index_add_(0, self.dst[edges].long() + self.node_offsets[self._graph_of(edges)],
                               torch.ones_like(edges))
        return degrees

    def _graph_of(self, edges: torch.Tensor) -> torch.Tensor:
        """The graph of each edge id in ``edges``."""
        return torch.searchsorted(self.edge_offsets, edges, right=True) - 1

    # --------------------------------------------------------------- building
    @classmethod
    def from_graphs(cls, graphs: Sequence[dgl.DGLGraph]) -> "GraphStore":
        """The store of ``graphs`` (homogeneous, every graph with the same data keys)."""
        if len(graphs) == 0:
            return cls(torch.zeros(1), torch.zeros(1), torch.zeros(0), torch.zeros(0))
        whole = dgl.batch(list(graphs))
        node_offsets = _offsets(whole.batch_num_nodes())
        edge_offsets = _offsets(whole.batch_num_edges())
        src, dst = whole.edges()
        shift = torch.repeat_interleave(node_offsets[:-1], whole.batch_num_edges())
        return cls(node_offsets, edge_offsets, src - shift, dst - shift, dict(whole.ndata), dict(whole.edata),
                   check_endpoints=False)  # DGL graphs have them in range

    def graph(self, index: int) -> dgl.DGLGraph:
        """Graph ``index`` as a ``DGLGraph`` whose data are views of the store's arrays (integer
        data stored narrower than int64 are copied as int64)."""
        (n0, n1), (e0, e1) = self.node_offsets[index:index + 2].tolist(), self.edge_offsets[index:index + 2].tolist()
        g = dgl.graph((self.src[e0:e1].long(), self.dst[e0:e1].long()), num_nodes=n1 - n0)
        for key, value in self.ndata.items():
            g.ndata[key] = _widen(value[n0:n1])
        for key, value in self.edata.items():
            g.edata[key] = _widen(value[e0:e1])
        return g

    def batch(self, indices: torch.Tensor | Sequence[int]) -> dgl.DGLGraph:
        """The graphs at ``indices`` as one batched ``DGLGraph``, the same as
        ``dgl.batch([self.graph(i) for i in indices])``, from slices of the arrays."""
        return assemble(*self.batch_parts(indices))

    def batch_parts(self, indices: torch.Tensor | Sequence[int]) -> tuple:
        """What :func:`assemble` turns into the batch of ``indices``: plain tensors, so that a
        worker process can build them and pass them through shared memory."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        nodes, edges = self.num_nodes[indices], self.num_edges[indices]
        node_ids = _ranges(self.node_offsets[indices], nodes)
        edge_ids = _ranges(self.edge_offsets[indices], edges)
        shift = torch.repeat_interleave(_offsets(nodes)[:-1], edges)
        src = self.src[edge_ids].long() + shift
        dst = self.dst[edge_ids].long() + shift
        ndata = {key: value[node_ids] for key, value in self.ndata.items()}
        edata = {key: value[edge_ids] for key, value in self.edata.items()}
        return src, dst, nodes, edges, ndata, edata

    def graphs(self) -> "GraphSequence":
        """The graphs as a read-only sequence of ``DGLGraph`` objects built on access."""
        return GraphSequence(self)


def assemble(src: torch.Tensor, dst: torch.Tensor, nodes: torch.Tensor, edges: torch.Tensor,
             ndata: dict[str, torch.Tensor], edata: dict[str, torch.Tensor]) -> dgl.DGLGraph:
    """A batched ``DGLGraph`` from :meth:`GraphStore.batch_parts` (integer data as int64)."""
    g = dgl.graph((src, dst), num_nodes=int(nodes.sum()))
    g.set_batch_num_nodes(nodes)
    g.set_batch_num_edges(edges)
    for key, value in ndata.items():
        g.ndata[key] = _widen(value)
    for key, value in edata.items():
        g.edata[key] = _widen(value)
    return g


def _widen(value: torch.Tensor) -> torch.Tensor:
    """Integer data kept narrow in the store (int8 atom features) as int64, what embeddings and
    users of ogb's graphs expect."""
    if value.is_floating_point() or value.dtype in (torch.int64, torch.bool):
        return value
    return value.long()


class GraphSequence(Sequence):
    """The graphs of a :class:`GraphStore`, each built when it is indexed.

    The graphs' data are views of the store: to add node data to every graph, set
    ``store.ndata[key]`` (one tensor over all nodes); keys set on a built graph are
    not kept.
    """

    def __init__(self, store: GraphStore) -> None:
        self.store = store

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.store.graph(i) for i in range(*index.indices(len(self)))]
        i = int(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"graph index {i} out of range for {len(self)} graphs")
        return self.store.graph(i % len(self))

    def __iter__(self) -> Iterator[dgl.DGLGraph]:
        return (self.store.graph(i) for i in range(len(self)))

    def __repr__(self) -> str:
        return f"GraphSequence({len(self)} graphs)"


def _offsets(counts: torch.Tensor) -> torch.Tensor:
    """``[0, c0, c0 + c1, ...]``: offsets from counts."""
    out = torch.zeros(len(counts) + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=out[1:])
    return out


def _ranges(starts: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``cat([arange(s, s + c) for s, c in zip(starts, counts)])`` without a Python loop."""
    total = int(counts.sum())
    return torch.arange(total) + torch.repeat_interleave(starts - _offsets(counts)[:-1], counts, output_size=total)


def smallest_int_dtype(values: np.ndarray) -> np.dtype:
    """The narrowest signed integer type that holds every value (int8 to int64)."""
    if values.size == 0:
        return np.dtype(np.int8)
    low, high = int(values.min()), int(values.max())
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


# ------------------------------------------------------------------- on disk
def save_store(path: str, store: GraphStore, arrays: dict[str, torch.Tensor], info: dict) -> None:
    """Write ``store``, the dataset-level ``arrays`` (labels, splits) and the JSON-able ``info`` to the
    folder ``path``: into a temporary folder beside it, then renamed into place, so that readers
    never see a half-written store. A store already at ``path`` is replaced."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(path) + ".")
    try:
        tensors = {"node_offsets": store.node_offsets, "edge_offsets": store.edge_offsets,
                   "src": store.src, "dst": store.dst}
        tensors.update({f"ndata.{k}": v for k, v in store.ndata.items()})
        tensors.update({f"edata.{k}": v for k, v in store.edata.items()})
        tensors.update({f"array.{k}": v for k, v in arrays.items()})
        for key, value in tensors.items():
            np.save(os.path.join(tmp, key + ".npy"), value.detach().cpu().numpy(), allow_pickle=False)
        meta = {"format": STORE_FORMAT, "files": sorted(tensors), "info": info}
        with open(os.path.join(tmp, _META), "w") as fh:
            json.dump(meta, fh, indent=1)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would make the cache private to one user
        _publish(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: str, path: str) -> None:
    """Rename the finished folder ``tmp`` to ``path``. A complete store of this format that another
    process put there meanwhile (ranks of one torchrun job preparing together) is kept; one of an
    older format is moved aside first, so that ``path`` is never a half-deleted folder."""
    for _ in range(3):
        try:
            os.replace(tmp, path)  # atomic; fails if path is a non-empty folder
            return
        except OSError:
            if not os.path.isdir(path):
                raise
        if _format(path) == STORE_FORMAT:
            return
        old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".old-")
        try:
            os.replace(path, os.path.join(old, "store"))
        except OSError:  # moved by another process: try again
            pass
        finally:
            shutil.rmtree(old, ignore_errors=True)
    raise DatasetError(f"cannot write prepared dataset {path}: another process keeps replacing it")


def _format(path: str) -> Optional[int]:
    try:
        return _read_meta(path).get("format")
    except (OSError, ValueError):
        return None


def _read_meta(path: str) -> dict:
    with open(os.path.join(path, _META)) as fh:
        meta = json.load(fh)
    if not isinstance(meta, dict):
        raise ValueError(f"{_META} is not an object")
    return meta


def open_store(path: str) -> Optional[tuple[GraphStore, dict[str, torch.Tensor], dict]]:
    """The ``(store, arrays, info)`` saved at ``path``, memory-mapped (copy-on-write: changes stay
    in memory), or ``None`` if there is none or it has another format (to be rebuilt).

    Raises :class:`DatasetError` naming the folder if it is damaged.
    """
    meta_path = os.path.join(path, _META)
    if not os.path.isfile(meta_path):
        return None
    try:
        meta = _read_meta(path)
        if meta.get("format") != STORE_FORMAT:
            return None
        tensors = {key: _map(os.path.join(path, key + ".npy")) for key in meta["files"]}
        store = GraphStore(  # its endpoints were checked before it was written: not read again here
            tensors.pop("node_offsets"), tensors.pop("edge_offsets"), tensors.pop("src"), tensors.pop("dst"),
            {k[6:]: v for k, v in tensors.items() if k.startswith("ndata.")},
            {k[6:]: v for k, v in tensors.items() if k.startswith("edata.")}, check_endpoints=False,
        )
    except (OSError, ValueError, KeyError, TypeError, DatasetError) as exc:
        raise DatasetError(f"cannot read prepared dataset {path} ({exc}); delete it to rebuild") from None
    arrays = {k[6:]: v for k, v in tensors.items() if k.startswith("array.")}
    return store, arrays, meta.get("info", {})


def _map(path: str) -> torch.Tensor:
    array = np.load(path, mmap_mode="c", allow_pickle=False)
    if array.size == 0:  # an empty array cannot be mapped
        array = np.load(path, allow_pickle=False)
    return torch.from_numpy(array)


__all__ = ["GraphSequence", "GraphStore", "STORE_FORMAT", "assemble", "open_store", "save_store",
           "smallest_int_dtype"]
