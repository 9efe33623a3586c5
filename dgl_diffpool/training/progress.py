"""How a run reports its epochs: a progress bar on a terminal, plain lines elsewhere.

A bar redraws itself with carriage returns, which belong on a terminal and nowhere else;
in a log file (``nohup``, CI) one line every few epochs reads better and greps.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from tqdm.auto import tqdm

from ..names import METRIC_LABELS


@dataclass(frozen=True)
class Progress:
    """What a run shows while it trains.

    Parameters
    ----------
    bar : bool
        A tqdm bar of the epochs (for a terminal).
    every : int
        Without a bar, one plain line every ``every`` epochs (and at the last one); 0 for none.
    echo : callable, optional
        Where plain lines go (``print``, ``click.echo``); ``None``: no lines, also none for
        finished folds or seeds of a repeated run.
    label : str
        Where this run stands within a longer one (``"fold 3/10"``), shown on its bar and lines.
    """

    bar: bool = False
    every: int = 0
    echo: Optional[Callable[[str], None]] = None
    label: str = ""

    @classmethod
    def of(cls, progress: Union[bool, "Progress"]) -> "Progress":
        """``True`` is a bar and ``False`` silence (the library's defaults); a :class:`Progress` is kept."""
        return progress if isinstance(progress, Progress) else cls(bar=bool(progress))

    def within(self, label: str) -> "Progress":
        """The same reporting for a part of this run, labelled ``label`` after this run's label."""
        return dataclasses.replace(self, label=f"{self.label} {label}".strip())

    def say(self, line: str) -> None:
        if self.echo is not None:
            self.echo(f"{self.label}: {line}" if self.label else line)

    def epochs(self, start: int, total: int, metric: str, enabled: bool = True) -> "EpochReport":
        """The reporter of a run's epochs ``start .. total - 1`` (silent where not ``enabled``:
        the processes of a distributed run other than the first)."""
        return EpochReport(self if enabled else Progress(), start, total, metric)


class EpochReport:
    """Shows each finished epoch as :class:`Progress` says; :meth:`close` it when the run ends."""

    def __init__(self, progress: Progress, start: int, total: int, metric: str) -> None:
        self.progress, self.total, self.metric = progress, total, metric
        # No bar, no tqdm: even a disabled one makes a multiprocessing lock, which a selection
        # worker stopped by SIGTERM leaves to the resource tracker (a warning after the error line).
        self.bar = None if not progress.bar else tqdm(total=total, initial=start, desc=progress.label or "epochs",
                                                      unit="ep", leave=False)

    def update(self, epoch: int, train: dict[str, Any], valid: dict[str, Any], best: dict[str, Any],
               seconds: float) -> None:
        metric = self.metric
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{train['loss']:.3f}", **{f"val_{metric}": f"{valid[metric]:.3f}"},
                                 selected=f"{best['val_score']:.3f}")
            return
        every = self.progress.every
        if every and ((epoch + 1) % every == 0 or epoch + 1 == self.total):
            self.progress.say(
                f"epoch {epoch + 1}/{self.total}: train loss {train['loss']:.4f}, validation {METRIC_LABELS[metric]} "
                f"{valid[metric]:.4f} (selected {best['val_score']:.4f} at epoch {best['epoch'] + 1}), {seconds:.1f} s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


__all__ = ["EpochReport", "Progress"]
