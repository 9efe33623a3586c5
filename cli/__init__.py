"""Command-line interface of dgl-diffpool (installed as ``dgl_diffpool_cli``)."""
from .main import cli

__all__ = ["cli"]
