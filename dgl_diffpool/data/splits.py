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


def stratified_kfold(labels: torch.Tensor, folds: int, seed: int) -> list[torch.Tensor]:
    """Partition graph indices into ``folds`` disjoint test folds with class proportions kept.

    Each class is shuffled and dealt round-robin, starting where the previous
    class stopped, so fold sizes differ by at most one.
    """
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    y = labels.numpy()
    counts = np.bincount(y)
    if folds > len(y):
        raise ValueError(f"{folds} folds for {len(y)} graphs")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    start = 0
    for c in np.flatnonzero(counts):
        for j, i in enumerate(rng.permutation(np.flatnonzero(y == c))):
            parts[(start + j) % folds].append(int(i))
        start = (start + counts[c]) % folds
    return [torch.as_tensor(sorted(p), dtype=torch.long) for p in parts]


def fold_split(
    labels: torch.Tensor, test_fold: torch.Tensor, val_fraction: float, seed: int
) -> dict[str, torch.Tensor]:
    """Train / valid / test for one cross-validation fold.

    ``test`` is the fold; ``valid`` is a stratified ``val_fraction`` of the
    remaining graphs, used for early stopping and model selection only.
    """
    rest = torch.as_tensor(np.setdiff1d(np.arange(len(labels)), test_fold.numpy()), dtype=torch.long)
    inner = stratified_split(labels[rest], val_fraction, 0.0, seed)
    return {"train": rest[inner["train"]], "valid": rest[inner["valid"]], "test": test_fold}
