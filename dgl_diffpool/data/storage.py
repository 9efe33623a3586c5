"""Reading and writing prepared datasets without leaving half-written files."""
from __future__ import annotations

import os
import tempfile

import dgl
import torch

from ..errors import DatasetError


def atomic_save_graphs(path: str, graphs: list[dgl.DGLGraph], tensors: dict[str, torch.Tensor]) -> None:
    """``dgl.save_graphs`` into a temporary file beside ``path``, then rename it into place."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    try:
        dgl.save_graphs(tmp, graphs, tensors)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_graphs(path: str) -> tuple[list[dgl.DGLGraph], dict[str, torch.Tensor]]:
    """``dgl.load_graphs`` with a one-line error naming the file if it is unreadable."""
    try:
        return dgl.load_graphs(path)
    except Exception as exc:  # DGL raises bare DGLError / RuntimeError on corrupt files
        raise DatasetError(f"cannot read prepared dataset {path} ({exc}); delete it to rebuild") from None


def atomic_torch_save(path: str, value: object) -> None:
    """``torch.save`` into a temporary file beside ``path``, then rename it into place."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(value, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
