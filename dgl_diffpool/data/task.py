"""What a dataset asks a model to predict, and how predictions are scored."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..names import METRIC_LABELS

TASK_KINDS = ("multiclass", "binary")
METRICS = tuple(METRIC_LABELS)


@dataclass(frozen=True)
class Task:
    """A graph-level prediction task.

    ``multiclass``: one integer label per graph, ``num_outputs`` classes, softmax
    cross-entropy. ``binary``: ``num_outputs`` independent binary targets per
    graph (OGB's molecule tasks), float labels of shape :math:`(B, T)` where NaN
    marks a missing target, sigmoid cross-entropy over the present ones.

    ``metric`` is maximised for model selection; ``ogb_name`` names the dataset
    whose ``ogb.graphproppred.Evaluator`` computes it (else computed here: accuracy).
    """

    kind: str
    num_outputs: int
    metric: str = "acc"
    ogb_name: Optional[str] = None

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task kind must be one of {', '.join(TASK_KINDS)}, got {self.kind!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.num_outputs < 1:
            raise ValueError(f"a task needs at least one output, got {self.num_outputs}")
        if self.metric != "acc" and self.ogb_name is None:
            raise ValueError(f"metric {self.metric} is computed by ogb's Evaluator: give ogb_name")

    @property
    def metric_label(self) -> str:
        return METRIC_LABELS[self.metric]

    def to_dict(self) -> dict:
        return dict(kind=self.kind, num_outputs=self.num_outputs, metric=self.metric, ogb_name=self.ogb_name)


def multiclass(num_classes: int) -> Task:
    """Single-label classification into ``num_classes`` classes, scored by accuracy."""
    return Task("multiclass", num_classes)
