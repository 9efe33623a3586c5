"""Pictures of runs: training curves and learnt cluster assignments (matplotlib, headless)."""
from .assignments import draw_assignments
from .curves import plot_run

__all__ = ["draw_assignments", "plot_run"]
