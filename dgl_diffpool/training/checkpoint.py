"""Atomic checkpoint files and rebuilding a model from one."""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ..data.storage import atomic_torch_save
from ..errors import CheckpointError
from ..models import build_model
from .config import RunConfig
from .distributed import is_main_process

FORMAT = "dgl-diffpool-checkpoint-v1"


def save_checkpoint(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` to a temporary file beside ``path`` and rename it over ``path``.

    A crash mid-write leaves the previous checkpoint intact. In a distributed run
    only the main process writes.
    """
    if is_main_process():
        atomic_torch_save(path, {"format": FORMAT, **payload})


def load_checkpoint(path: str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, or raise :class:`CheckpointError`."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ... on damaged files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"checkpoint {path} is unreadable: truncated or corrupt ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dgl-diffpool checkpoint")
    return payload


def model_from_checkpoint(payload: dict[str, Any], path: str = "checkpoint") -> tuple[nn.Module, RunConfig]:
    """Rebuild the model stored in a checkpoint and load its weights."""
    config = RunConfig.from_dict(payload["config"])
    shape = payload["model_shape"]
    model = build_model(config.model, **shape, **config.model_kwargs())
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path} does not match its model configuration: {first}") from None
    return model, config
