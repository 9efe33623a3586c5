"""Stratified splits of graph labels, deterministic from a seed."""
from __future__ import annotations

import numpy as np
import torch


def stratified_split(
    labels: torch.Tensor, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, torch.Tensor]:
    """Split graph indices into ``train`` / ``valid`` / ``test`` keeping class proportions.

    Each class contributes ``round(fraction * class_size)`` graphs to ``valid`` and
    ``test``; returned index tensors are sorted.
    """
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"validation and test fractions must be >= 0 and sum to < 1, got {val_fraction}, {test_fraction}"
        )
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val, n_test = round(val_fraction * len(idx)), round(test_fraction * len(idx))
        parts["valid"].append(idx[:n_val])
        parts["test"].append(idx[n_val : n_val + n_test])
        parts["train"].append(idx[n_val + n_test :])
    return {k: torch.as_tensor(np.sort(np.concatenate(v)), dtype=torch.long) for k, v in parts.items()}
