"""Training and evaluation of graph classifiers."""
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .config import RunConfig
from .device import resolve_device
from .cross_validation import RepeatedResult, cross_validate
from .engine import RunResult, evaluate, run_epoch, seed_everything, train
from .preflight import prepare_run
from .seeds import repeat_seeds

__all__ = [
    "RepeatedResult",
    "RunConfig",
    "RunResult",
    "cross_validate",
    "evaluate",
    "load_checkpoint",
    "model_from_checkpoint",
    "prepare_run",
    "repeat_seeds",
    "resolve_device",
    "run_epoch",
    "save_checkpoint",
    "seed_everything",
    "train",
]
