"""TU graph-classification datasets, read from the official zip format with validation.

A TU dataset ``NAME`` is a folder (or a zip holding it) of text files:
``NAME_A.txt`` (one ``u, v`` edge per line, 1-based node ids over the whole
dataset), ``NAME_graph_indicator.txt`` (the graph of each node), and
``NAME_graph_labels.txt``; optionally ``NAME_node_labels.txt``,
``NAME_node_attributes.txt`` and ``NAME_edge_labels.txt``. Files are UTF-8 (a byte order
mark at the start is skipped). Integer columns (ids, graph, node and edge labels) also
take a number written as a float if its value is an integer (``1.0``, ``1e3``).

Everything is checked before a graph is built, and a bad file gives one
:class:`~dgl_diffpool.errors.DatasetError` line naming the file and line.
"""
from __future__ import annotations

import json
import lzma
import os
import shutil
import struct
import tempfile
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Optional

import dgl
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DatasetError
from .dataset import GraphClassificationData
from .features import one_hot_degree
from .storage import atomic_save_graphs, load_graphs

TU_URL = "https://www.chrsmrrs.de/graphkerneldatasets/{name}.zip"
FEATURE_KINDS = ("attr", "label", "degree")
# Degree one-hots are clipped here so that hubs (REDDIT, COLLAB) do not blow up the width.
MAX_DEGREE_FEATURE = 64
# What zipfile raises on a damaged archive, depending on which bytes are damaged: bad
# deflate data (zlib.error), a bad CRC or header (BadZipFile), a truncated stream (EOFError),
# a flipped compression method (NotImplementedError, lzma / bz2 errors) or encryption
# flag (RuntimeError), garbled header fields (struct.error, ValueError, OverflowError).
_ZIP_ERRORS = (OSError, EOFError, ValueError, OverflowError, RuntimeError, zipfile.BadZipFile, zlib.error,
               lzma.LZMAError, struct.error)


@dataclass
class TUContents:
    """A parsed TU dataset before features are chosen.

    ``graphs`` carry ``ndata["node_label"]`` / ``edata["edge_label"]`` where the
    files have them; ``attributes`` is :math:`(N, D)` over all nodes or ``None``.
    """

    graphs: list[dgl.DGLGraph]
    labels: torch.Tensor
    attributes: Optional[torch.Tensor]
    node_labels: Optional[torch.Tensor]
    info: dict = field(default_factory=dict)


def locate_tu_source(name: str, mirror: Optional[str]) -> Optional[str]:
    """Path of ``NAME.zip`` or an unzipped ``NAME/`` folder in ``mirror/tu``, or ``None`` without a mirror."""
    if mirror is None:
        return None
    candidates = [os.path.join(mirror, "tu", f"{name}.zip"), os.path.join(mirror, "tu", name)]
    for path in candidates:
        if os.path.isfile(path) or os.path.isdir(path):
            return path
    raise DatasetError(f"mirror {mirror} has no TU dataset {name} (looked for {' and '.join(candidates)})")


def download_tu_zip(name: str, dest: str) -> None:
    """Download the official ``NAME.zip`` to ``dest`` (via a temporary file, then rename)."""
    url = TU_URL.format(name=name)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dest)), suffix=".part")
    os.close(fd)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as fh:
            shutil.copyfileobj(response, fh)
        os.replace(tmp, dest)
    except OSError as exc:
        raise DatasetError(f"cannot download {url} ({exc}); give a local mirror with --mirror") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class _Source:
    """Reads ``NAME_<suffix>.txt`` from a zip or a folder, wherever it sits inside."""

    def __init__(self, name: str, path: str) -> None:
        self.name, self.path = name, path
        if os.path.isdir(path):
            self.files = {
                f: os.path.join(root, f) for root, _, files in os.walk(path) for f in files if f.startswith(name)
            }
            self.zip = None
        else:
            try:
                self.zip = zipfile.ZipFile(path)
            except _ZIP_ERRORS as exc:
                raise DatasetError(f"{path} is not a readable zip file ({exc})") from None
            # Official zips store e.g. "ENZYMES//ENZYMES_A.txt": match on the base name.
            self.files = {os.path.basename(m): m for m in self.zip.namelist() if not m.endswith("/")}

    def has(self, suffix: str) -> bool:
        return f"{self.name}_{suffix}.txt" in self.files

    def text(self, suffix: str) -> str:
        fname = f"{self.name}_{suffix}.txt"
        if fname not in self.files:
            raise DatasetError(f"{self.path}: required file {fname} is missing")
        member = self.files[fname]
        if self.zip is None:
            try:
                with open(member, encoding="utf-8-sig") as fh:  # universal newlines; a BOM is skipped
                    return fh.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"{self.path}: cannot read {fname} ({exc})") from None
        try:
            data = self.zip.read(member)
        except _ZIP_ERRORS as exc:
            raise DatasetError(f"{self.path}: cannot read {member}, the archive is damaged ({exc})") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{self.path}: cannot read {member} ({exc})") from None
        # Universal newlines, as open() gives for a folder: a lone CR ends a line in both.
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


# The ASCII characters str.split() separates on, and the comma: what separates the values of a row.
_SEPARATOR = np.zeros(128, dtype=bool)
_SEPARATOR[list(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f,")] = True


class _NotInteger(ValueError):
    """A number with a fractional part in an integer column."""


def _exact_float(token: str) -> Fraction:
    """The exact value of the float literal ``token`` (``1.0``, ``-2.``, ``1e3``; not rounded to a float).

    Raises ValueError for no number (``x``, ``nan``, ``inf``), and at once OverflowError for
    ``|x| >= 1e19`` and :class:`_NotInteger` for ``0 < |x| < 1``, so that an exponent like
    ``1e-99999999999999999999`` never builds a huge number.
    """
    float(token)  # the grammar of float columns, else ValueError
    mantissa, _, exponent = token.lower().partition("e")
    try:
        digits = Decimal(mantissa)
    except InvalidOperation:
        raise ValueError(token) from None
    if not digits.is_finite():
        raise ValueError(token)
    if not digits:
        return Fraction(0)
    shift = int(exponent) if exponent else 0
    if digits.adjusted() + shift > 18:
        raise OverflowError(token)
    if digits.adjusted() + shift < 0:
        raise _NotInteger(token)
    return Fraction(digits) * Fraction(10) ** shift


def _integer(token: str) -> int:
    """``token`` as an int64: an integer, or a float literal whose value is one (``1.0``, ``-2.``, ``1e3``).

    Raises OverflowError for a number outside int64, else :class:`_NotInteger` for one with a
    fractional part (``1.5``), and ValueError for anything else (``x``, ``nan``, ``inf``).
    """
    try:
        value = int(token)
    except ValueError:
        value = _exact_float(token)
    if not -2**63 <= value < 2**63:
        raise OverflowError(token)
    if value.denominator != 1:
        raise _NotInteger(token)
    return int(value)


def _numbers(tokens: list[str], dtype: type) -> np.ndarray:
    """``tokens`` as a ``dtype`` array; raises ValueError (or :class:`_NotInteger`) or OverflowError
    at the first bad token. Integer columns take integral floats (see :func:`_integer`)."""
    try:
        return np.array(tokens, dtype=dtype)
    except ValueError:
        if not np.issubdtype(dtype, np.integer):
            raise
    # Integral floats (1.0). Read as float64 where that is exact: a token of at most 16 characters
    # that int() does not read has at most 15 significant digits, and distinct decimals of 15 digits
    # are distinct doubles (DBL_DIG), so an integral double below 2**53 is the token's exact value,
    # unless it is 0 from an underflow (1e-400): zeros are checked exactly.
    if max(map(len, tokens)) <= 16:
        try:
            floats = np.array(tokens, dtype=np.float64)
        except ValueError:
            floats = None
        if floats is not None and (np.abs(floats) < 2**53).all() and (floats == np.trunc(floats)).all():
            for token in {tokens[i] for i in np.flatnonzero(floats == 0)}:
                _integer(token)
            return floats.astype(dtype)  # NaN and infinities fail the tests above
    # Else exactly, one token at a time (each distinct token once: a column of labels has few).
    exact = {token: _integer(token) for token in dict.fromkeys(tokens)}
    return np.fromiter((exact[token] for token in tokens), dtype=dtype, count=len(tokens))


def _parse_table(text: str, fname: str, columns: Optional[int], dtype: type) -> np.ndarray:
    """Comma- or space-separated rows as a ``(rows, columns)`` array; names the first bad line.

    ``columns=None`` takes the width of the first line. Trailing blank lines are ignored.
    An integer ``dtype`` also takes floats with an integer value (see :func:`_integer`).
    """
    body = text.rstrip()
    if not body:
        return np.empty((0, columns or 1), dtype=dtype)
    if not body.isascii():  # str.split() also separates on non-ASCII whitespace
        return _parse_lines(body, fname, columns, dtype)
    # Values per line without a Python loop over lines (D&D has 1.7 M edge lines): mark
    # the first character of every value, then count the marks between newlines.
    raw = np.frombuffer(body.encode("ascii"), dtype=np.uint8)
    sep = _SEPARATOR[raw]
    first = ~sep
    first[1:] &= sep[:-1]
    newlines = np.flatnonzero(raw == ord("\n"))
    # Every segment but the first starts at a newline, which is never a value's first character.
    per_line = np.add.reduceat(first, np.concatenate(([0], newlines)), dtype=np.int64)
    width = columns if columns is not None else int(per_line[0])
    tokens = body.replace(",", " ").split()  # the same values as the marks, in ASCII
    try:
        values, bad_value = _numbers(tokens, dtype), None
    except (ValueError, OverflowError):
        values, bad_value = None, _first_bad_value(tokens, dtype)
    ragged = np.flatnonzero(per_line != width) if width else np.zeros(1, dtype=np.int64)
    if values is not None and not ragged.size:
        return values.reshape(len(per_line), width)
    line = int(ragged[0]) if ragged.size else len(per_line)
    if bad_value is not None:
        line = min(line, int(np.searchsorted(np.cumsum(per_line), bad_value, side="right")))
    begin = int(newlines[line - 1]) + 1 if line else 0
    stop = int(newlines[line]) if line < len(newlines) else len(body)
    error = _line_error(fname, line + 1, body[begin:stop], width, dtype)
    if error is None:  # not for ASCII text; the line-by-line reading is the rule anyway
        return _parse_lines(body, fname, columns, dtype)
    raise error


def _first_bad_value(tokens: list[str], dtype: type) -> int:
    """Index of the first token that is not a ``dtype`` number (by bisection: about one more parse)."""
    lo, hi = 0, len(tokens)  # tokens[:lo] parse; a bad one is in tokens[lo:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            _numbers(tokens[lo:mid], dtype)
            lo = mid
        except (ValueError, OverflowError):
            hi = mid
    return lo


def _line_error(fname: str, number: int, line: str, width: int, dtype: type) -> Optional[DatasetError]:
    """What is wrong with line ``number`` of a table (``None`` if nothing is)."""
    fields = line.replace(",", " ").split()
    if width == 0:
        return DatasetError(f"{fname} line {number}: no values")
    if len(fields) != width:
        return DatasetError(f"{fname} line {number}: expected {width} value{'s' * (width > 1)}, found {len(fields)}")
    try:
        _numbers(fields, dtype)
    except _NotInteger:
        return DatasetError(f"{fname} line {number}: not an integer in {line.strip()!r}")
    except ValueError:
        return DatasetError(f"{fname} line {number}: not a number in {line.strip()!r}")
    except OverflowError:
        return DatasetError(f"{fname} line {number}: number too large in {line.strip()!r}")
    return None


def _parse_lines(body: str, fname: str, columns: Optional[int], dtype: type) -> np.ndarray:
    """:func:`_parse_table` one line at a time, for text with non-ASCII characters."""
    lines = body.split("\n")
    rows = [line.replace(",", " ").split() for line in lines]
    width = columns if columns is not None else len(rows[0])
    if width and all(len(fields) == width for fields in rows):
        try:
            return _numbers([x for row in rows for x in row], dtype).reshape(len(rows), width)
        except (ValueError, OverflowError):
            pass
    for number, line in enumerate(lines, start=1):
        error = _line_error(fname, number, line, width, dtype)
        if error is not None:
            raise error
    raise AssertionError("a table that does not parse has a bad line")


def read_tu(name: str, source: str) -> TUContents:
    """Parse and validate the TU dataset ``name`` from a zip or folder at ``source``."""
    src = _Source(name, source)
    fn = lambda suffix: f"{name}_{suffix}.txt"  # noqa: E731

    indicator = _parse_table(src.text("graph_indicator"), fn("graph_indicator"), 1, np.int64)[:, 0]
    n = len(indicator)
    if n == 0:
        raise DatasetError(f"{fn('graph_indicator')} is empty")
    steps = np.diff(indicator)
    bad = np.flatnonzero((steps < 0) | (steps > 1))
    if indicator[0] != 1 or bad.size:
        line = 1 if indicator[0] != 1 else int(bad[0]) + 2
        raise DatasetError(
            f"{fn('graph_indicator')} line {line}: graph ids must start at 1 and rise without gaps"
        )
    num_graphs = int(indicator[-1])

    raw_labels = _parse_table(src.text("graph_labels"), fn("graph_labels"), 1, np.int64)[:, 0]
    if len(raw_labels) != num_graphs:
        raise DatasetError(
            f"{fn('graph_labels')}: {len(raw_labels)} labels for {num_graphs} graphs in {fn('graph_indicator')}"
        )
    classes, labels = np.unique(raw_labels, return_inverse=True)

    edges = _parse_table(src.text("A"), fn("A"), 2, np.int64)
    out_of_range = np.flatnonzero((edges < 1).any(1) | (edges > n).any(1))
    if out_of_range.size:
        row = int(out_of_range[0])
        raise DatasetError(
            f"{fn('A')} line {row + 1}: node id {edges[row].tolist()} out of range 1..{n}"
        )
    edges = edges - 1
    graph_of_edge = indicator[edges[:, 0]]
    crossing = np.flatnonzero(graph_of_edge != indicator[edges[:, 1]])
    if crossing.size:
        raise DatasetError(f"{fn('A')} line {int(crossing[0]) + 1}: the edge joins nodes of two different graphs")

    edge_labels = None
    if src.has("edge_labels"):
        edge_labels = _parse_table(src.text("edge_labels"), fn("edge_labels"), None, np.int64)[:, 0]
        if len(edge_labels) != len(edges):
            raise DatasetError(f"{fn('edge_labels')}: {len(edge_labels)} lines for {len(edges)} edges in {fn('A')}")

    # Some official files (IMDB) list an edge twice: keep the first of each directed pair.
    _, first = np.unique(edges[:, 0] * n + edges[:, 1], return_index=True)
    keep = np.sort(first)
    duplicates = len(edges) - len(keep)
    edges = edges[keep]
    if edge_labels is not None:
        edge_labels = edge_labels[keep]

    node_labels = attributes = None
    if src.has("node_labels"):
        node_labels = _parse_table(src.text("node_labels"), fn("node_labels"), None, np.int64)[:, 0]
        if len(node_labels) != n:
            raise DatasetError(f"{fn('node_labels')}: {len(node_labels)} lines for {n} nodes")
    if src.has("node_attributes"):
        attributes = _parse_table(src.text("node_attributes"), fn("node_attributes"), None, np.float64)
        if len(attributes) != n:
            raise DatasetError(f"{fn('node_attributes')}: {len(attributes)} lines for {n} nodes")
        # Checked as the float32 features they become: 1e300 is finite only in float64.
        with np.errstate(over="ignore"):
            nan_rows = np.flatnonzero(~np.isfinite(attributes.astype(np.float32)).all(1))
        if nan_rows.size:
            raise DatasetError(
                f"{fn('node_attributes')} line {int(nan_rows[0]) + 1}: NaN or infinite value (as float32)"
            )

    graphs = _split_graphs(edges, indicator, num_graphs, edge_labels, node_labels)
    info = {
        "classes": classes.tolist(),
        "duplicate_edges_dropped": int(duplicates),
        "has_node_labels": node_labels is not None,
        "has_node_attributes": attributes is not None,
        "has_edge_labels": edge_labels is not None,
    }
    return TUContents(
        graphs,
        torch.as_tensor(labels, dtype=torch.long),
        None if attributes is None else torch.as_tensor(attributes, dtype=torch.float32),
        None if node_labels is None else torch.as_tensor(node_labels),
        info,
    )


def _split_graphs(
    edges: np.ndarray,
    indicator: np.ndarray,
    num_graphs: int,
    edge_labels: Optional[np.ndarray],
    node_labels: Optional[np.ndarray],
) -> list[dgl.DGLGraph]:
    """One DGLGraph per graph, built as one block-diagonal graph and unbatched (no per-edge loop)."""
    order = np.argsort(edges[:, 0], kind="stable")  # node ids are grouped by graph
    edges = edges[order]
    whole = dgl.graph((torch.as_tensor(edges[:, 0]), torch.as_tensor(edges[:, 1])), num_nodes=len(indicator))
    if edge_labels is not None:
        whole.edata["edge_label"] = torch.as_tensor(edge_labels[order])
    if node_labels is not None:
        whole.ndata["node_label"] = torch.as_tensor(node_labels)
    whole.set_batch_num_nodes(torch.as_tensor(np.bincount(indicator - 1, minlength=num_graphs)))
    whole.set_batch_num_edges(torch.as_tensor(np.bincount(indicator[edges[:, 0]] - 1, minlength=num_graphs)))
    return dgl.unbatch(whole)


def check_feature_spec(features: str) -> list[str]:
    """The kinds a ``--features`` string asks for (``["auto"]`` for ``auto``), checked without any data.

    Raises :class:`DatasetError` on an unknown, empty or repeated kind, so that a typo
    is reported before a dataset is downloaded or read.
    """
    if features == "auto":
        return ["auto"]
    kinds = features.split("+")
    for kind in kinds:
        if kind == "auto":
            raise DatasetError(f"feature kind auto cannot be combined with others in {features!r}")
        if kind not in FEATURE_KINDS:
            what = "empty feature kind" if kind == "" else f"unknown feature kind {kind!r}"
            raise DatasetError(f"{what} in {features!r}; choose from {', '.join(FEATURE_KINDS)} "
                               "(joined by +) or auto")
        if kinds.count(kind) > 1:
            # The same columns twice would only widen the input.
            raise DatasetError(f"feature kind {kind!r} repeated in {features!r}")
    return kinds


def node_features(contents: TUContents, features: str = "auto") -> list[torch.Tensor]:
    """Per-graph float32 node features for a ``features`` choice.

    ``attr`` (node attributes), ``label`` (one-hot node labels over the labels seen
    in the dataset), ``degree`` (one-hot in-degree clipped at the dataset's maximum,
    at most :data:`MAX_DEGREE_FEATURE`), combined with ``+`` (``attr+label``); ``auto``
    picks ``attr`` if present, else ``label``, else ``degree``.
    """
    available = [k for k, ok in (("attr", contents.attributes is not None),
                                 ("label", contents.node_labels is not None), ("degree", True)) if ok]
    kinds = check_feature_spec(features)
    if kinds == ["auto"]:
        kinds = [available[0]]
    for kind in kinds:
        if kind not in available:
            raise DatasetError(f"this dataset has no node {kind}s; available: {', '.join(available)}")
    sizes = [g.num_nodes() for g in contents.graphs]
    parts: list[torch.Tensor] = []
    for kind in kinds:
        if kind == "attr":
            parts.append(contents.attributes)
        elif kind == "label":
            _, index = torch.unique(contents.node_labels, return_inverse=True)
            parts.append(F.one_hot(index).float())
        else:
            top = max(int(g.in_degrees().max()) if g.num_nodes() else 0 for g in contents.graphs)
            top = min(top, MAX_DEGREE_FEATURE)
            parts.append(torch.cat([one_hot_degree(g, top) for g in contents.graphs]))
    return list(torch.split(torch.cat(parts, dim=1), sizes))


def load_tu(name: str, data_dir: str, mirror: Optional[str] = None, features: str = "auto") -> GraphClassificationData:
    """The TU dataset ``name`` with node features ``features``, prepared once into ``data_dir/tu/NAME``.

    Reads ``mirror/tu/NAME.zip`` (or ``NAME/``) when a mirror is given, else
    downloads the official zip into ``data_dir/tu/raw``.
    """
    check_feature_spec(features)  # a typo fails before any reading or download (and never names a cache file)
    folder = os.path.join(data_dir, "tu", name)
    cache = os.path.join(folder, f"{name}-{features}.bin")
    if os.path.exists(cache):
        graphs, tensors = load_graphs(cache)
        return GraphClassificationData(name, graphs, tensors["labels"], int(tensors["num_classes"][0]))

    source = locate_tu_source(name, mirror)
    if source is None:
        source = os.path.join(data_dir, "tu", "raw", f"{name}.zip")
        if not os.path.exists(source):
            download_tu_zip(name, source)
    contents = read_tu(name, source)
    for g, feat in zip(contents.graphs, node_features(contents, features)):
        g.ndata["feat"] = feat
    num_classes = len(contents.info["classes"])
    data = GraphClassificationData(name, contents.graphs, contents.labels, num_classes)
    atomic_save_graphs(cache, data.graphs, {"labels": data.labels, "num_classes": torch.tensor([num_classes])})
    with open(os.path.join(folder, f"{name}-info.json"), "w") as fh:
        json.dump(contents.info, fh, indent=2)
    return data
