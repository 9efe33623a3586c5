"""Training curves of a run directory (one run, or the folds / seeds of a repeated run)."""
from __future__ import annotations

import json
import os
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..data.task import METRIC_LABELS  # noqa: E402
from ..errors import ConfigError, DiffPoolError  # noqa: E402

CURVES_FILE = "curves.png"
# (title, key without the train_ / val_ prefix); the metric panel is found from the rows.
_PANELS = [("loss (task + auxiliary)", "loss"), ("link-prediction loss", "link"), ("assignment entropy", "entropy")]
_METRICS = ("acc", "rocauc", "ap")
# pgf needs a LaTeX installation and raw / rgba are headerless pixel dumps: not offered as picture files.
FORMATS = tuple(sorted(set(FigureCanvasAgg.get_supported_filetypes()) - {"pgf", "raw", "rgba"}))
# Up to this many epochs every epoch gets a marker: a run of one epoch is a single point, invisible as a line.
_MARKER_EPOCHS = 60


def figure_format(out: str) -> str:
    """The picture format of the file name ``out``, from its extension (``"pdf"`` for ``x.pdf``).

    Raises
    ------
    ConfigError
        If the extension is missing or not one of :data:`FORMATS`.
    """
    ext = os.path.splitext(out)[1].lstrip(".").lower()
    if ext not in FORMATS:
        what = f".{ext} is not a picture format" if ext else "it has no extension to tell the picture format"
        raise ConfigError(f"cannot write {out}: {what}; use one of {', '.join('.' + f for f in FORMATS)}")
    return ext


def save_figure(fig: Figure, out: str, dpi: int) -> None:
    """Write ``fig`` to ``out`` in the format of its extension and close it.

    Written to a temporary file beside ``out`` and renamed, so that a reader never sees half a picture.
    """
    fmt = figure_format(out)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    try:
        # The temporary name does not end in the format's extension: the format must be explicit.
        fig.savefig(tmp, format=fmt, dpi=dpi)
        os.replace(tmp, out)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_metrics(path: str) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def find_runs(run_dir: str) -> dict[str, list[dict]]:
    """``{label: rows of metrics.jsonl}`` for ``run_dir`` itself or its ``fold-*`` / ``seed-*`` runs
    (a cross-validation repeated over seeds: its ``seed-S/fold-I`` runs)."""
    own = os.path.join(run_dir, "metrics.jsonl")
    if os.path.exists(own):
        return {os.path.basename(os.path.normpath(run_dir)): _read_metrics(own)}
    runs = {}
    for name in _parts(run_dir):
        path = os.path.join(run_dir, name, "metrics.jsonl")
        if os.path.exists(path):
            runs[name] = _read_metrics(path)
        elif name.startswith("seed-"):
            for inner in _parts(os.path.join(run_dir, name), ("fold-",)):
                path = os.path.join(run_dir, name, inner, "metrics.jsonl")
                if os.path.exists(path):
                    runs[f"{name}/{inner}"] = _read_metrics(path)
    if not runs:
        raise DiffPoolError(f"{run_dir} holds no metrics.jsonl (not a run directory, or no epoch finished yet)")
    return runs


def _parts(folder: str, prefixes: tuple[str, ...] = ("fold-", "seed-")) -> list[str]:
    """The ``fold-I`` / ``seed-S`` folders of ``folder``, by kind and then number."""
    if not os.path.isdir(folder):
        return []
    names = [n for n in os.listdir(folder) if n.startswith(prefixes) and n.split("-")[-1].isdigit()]
    return sorted(names, key=lambda n: (n.split("-")[0], int(n.split("-")[-1])))


def _mean_curve(series: list[list[float]]) -> list[float]:
    """Mean over runs at each epoch, over the runs that reached it (early stopping ends runs early)."""
    longest = max(len(s) for s in series)
    return [sum(s[i] for s in series if i < len(s)) / sum(1 for s in series if i < len(s)) for i in range(longest)]


def plot_run(run_dir: str, out: Optional[str] = None) -> str:
    """Plot loss, the dataset's metric, link and entropy losses per epoch, train and validation.

    For a cross-validation or multi-seed run every fold / seed is a thin line and their
    mean a thick one. Writes ``out`` (default ``run_dir/curves.png``) in the format of its
    extension (see :data:`FORMATS`) and returns its path. Epochs are numbered from 1, as the
    command line prints them; short runs get a marker at every epoch.

    Raises
    ------
    ConfigError
        If ``out`` does not end in a picture format's extension (checked before anything is read).
    DiffPoolError
        If ``run_dir`` holds no metrics.
    """
    out = out or os.path.join(run_dir, CURVES_FILE)
    figure_format(out)
    runs = find_runs(run_dir)
    first = next(iter(runs.values()))[0]
    metric = next((m for m in _METRICS if f"val_{m}" in first), None)
    panels = _PANELS[:1] + ([(METRIC_LABELS.get(metric, metric), metric)] if metric else []) + _PANELS[1:]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    several = len(runs) > 1
    longest = max(len(rows) for rows in runs.values())
    marker = dict(marker="o", markersize=3.5) if longest <= _MARKER_EPOCHS else {}
    for ax, (title, key) in zip(axes[0], panels):
        for split, colour in (("train", "tab:blue"), ("val", "tab:orange")):
            column = f"{split}_{key}"
            series = [[row[column] for row in rows] for rows in runs.values() if column in rows[0]]
            if not series:
                continue
            for s in series:
                ax.plot(range(1, len(s) + 1), s, color=colour, alpha=0.25 if several else 1.0, linewidth=1, **marker)
            if several:
                mean = _mean_curve(series)
                ax.plot(range(1, len(mean) + 1), mean, color=colour, linewidth=2.2, label=f"{split} (mean)",
                        **marker)
            else:
                ax.lines[-1].set_label(split)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        # Half an epoch of room each side; min_n_ticks=1 because the default (2) makes the locator
        # give up integers for a 1-epoch run and tick 0.96, 0.98, ...
        ax.set_xlim(0.5, longest + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator("auto", integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    name = os.path.basename(os.path.normpath(run_dir))
    fig.suptitle(f"{name}: {len(runs)} run(s)" if several else name)
    fig.tight_layout()
    save_figure(fig, out, dpi=110)
    return out
