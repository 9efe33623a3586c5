"""Training losses and scores for each kind of task."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.task import Task
from ..errors import DatasetError


def task_loss(task: Task, logits: Tensor, labels: Tensor) -> Tensor:
    """Softmax cross-entropy (multiclass) or sigmoid cross-entropy over the present (non-NaN)
    binary targets, averaged over them (binary; 0 if a batch has none)."""
    if task.kind == "multiclass":
        return F.cross_entropy(logits, labels)
    present = ~torch.isnan(labels)
    if not present.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[present], labels[present])


def probabilities(task: Task, logits: Tensor) -> Tensor:
    """Class probabilities (multiclass: softmax, ``(G, C)``) or per-target probabilities of
    the positive class (binary: sigmoid, ``(G, T)``)."""
    return torch.softmax(logits, -1) if task.kind == "multiclass" else torch.sigmoid(logits)


def score(task: Task, logits: Tensor, labels: Tensor) -> float:
    """The task's metric over all graphs of a split: accuracy, or ROC-AUC / average
    precision by ``ogb``'s Evaluator (averaged over targets that have both classes).
    ``logits`` may be any increasing function of them, such as :func:`probabilities`."""
    if task.metric == "acc":
        return (logits.argmax(-1) == labels).double().mean().item() if labels.numel() else 0.0
    from ogb.graphproppred import Evaluator

    try:
        return float(Evaluator(task.ogb_name).eval({"y_true": labels, "y_pred": logits})[task.metric])
    except RuntimeError as exc:  # e.g. a split too small to hold both classes of any target
        raise DatasetError(f"cannot compute {task.metric_label} on {len(labels)} graphs: {exc}") from None
