"""Choosing the device, with a clear error when CUDA cannot be used."""
from __future__ import annotations

import dgl
import torch

from ..errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``"cpu"`` or ``"cuda"`` / ``"cuda:N"``; CUDA needs both a CUDA torch and DGL's CUDA build."""
    if name == "cpu":
        return torch.device("cpu")
    if not name.startswith("cuda"):
        raise ConfigError(f"device must be 'cpu' or 'cuda[:N]', got {name!r}")
    if not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available to PyTorch on this machine")
    device = torch.device(name)
    try:
        dgl.graph(([0], [0])).to(device)
    except Exception:
        raise ConfigError(
            "--device cuda: this DGL build is CPU-only; install DGL's CUDA build from DGL's wheel index "
            "(see the README)"
        ) from None
    return device
