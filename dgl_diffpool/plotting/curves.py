"""Training curves of a run directory (one run, or the folds / seeds of a repeated run)."""
from __future__ import annotations

import json
import os
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..data.task import METRIC_LABELS  # noqa: E402
from ..errors import DiffPoolError  # noqa: E402

CURVES_FILE = "curves.png"
# (title, key without the train_ / val_ prefix); the metric panel is found from the rows.
_PANELS = [("loss (task + auxiliary)", "loss"), ("link-prediction loss", "link"), ("assignment entropy", "entropy")]
_METRICS = ("acc", "rocauc", "ap")


def _read_metrics(path: str) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def find_runs(run_dir: str) -> dict[str, list[dict]]:
    """``{label: rows of metrics.jsonl}`` for ``run_dir`` itself or its ``fold-*`` / ``seed-*`` runs."""
    own = os.path.join(run_dir, "metrics.jsonl")
    if os.path.exists(own):
        return {os.path.basename(os.path.normpath(run_dir)): _read_metrics(own)}
    runs = {}
    if os.path.isdir(run_dir):
        for name in sorted(os.listdir(run_dir), key=lambda n: (n.split("-")[0], int(n.split("-")[-1])
                                                                if n.split("-")[-1].isdigit() else 0)):
            path = os.path.join(run_dir, name, "metrics.jsonl")
            if name.startswith(("fold-", "seed-")) and os.path.exists(path):
                runs[name] = _read_metrics(path)
    if not runs:
        raise DiffPoolError(f"{run_dir} holds no metrics.jsonl (not a run directory, or no epoch finished yet)")
    return runs


def _mean_curve(series: list[list[float]]) -> list[float]:
    """Mean over runs at each epoch, over the runs that reached it (early stopping ends runs early)."""
    longest = max(len(s) for s in series)
    return [sum(s[i] for s in series if i < len(s)) / sum(1 for s in series if i < len(s)) for i in range(longest)]


def plot_run(run_dir: str, out: Optional[str] = None) -> str:
    """Plot loss, the dataset's metric, link and entropy losses per epoch, train and validation.

    For a cross-validation or multi-seed run every fold / seed is a thin line and their
    mean a thick one. Writes ``out`` (default ``run_dir/curves.png``) and returns its path.
    Epochs are numbered from 1, as the command line prints them.
    """
    runs = find_runs(run_dir)
    first = next(iter(runs.values()))[0]
    metric = next((m for m in _METRICS if f"val_{m}" in first), None)
    panels = _PANELS[:1] + ([(METRIC_LABELS.get(metric, metric), metric)] if metric else []) + _PANELS[1:]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    several = len(runs) > 1
    for ax, (title, key) in zip(axes[0], panels):
        for split, colour in (("train", "tab:blue"), ("val", "tab:orange")):
            column = f"{split}_{key}"
            series = [[row[column] for row in rows] for rows in runs.values() if column in rows[0]]
            if not series:
                continue
            for s in series:
                ax.plot(range(1, len(s) + 1), s, color=colour, alpha=0.25 if several else 1.0, linewidth=1)
            if several:
                mean = _mean_curve(series)
                ax.plot(range(1, len(mean) + 1), mean, color=colour, linewidth=2.2, label=f"{split} (mean)")
            else:
                ax.lines[-1].set_label(split)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    name = os.path.basename(os.path.normpath(run_dir))
    fig.suptitle(f"{name}: {len(runs)} run(s)" if several else name)
    fig.tight_layout()
    out = out or os.path.join(run_dir, CURVES_FILE)
    tmp = out + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out)
    return out
