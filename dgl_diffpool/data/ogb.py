"""OGB graph property prediction datasets, read from ogb's raw layout into a graph store.

The raw folder (``ogbg_NAME/`` with ``raw/``, ``split/``, ``mapping/`` and
``RELEASE_v1.txt``, as ``ogb`` lays it out) is put into ``data_dir/ogb`` first,
copied from an offline mirror or downloaded from the official URL. Its CSV files are
then read here, a million rows at a time, into a :class:`~dgl_diffpool.data.store.GraphStore`
with the same graphs as ``ogb``'s ``DglGraphPropPredDataset`` gives (tested); that
class would hold one ``DGLGraph`` per graph, several GB for ogbg-molpcba. ``ogb``
itself supplies the datasets' descriptions (``master.csv``) and the evaluators.
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import os
import shutil
import tempfile
import urllib.request
import zipfile
import zlib
from typing import Iterator, Optional

import numpy as np
import torch

from ..errors import DatasetError
from .dataset import GraphClassificationData
from .store import GraphStore, open_store, save_store, smallest_int_dtype
from .task import Task



def _meta(name: str) -> dict:
    """ogb's description of ``name`` (its ``master.csv``), read without importing ogb (and PyG with it)."""
    spec = importlib.util.find_spec("ogb")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("OGB datasets need the ogb package (pip install ogb)")
    master = os.path.join(spec.submodule_search_locations[0], "graphproppred", "master.csv")
    with open(master, newline="") as fh:
        rows = {row[0]: row[1:] for row in csv.reader(fh)}
    column = rows[""].index(name)
    return {key: values[column] for key, values in rows.items() if key}


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


# Values of a raw CSV file parsed at a time: memory follows the arrays, not the text (pandas
# holds several copies of a piece while parsing it).
CSV_VALUES = 1 << 22


def _csv(path: str) -> Iterator[np.ndarray]:
    """The rows of ``path`` (a gzipped CSV without a header, as ogb writes them), piece by piece."""
    import pandas as pd

    if not os.path.exists(path):
        raise DatasetError(f"{path} is missing")
    try:
        with gzip.open(path, "rt") as fh:
            columns = fh.readline().count(",") + 1
        with pd.read_csv(path, compression="gzip", header=None, chunksize=max(1, CSV_VALUES // columns)) as reader:
            for frame in reader:
                yield frame.to_numpy()
    except (OSError, ValueError, EOFError, zlib.error, pd.errors.ParserError) as exc:
        raise DatasetError(f"cannot read {path} ({exc})") from None


def _column(path: str) -> np.ndarray:
    parts = [rows[:, 0] for rows in _csv(path)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _table(path: str, rows: int) -> np.ndarray:
    """A whole feature file: integers in the narrowest type that holds them, else float32."""
    parts = []
    for part in _csv(path):
        parts.append(part.astype(smallest_int_dtype(part)) if part.dtype.kind in "iu" else part.astype(np.float32))
    table = np.concatenate(parts) if parts else np.empty((0, 1), dtype=np.float32)
    if len(table) != rows:
        raise DatasetError(f"{path}: {len(table)} rows, expected {rows}")
    return table


def read_ogb_raw(folder: str, meta: dict, edge_features: bool = True
                 ) -> tuple[GraphStore, np.ndarray, dict[str, torch.Tensor]]:
    """The graphs, float32 label table and split of an OGB graph-property folder in ogb's raw layout.

    The same graphs as ``ogb``'s ``DglGraphPropPredDataset`` (edges in the same order, the
    inverse of every edge right after it where the dataset adds them), read into flat
    arrays a million rows at a time instead of one ``DGLGraph`` per graph.
    """
    raw = os.path.join(folder, "raw")
    nodes = _column(os.path.join(raw, "num-node-list.csv.gz")).astype(np.int64)
    edges = _column(os.path.join(raw, "num-edge-list.csv.gz")).astype(np.int64)
    if len(nodes) != len(edges):
        raise DatasetError(f"{raw}: {len(nodes)} node counts but {len(edges)} edge counts")
    node_offsets, edge_offsets = np.zeros(len(nodes) + 1, np.int64), np.zeros(len(nodes) + 1, np.int64)
    np.cumsum(nodes, out=node_offsets[1:])
    np.cumsum(edges, out=edge_offsets[1:])

    path, sources, targets, row = os.path.join(raw, "edge.csv.gz"), [], [], 0
    for part in _csv(path):
        graph = np.searchsorted(edge_offsets, np.arange(row, row + len(part)), side="right") - 1
        size = nodes[np.minimum(graph, len(nodes) - 1), None]  # ids are numbered within their graph
        bad = np.flatnonzero((graph >= len(nodes)) | (part < 0).any(1) | (part >= size).any(1))
        if bad.size:
            raise DatasetError(f"{path} line {row + int(bad[0]) + 1}: node id outside its graph (or more edges than "
                               "num-edge-list.csv.gz counts)")
        sources.append(part[:, 0].astype(np.int32))
        targets.append(part[:, 1].astype(np.int32))
        row += len(part)
    if row != edge_offsets[-1]:
        raise DatasetError(f"{path}: {row} edges, num-edge-list.csv.gz counts {int(edge_offsets[-1])}")
    src = np.concatenate(sources) if sources else np.empty(0, np.int32)
    del sources
    dst = np.concatenate(targets) if targets else np.empty(0, np.int32)
    del targets

    ndata, edata = {}, {}
    if meta["has_node_attr"] == "True":
        ndata["feat"] = torch.from_numpy(_table(os.path.join(raw, "node-feat.csv.gz"), int(node_offsets[-1])))
    if edge_features and meta["has_edge_attr"] == "True":
        edata["feat"] = _table(os.path.join(raw, "edge-feat.csv.gz"), len(src))
    if meta["add_inverse_edge"] == "True":  # as ogb: every edge, then its inverse
        src, dst = np.stack([src, dst], 1).reshape(-1), np.stack([dst, src], 1).reshape(-1)
        edata = {k: np.repeat(v, 2, axis=0) for k, v in edata.items()}
        edge_offsets = edge_offsets * 2
    store = GraphStore(torch.from_numpy(node_offsets), torch.from_numpy(edge_offsets), torch.from_numpy(src),
                       torch.from_numpy(dst), ndata, {k: torch.from_numpy(v) for k, v in edata.items()},
                       check_endpoints=False)  # checked as edge.csv.gz was read

    # float32 at once (pandas reads float64): a missing label is NaN, class ids are small integers
    labels = np.concatenate([part.astype(np.float32) for part in _csv(os.path.join(raw, "graph-label.csv.gz"))])
    if len(labels) != len(nodes):
        raise DatasetError(f"{raw}: {len(labels)} graph labels for {len(nodes)} graphs")
    split_dir = os.path.join(folder, "split", meta["split"])
    split = {part: torch.from_numpy(_column(os.path.join(split_dir, f"{part}.csv.gz")).astype(np.int64))
             for part in ("train", "valid", "test")}
    return store, labels, split


def load_ogb(name: str, data_dir: str, mirror: Optional[str] = None) -> GraphClassificationData:
    """The OGB dataset ``name`` with its official split, prepared once into ``data_dir/ogb``
    (a :mod:`~dgl_diffpool.data.store` folder ``ogbg_NAME/processed/dgl-diffpool.store``).

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
    cache = os.path.join(folder, "processed", "dgl-diffpool.store")
    multiclass = meta["task type"] == "multiclass classification"
    stored = open_store(cache)
    if stored is not None:
        store, arrays, _ = stored
        split = {k: arrays[f"split_{k}"] for k in ("train", "valid", "test")}
        return _dataset(name, meta, store, arrays["labels"], split, checked=True)
    if not os.path.isdir(folder):
        if mirror is not None:
            source = os.path.join(mirror, "ogb", folder_name(name))
            if not os.path.isdir(source):
                raise DatasetError(f"mirror {mirror} has no OGB dataset {name} (looked for {source})")
            _copy_from_mirror(source, folder, meta)
        else:
            download_ogb_folder(name, folder, meta)
    _check_raw_folder(folder, meta)
    # Multiclass (ogbg-ppa) models use no edge features: its 7 float columns per edge are not read.
    store, labels, split = read_ogb_raw(folder, meta, edge_features=not multiclass)
    if multiclass:
        store.ndata["feat"] = torch.ones(store.total_nodes, 1)
        labels = labels.reshape(-1).astype(np.int64)
    else:
        labels = labels.reshape(len(labels), -1)
    data = _dataset(name, meta, store, torch.from_numpy(labels), split, checked=False)  # checked before written
    save_store(cache, store, {"labels": data.labels, **{f"split_{k}": v for k, v in split.items()}}, {"name": name})
    return data


def _dataset(name: str, meta: dict, store: GraphStore, labels: torch.Tensor, split: dict[str, torch.Tensor],
             checked: bool) -> GraphClassificationData:
    if meta["task type"] == "multiclass classification":
        task = Task("multiclass", int(meta["num classes"]), "acc")
        return GraphClassificationData(name, store, labels, task=task, split=split, checked=checked)
    task = Task("binary", int(meta["num tasks"]), meta["eval metric"], ogb_name=name)
    return GraphClassificationData(name, store, labels, task=task, split=split, node_encoder="atom",
                                   edge_encoder="bond", checked=checked)
