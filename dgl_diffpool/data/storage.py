"""Reading and writing prepared datasets without leaving half-written files."""
from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Callable

import dgl
import torch

from ..errors import DatasetError

if TYPE_CHECKING:
    from .store import GraphStore


def atomic_save_graphs(path: str, graphs: list[dgl.DGLGraph], tensors: dict[str, torch.Tensor]) -> None:
    """``dgl.save_graphs`` into a temporary file beside ``path``, then rename it into place."""
    _atomic_write(path, lambda tmp: dgl.save_graphs(tmp, graphs, tensors))


def load_graphs(path: str) -> tuple[list[dgl.DGLGraph], dict[str, torch.Tensor]]:
    """``dgl.load_graphs`` with a one-line error naming the file if it is unreadable."""
    try:
        return dgl.load_graphs(path)
    except Exception as exc:  # DGL raises bare DGLError / RuntimeError on corrupt files
        raise DatasetError(f"cannot read prepared dataset {path} ({exc}); delete it to rebuild") from None


_PARTIAL = ".tmp"


def is_partial_write(name: str) -> bool:
    """Whether a file name is one of :func:`_atomic_write`'s temporary files (``.NAME.XXXX.tmp``):
    left behind only by a process killed mid-write, never a result."""
    return name.startswith(".") and name.endswith(_PARTIAL)


def _atomic_write(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp)`` into a temporary file of its own beside ``path``, then rename it into place:
    readers never see a half-written file and concurrent writers never share a temporary name."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=_PARTIAL)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make results private to one user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_torch_save(path: str, value: object) -> None:
    """``torch.save`` into a temporary file beside ``path``, then rename it into place."""
    _atomic_write(path, lambda tmp: torch.save(value, tmp))


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_torch_save`)."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            fh.write(text)

    _atomic_write(path, write)


def attach_cached_node_data(
    store: "GraphStore", path: str, compute: Callable[[dgl.DGLGraph], dict[str, torch.Tensor]]
) -> None:
    """Set ``store.ndata`` from ``compute(graph)`` (``{key: (n, ...) tensor}``) of every graph,
    computed once and cached in ``path``; a cache of other graphs or an unreadable one is rebuilt."""
    sizes = store.num_nodes.tolist()
    cached = None
    if os.path.exists(path):
        try:
            cached = torch.load(path)
        except Exception:  # a cache, not data: rebuild it
            cached = None
    if not isinstance(cached, dict) or cached.get("sizes") != sizes or "data" not in cached:
        per_graph = [compute(g) for g in store.graphs()]
        keys = list(per_graph[0]) if per_graph else []
        cached = {"sizes": sizes, "data": {k: torch.cat([d[k] for d in per_graph]) for k in keys}}
        atomic_torch_save(path, cached)
    store.ndata.update(cached["data"])
