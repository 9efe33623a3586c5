"""Training and evaluation of graph classifiers."""
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .config import RunConfig
from .device import resolve_device
from .engine import RunResult, evaluate, prepare_run, run_epoch, seed_everything, train

__all__ = [
    "RunConfig",
    "RunResult",
    "evaluate",
    "load_checkpoint",
    "model_from_checkpoint",
    "prepare_run",
    "resolve_device",
    "run_epoch",
    "save_checkpoint",
    "seed_everything",
    "train",
]
