"""dgl-diffpool: DiffPool (Ying et al., NeurIPS 2018) for DGL, sparse at the first level."""
import os

# DGL prints a notice on import unless a backend is chosen.
os.environ.setdefault("DGLBACKEND", "pytorch")
# ogb asks PyPI for a newer ogb on import and warns when offline.
os.environ.setdefault("OUTDATED_IGNORE", "1")

__version__ = "0.1.0"
