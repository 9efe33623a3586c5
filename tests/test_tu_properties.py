"""Property-based tests of the TU reader (Hypothesis).

Random valid datasets, written as a folder and as a zip, must read back exactly. Random
corruptions of the text files must read as a plain line-by-line reading of the format's
rules says (:func:`reference_read`): the same graphs, other valid graphs, or a DatasetError
naming a file; damaged zip bytes give the original graphs or a DatasetError. Any other
exception fails.
"""
import re
import tempfile
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dgl_diffpool.data import tu
from dgl_diffpool.errors import DatasetError
from test_tu_datasets import write_tu, zip_tu

NAME = "TOY"
SUFFIXES = ("A", "graph_indicator", "graph_labels", "node_labels", "node_attributes", "edge_labels")
# No example database: it would be written into the checkout (.hypothesis/).
SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Spec:
    """A dataset: local edges ``(u, v)`` per graph (no repeats), raw labels, optional data and a text layout."""

    sizes: list
    edges: list
    graph_labels: list
    node_labels: Optional[list]
    attributes: Optional[list]
    edge_labels: Optional[list]  # one per edge, in the order of ``edges`` flattened
    order: list  # the order of the edge lines in NAME_A.txt
    newline: str
    sep: str
    end: str  # after the last line
    integer: str  # how integers are written: "{}" or as floats, "{}.0" and "{}."
    boms: frozenset  # the files that start with a UTF-8 byte order mark


@st.composite
def specs(draw, max_graphs=5, max_nodes=6):
    sizes = draw(st.lists(st.integers(1, max_nodes), min_size=2, max_size=max_graphs))
    edges = []
    for n in sizes:  # self-loops allowed; an empty list is an edgeless graph
        pairs = [(u, v) for u in range(n) for v in range(n)]
        edges.append(draw(st.lists(st.sampled_from(pairs), unique=True, max_size=8)))
    graph_labels = draw(st.lists(st.integers(-3, 3), min_size=len(sizes), max_size=len(sizes))
                        .filter(lambda labels: len(set(labels)) >= 2))
    total, num_edges = sum(sizes), sum(map(len, edges))
    width = draw(st.integers(1, 3))
    floats = st.floats(width=32, allow_nan=False, allow_infinity=False)  # exact in float32 and in text
    return Spec(
        sizes, edges, graph_labels,
        node_labels=draw(st.none() | st.lists(st.integers(0, 4), min_size=total, max_size=total)),
        attributes=draw(st.none() | st.lists(st.lists(floats, min_size=width, max_size=width),
                                             min_size=total, max_size=total)),
        edge_labels=draw(st.none() | st.lists(st.integers(0, 3), min_size=num_edges, max_size=num_edges)),
        order=draw(st.permutations(range(num_edges))),
        newline=draw(st.sampled_from(["\n", "\r\n"])),
        sep=draw(st.sampled_from([",", ", "])),
        end=draw(st.sampled_from(["", "nl", "nlnl"])),
        integer=draw(st.sampled_from(["{}", "{}", "{}.0", "{}."])),
        boms=draw(st.frozensets(st.sampled_from(SUFFIXES))),
    )


def render(spec: Spec) -> dict:
    """The files of ``spec``: ``{suffix: text}``."""
    def table(rows):
        end = spec.end.replace("nl", spec.newline)
        number = lambda x: str(x) if isinstance(x, float) else spec.integer.format(x)  # noqa: E731
        return spec.newline.join(spec.sep.join(number(x) for x in row) for row in rows) + end

    offsets = np.cumsum([0] + spec.sizes)
    a = [(offsets[g] + u + 1, offsets[g] + v + 1) for g, es in enumerate(spec.edges) for u, v in es]
    files = {
        "A": table([a[i] for i in spec.order]),
        "graph_indicator": table([[g + 1] for g, n in enumerate(spec.sizes) for _ in range(n)]),
        "graph_labels": table([[label] for label in spec.graph_labels]),
    }
    if spec.node_labels is not None:
        files["node_labels"] = table([[x] for x in spec.node_labels])
    if spec.attributes is not None:
        files["node_attributes"] = table(spec.attributes)
    if spec.edge_labels is not None:
        files["edge_labels"] = table([[spec.edge_labels[i]] for i in spec.order])
    return {suffix: "\ufeff" * (suffix in spec.boms) + text for suffix, text in files.items()}


def expected(spec: Spec) -> dict:
    """What reading ``spec`` must give, in the form of :func:`canonical`."""
    classes = sorted(set(spec.graph_labels))
    flat = [(g, u, v) for g, es in enumerate(spec.edges) for u, v in es]
    edge_labels = None
    if spec.edge_labels is not None:
        edge_labels = [sorted((u, v, lab) for (h, u, v), lab in zip(flat, spec.edge_labels) if h == g)
                       for g in range(len(spec.sizes))]
    node_labels = graph_node_labels = None
    if spec.node_labels is not None:
        node_labels = spec.node_labels
        bounds = np.cumsum([0] + spec.sizes)
        graph_node_labels = [node_labels[bounds[g]:bounds[g + 1]] for g in range(len(spec.sizes))]
    return dict(
        sizes=spec.sizes, edges=[sorted(es) for es in spec.edges], edge_labels=edge_labels,
        labels=[classes.index(x) for x in spec.graph_labels], classes=classes, dropped=0,
        node_labels=node_labels, graph_node_labels=graph_node_labels,
        attributes=None if spec.attributes is None else torch.tensor(spec.attributes, dtype=torch.float32).tolist(),
    )


def canonical(contents: tu.TUContents) -> dict:
    """A read dataset as plain lists (edges sorted per graph: their order is not part of the format)."""
    assert contents.labels.dtype == torch.long
    assert contents.attributes is None or contents.attributes.dtype == torch.float32
    edges, edge_labels, graph_node_labels = [], [], []
    for g in contents.graphs:
        src, dst = (t.tolist() for t in g.edges())
        edges.append(sorted(zip(src, dst)))
        if contents.info["has_edge_labels"]:
            edge_labels.append(sorted(zip(src, dst, g.edata["edge_label"].tolist())))
        if contents.info["has_node_labels"]:
            graph_node_labels.append(g.ndata["node_label"].tolist())
    return dict(
        sizes=[g.num_nodes() for g in contents.graphs], edges=edges,
        edge_labels=edge_labels if contents.info["has_edge_labels"] else None,
        labels=contents.labels.tolist(), classes=contents.info["classes"],
        dropped=contents.info["duplicate_edges_dropped"],
        node_labels=None if contents.node_labels is None else contents.node_labels.tolist(),
        graph_node_labels=graph_node_labels if contents.info["has_node_labels"] else None,
        attributes=None if contents.attributes is None else contents.attributes.tolist(),
    )


class _Invalid(Exception):
    pass


def _rows(text: str, columns: Optional[int], convert) -> list:
    text = text[1:] if text.startswith("\ufeff") else text  # a byte order mark opening the file
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines
    body = text.rstrip()  # trailing blank lines are allowed
    if not body:
        return []
    rows = [line.replace(",", " ").split() for line in body.split("\n")]
    width = columns if columns is not None else len(rows[0])
    if width == 0 or any(len(row) != width for row in rows):
        raise _Invalid
    try:
        return [[convert(x) for x in row] for row in rows]
    except ValueError:
        raise _Invalid from None


def _integer(token: str):
    """The exact value of ``token`` in an integer column: an int, or a Fraction for a number
    written as a float (``1.0``, ``1e400``); ValueError if ``float()`` does not read it (or for nan, inf)."""
    try:
        return int(token)
    except ValueError:
        float(token)
    mantissa, _, exponent = token.lower().partition("e")
    value, shift = Fraction(mantissa), int(exponent or 0)
    if value and abs(shift) > len(token) + 20:
        # Not 10**shift (1e99999999999999999999 would take forever): a non-zero value this far
        # is beyond int64 or a fraction between 0 and 1.
        return 2**64 if shift > 0 else Fraction(1, 2)
    return value * Fraction(10) ** shift


def _int64(token: str) -> int:
    value = _integer(token)
    if not -2**63 <= value < 2**63 or value != int(value):
        raise ValueError(token)
    return int(value)


def reference_read(files: dict) -> Optional[dict]:
    """What :func:`tu.read_tu` must give for ``files`` (see :func:`canonical`), or ``None`` where it
    must refuse them: the format's rules one line at a time in plain Python."""
    try:
        indicator = [row[0] for row in _rows(files["graph_indicator"], 1, _int64)]
        if not indicator or indicator[0] != 1 or any(b - a not in (0, 1) for a, b in zip(indicator, indicator[1:])):
            return None
        n, num_graphs = len(indicator), indicator[-1]
        raw_labels = [row[0] for row in _rows(files["graph_labels"], 1, _int64)]
        a = _rows(files["A"], 2, _int64)
        if len(raw_labels) != num_graphs or any(not 1 <= x <= n for row in a for x in row):
            return None
        if any(indicator[u - 1] != indicator[v - 1] for u, v in a):
            return None
        edge_labels = None
        if "edge_labels" in files:
            edge_labels = [row[0] for row in _rows(files["edge_labels"], None, _int64)]
            if len(edge_labels) != len(a):
                return None
        node_labels = attributes = None
        if "node_labels" in files:
            node_labels = [row[0] for row in _rows(files["node_labels"], None, _int64)]
            if len(node_labels) != n:
                return None
        if "node_attributes" in files:
            with np.errstate(over="ignore"):
                attributes = np.array(_rows(files["node_attributes"], None, float), dtype=np.float32)
            if len(attributes) != n or not np.isfinite(attributes).all():
                return None
            attributes = attributes.tolist()
    except (_Invalid, KeyError):  # KeyError: a required file is missing
        return None
    first = [indicator.index(g + 1) for g in range(num_graphs)]
    edges = [[] for _ in range(num_graphs)]
    labelled = [[] for _ in range(num_graphs)]
    seen = set()
    for i, (u, v) in enumerate(a):
        if (u, v) in seen:  # a repeated edge line is dropped, its edge label with it
            continue
        seen.add((u, v))
        g = indicator[u - 1] - 1
        edges[g].append((u - 1 - first[g], v - 1 - first[g]))
        if edge_labels is not None:
            labelled[g].append(edges[g][-1] + (edge_labels[i],))
    classes = sorted(set(raw_labels))
    sizes = [indicator.count(g + 1) for g in range(num_graphs)]
    return dict(
        sizes=sizes, edges=[sorted(es) for es in edges],
        edge_labels=None if edge_labels is None else [sorted(es) for es in labelled],
        labels=[classes.index(x) for x in raw_labels], classes=classes, dropped=len(a) - len(seen),
        node_labels=node_labels,
        graph_node_labels=None if node_labels is None else [
            node_labels[first[g]:first[g] + sizes[g]] for g in range(num_graphs)],
        attributes=attributes,
    )


def read_or_error(path: str) -> Optional[dict]:
    """The canonical reading of ``path``, or ``None`` after a DatasetError that names a file."""
    try:
        return canonical(tu.read_tu(NAME, path))
    except DatasetError as exc:
        message = str(exc)
        assert "\n" not in message
        assert re.search(rf"{NAME}_\w+\.txt|{re.escape(path)}", message), message
        return None


# Digits, signs, separators (some non-ASCII: the no-break space, NEL), a letter, a number beyond int64,
# integers written as floats and a byte order mark (not a separator: a BOM is skipped at a file's start only).
TABLE_PIECES = list("0123456789-+.,x \t\n\n\r\x0b\x1f\u00a0\x85\ufeff") + [
    "12", ", ", "99999999999999999999", "2.0", "3.", ".0", "0.5"]


def _line_by_line(text: str, columns: Optional[int], dtype) -> object:
    """The table :func:`tu._parse_table` must return, or the message it must raise, found
    one line at a time: the first line with a wrong count of values or a bad number."""
    body = text.rstrip()
    if not body:
        return []
    lines = body.split("\n")
    width = columns if columns is not None else len(lines[0].replace(",", " ").split())
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = line.replace(",", " ").split()
        if width == 0:
            return f"x.txt line {number}: no values"
        if len(fields) != width:
            return f"x.txt line {number}: expected {width} value{'s' if width > 1 else ''}, found {len(fields)}"
        rows.append([])
        for x in fields:  # the first bad value of the line decides
            try:
                rows[-1].append(float(x) if dtype == np.float64 else _integer(x))
            except ValueError:
                return f"x.txt line {number}: not a number in {line.strip()!r}"
            if dtype == np.int64:  # an integer, or a float whose value is an integer (1.0)
                if not -2**63 <= rows[-1][-1] < 2**63:
                    return f"x.txt line {number}: number too large in {line.strip()!r}"
                if rows[-1][-1] != int(rows[-1][-1]):
                    return f"x.txt line {number}: not an integer in {line.strip()!r}"
                rows[-1][-1] = int(rows[-1][-1])
    return rows


@settings(max_examples=400, **SETTINGS)
@given(text=st.lists(st.sampled_from(TABLE_PIECES), max_size=30).map("".join),
       columns=st.sampled_from([None, 1, 2, 3]), dtype=st.sampled_from([np.int64, np.float64]))
def test_tables_parse_as_read_line_by_line(text, columns, dtype):
    # The vectorised counting (ASCII) and the line loop (other text) against the plain rule.
    want = _line_by_line(text, columns, dtype)
    try:
        got = tu._parse_table(text, "x.txt", columns, dtype)
    except DatasetError as exc:
        assert str(exc) == want
    else:
        assert isinstance(want, list) and got.dtype == dtype
        assert got.shape == ((len(want), len(want[0])) if want else (0, columns or 1))
        np.testing.assert_array_equal(got, np.array(want, dtype=dtype).reshape(got.shape))


@settings(max_examples=60, **SETTINGS)
@given(spec=specs(), prefix=st.sampled_from(["", f"{NAME}/", f"{NAME}//"]),
       compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_valid_datasets_round_trip_as_folder_and_zip(spec, prefix, compression):
    files, want = render(spec), expected(spec)
    assert reference_read(files) == want  # the oracle of the corruption test agrees on valid data
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_tu(Path(tmp), NAME, files)
        archive = zip_tu(folder, Path(tmp) / f"{NAME}.zip", prefix, compression)
        assert canonical(tu.read_tu(NAME, folder)) == want
        assert canonical(tu.read_tu(NAME, archive)) == want


# Tokens a damaged or hand-edited file may hold: separators, non-numbers, numbers beyond int64
# or float32, and plain numbers (in or out of the node id range).
INT64_EDGES = [str(2**63 - 1), str(2**63), str(-2**63 - 1)]
JUNK = ["x", "-", "1.5", "nan", "inf", "1e400", "-0", "+3", "0", "1", "2", "7", "-1", ",", ", ", " ", "\t", "\r",
        "\n", "1,2", "1 2 3", "2.0", "-1.", "\ufeff"] + INT64_EDGES


def corrupt(data, text: str, num_nodes: int) -> str:
    """``text`` with one random damage: a line deleted, repeated or replaced, a line break moved
    (ragged rows, same number of values), junk inserted, a number changed (often to an id out
    of range) or the file cut short."""
    lines = text.split("\n")
    i = data.draw(st.integers(0, len(lines) - 1))
    kind = data.draw(st.sampled_from(["delete", "repeat", "replace", "rebreak", "insert", "number", "truncate"]))
    if kind == "rebreak" and i + 1 < len(lines):
        values = (lines[i] + " " + lines[i + 1]).replace(",", " ").split()
        k = data.draw(st.integers(0, len(values)))
        lines[i:i + 2] = [", ".join(values[:k]), ", ".join(values[k:])]
    elif kind == "delete":
        del lines[i]
    elif kind == "repeat":
        lines.insert(i, lines[i])
    elif kind == "replace":
        lines[i] = "".join(data.draw(st.lists(st.sampled_from(JUNK), max_size=4)))
    elif kind == "insert":
        at = data.draw(st.integers(0, len(text)))
        return text[:at] + data.draw(st.sampled_from(JUNK)) + text[at:]
    elif kind == "number":
        numbers = list(re.finditer(r"-?\d+(\.\d+)?(e-?\d+)?", text))
        if numbers:
            m = data.draw(st.sampled_from(numbers))
            value = data.draw(st.integers(-1, num_nodes + 2) | st.sampled_from(INT64_EDGES))
            return text[:m.start()] + str(value) + text[m.end():]
    else:
        return text[:data.draw(st.integers(0, len(text)))]
    return "\n".join(lines)


@settings(max_examples=250, **SETTINGS)
@given(spec=specs(max_graphs=4, max_nodes=5), data=st.data())
def test_corrupt_files_read_as_the_format_says_or_fail_cleanly(spec, data):
    files = render(spec)
    for _ in range(data.draw(st.integers(1, 2))):
        suffix = data.draw(st.sampled_from(sorted(files)))
        files[suffix] = corrupt(data, files[suffix], sum(spec.sizes))
    if data.draw(st.booleans()):
        del files[data.draw(st.sampled_from(sorted(files)))]
    with tempfile.TemporaryDirectory() as tmp:
        got = read_or_error(write_tu(Path(tmp), NAME, files))
    assert got == reference_read(files)


@settings(max_examples=120, **SETTINGS)
@given(spec=specs(max_graphs=4, max_nodes=5), data=st.data(),
       compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_damaged_zip_bytes_give_the_same_graphs_or_a_dataset_error(spec, data, compression):
    with tempfile.TemporaryDirectory() as tmp:
        archive = zip_tu(write_tu(Path(tmp), NAME, render(spec)), Path(tmp) / f"{NAME}.zip", f"{NAME}//", compression)
        raw = bytearray(Path(archive).read_bytes())
        if data.draw(st.booleans()):
            for _ in range(data.draw(st.integers(1, 3))):
                raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
        else:
            del raw[data.draw(st.integers(0, len(raw) - 1)):]
        Path(archive).write_bytes(bytes(raw))
        got = read_or_error(archive)
    if got is not None:
        want = expected(spec)
        # A damaged name in the zip's directory can hide an optional file (the others are checked by CRC).
        for key in ("edge_labels", "node_labels", "graph_node_labels", "attributes"):
            if got[key] is None:
                want[key] = None
        assert got == want


def _reading(path: str):
    """The canonical reading of ``path`` or the DatasetError's message."""
    try:
        return canonical(tu.read_tu(NAME, path))
    except DatasetError as exc:
        return str(exc)


@settings(max_examples=150, **SETTINGS)
@given(spec=specs(max_graphs=4, max_nodes=5), data=st.data(), piece=st.integers(1, 24), zipped=st.booleans())
def test_reading_in_small_pieces_gives_the_same_graphs_and_errors(spec, data, piece, zipped):
    # Files are parsed piece by piece (tu.CHUNK_BYTES): a line, a CRLF, a BOM or a run of blank lines
    # cut across pieces must read as in one piece, and errors must name the same line.
    files = render(spec)
    for _ in range(data.draw(st.integers(0, 3))):  # several faults: the first in the file's order is reported
        suffix = data.draw(st.sampled_from(["A"] * 2 + sorted(files)))
        files[suffix] = corrupt(data, files[suffix], sum(spec.sizes))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_tu(Path(tmp), NAME, files)
        if zipped:
            path = zip_tu(path, Path(tmp) / f"{NAME}.zip", f"{NAME}/", zipfile.ZIP_DEFLATED)
        whole = _reading(path)
        saved = tu.CHUNK_BYTES
        tu.CHUNK_BYTES = piece
        try:
            pieces = _reading(path)
        finally:
            tu.CHUNK_BYTES = saved
    assert pieces == whole
