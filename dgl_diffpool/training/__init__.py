"""Training and evaluation of graph classifiers.

Names are imported on first use (PEP 562), so that :mod:`dgl_diffpool.training.config`
is importable without torch and DGL (the command line's help does not wait for them).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Assessment": ".seeds",
    "RepeatedResult": ".cross_validation",
    "RunConfig": ".config",
    "RunResult": ".engine",
    "cross_validate": ".cross_validation",
    "evaluate": ".engine",
    "load_checkpoint": ".checkpoint",
    "model_from_checkpoint": ".checkpoint",
    "prepare_run": ".preflight",
    "repeat_assessment": ".seeds",
    "repeat_seeds": ".seeds",
    "resolve_device": ".device",
    "run_epoch": ".engine",
    "save_checkpoint": ".checkpoint",
    "seed_everything": ".engine",
    "train": ".engine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
