"""Pictures of runs: training curves and learnt cluster assignments (matplotlib, headless)."""
from .assignments import draw_assignments, hard_clusters
from .curves import FORMATS, figure_format, plot_run

__all__ = ["FORMATS", "draw_assignments", "figure_format", "hard_clusters", "plot_run"]
