"""OGB graph property prediction datasets through ``ogb.graphproppred``.

The raw folder (``ogbg_NAME/`` with ``raw/``, ``split/``, ``mapping/`` and
``RELEASE_v1.txt``, as ``ogb`` lays it out) is put into ``data_dir/ogb`` first,
copied from an offline mirror or downloaded from the official URL, and only then
handed to :class:`ogb.graphproppred.DglGraphPropPredDataset`, which processes it
in place and caches the result there. ``ogb`` is never allowed to download or to
ask a question on standard input itself.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from typing import Optional

import torch

from ..errors import DatasetError
from .dataset import GraphClassificationData
from .task import Task



def _meta(name: str) -> dict:
    import pandas as pd
    from ogb import graphproppred

    master = os.path.join(os.path.dirname(graphproppred.__file__), "master.csv")
    return pd.read_csv(master, index_col=0, keep_default_na=False)[name].to_dict()


def folder_name(name: str) -> str:
    """``ogbg-molhiv`` -> ``ogbg_molhiv``, the folder ``ogb`` reads."""
    return name.replace("-", "_")


def _release_file(meta: dict) -> str:
    return f"RELEASE_v{meta['version']}.txt"


def _check_raw_folder(path: str, meta: dict) -> None:
    for required in (_release_file(meta), os.path.join("raw", "edge.csv.gz"), os.path.join("split", meta["split"])):
        if not os.path.exists(os.path.join(path, required)):
            raise DatasetError(f"{path} is not an OGB dataset folder: {required} is missing")


def _copy_from_mirror(source: str, dest: str, meta: dict) -> None:
    """Copy the mirror's dataset folder (without any ``processed/``) to ``dest``, atomically."""
    _check_raw_folder(source, meta)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(dest), prefix=".copy-")
    try:
        target = os.path.join(tmp, "d")
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("processed"))
        for root, dirs, files in os.walk(target):  # a read-only mirror gives read-only copies
            for entry in dirs + files:
                os.chmod(os.path.join(root, entry), 0o755 if entry in dirs else 0o644)
        os.replace(target, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def download_ogb_folder(name: str, dest: str, meta: dict) -> None:
    """Download and unpack the official zip of ``name`` into ``dest`` (temporary folder, then rename)."""
    url = meta["url"]
    tmp = tempfile.mkdtemp(dir=os.path.dirname(dest), prefix=".download-")
    try:
        archive = os.path.join(tmp, "data.zip")
        with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as fh:
            shutil.copyfileobj(response, fh)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        unpacked = os.path.join(tmp, meta["download_name"])
        _check_raw_folder(unpacked, meta)
        os.replace(unpacked, dest)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"cannot download {url} ({exc}); give a local mirror with --mirror") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _ogb_dataset(name: str, root: str):
    """``DglGraphPropPredDataset`` with standard input closed, so that a prompt fails instead of hanging."""
    from ogb.graphproppred import DglGraphPropPredDataset

    try:
        with contextlib.redirect_stdout(io.StringIO()), _no_stdin(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # ogb's own non-writable-array notice
            return DglGraphPropPredDataset(name, root=root)
    except EOFError:
        raise DatasetError(
            f"ogb asked a question about {os.path.join(root, folder_name(name))} (its release file is missing "
            "or outdated); delete that folder to prepare it again"
        ) from None


@contextlib.contextmanager
def _no_stdin():
    import sys

    saved = sys.stdin
    sys.stdin = io.StringIO()
    try:
        yield
    finally:
        sys.stdin = saved


def load_ogb(name: str, data_dir: str, mirror: Optional[str] = None) -> GraphClassificationData:
    """The OGB dataset ``name`` with its official split, prepared once into ``data_dir/ogb``.

    Molecule datasets keep ``ogb``'s integer atom and bond features
    (``node_encoder="atom"``, ``edge_encoder="bond"``: a model embeds them with
    ``AtomEncoder`` / ``BondEncoder``) and a binary task table with NaN for
    missing labels. ``ogbg-ppa`` has no node features: every node gets the
    feature 1, and its 37 classes are a multiclass task scored by accuracy.
    """
    meta = _meta(name)
    root = os.path.join(data_dir, "ogb")
    os.makedirs(root, exist_ok=True)
    folder = os.path.join(root, folder_name(name))
    if not os.path.isdir(folder):
        if mirror is not None:
            source = os.path.join(mirror, "ogb", folder_name(name))
            if not os.path.isdir(source):
                raise DatasetError(f"mirror {mirror} has no OGB dataset {name} (looked for {source})")
            _copy_from_mirror(source, folder, meta)
        else:
            download_ogb_folder(name, folder, meta)
    _check_raw_folder(folder, meta)
    ds = _ogb_dataset(name, root)
    split = {k: torch.as_tensor(v, dtype=torch.long) for k, v in ds.get_idx_split().items()}
    graphs, labels = ds.graphs, ds.labels
    metric = meta["eval metric"]
    if meta["task type"] == "multiclass classification":
        for g in graphs:
            g.ndata["feat"] = torch.ones(g.num_nodes(), 1)
        task = Task("multiclass", int(meta["num classes"]), "acc")
        return GraphClassificationData(name, graphs, labels.reshape(-1).long(), task=task, split=split)
    task = Task("binary", int(meta["num tasks"]), metric, ogb_name=name)
    return GraphClassificationData(name, graphs, labels.float().reshape(len(graphs), -1), task=task, split=split,
                                   node_encoder="atom", edge_encoder="bond")
