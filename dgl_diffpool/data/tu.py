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

import codecs
import json
import lzma
import warnings
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
from typing import Iterator, Optional

import numpy as np
import torch

from ..errors import DatasetError
from .dataset import GraphClassificationData
from .storage import atomic_write_text
from .store import GraphSequence, GraphStore, open_store, save_store

TU_URL = "https://www.chrsmrrs.de/graphkerneldatasets/{name}.zip"
# Files are parsed in pieces of this many bytes, so that memory follows the arrays, not the text.
CHUNK_BYTES = 1 << 23
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

    ``store`` holds the graphs, with ``ndata["node_label"]`` / ``edata["edge_label"]``
    where the files have them; ``attributes`` is :math:`(N, D)` over all nodes or ``None``.
    """

    store: GraphStore
    labels: torch.Tensor
    attributes: Optional[torch.Tensor]
    node_labels: Optional[torch.Tensor]
    info: dict = field(default_factory=dict)

    @property
    def graphs(self) -> GraphSequence:
        """The graphs as ``DGLGraph`` objects (built on access)."""
        return self.store.graphs()


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

    def size(self, suffix: str) -> int:
        """Bytes of ``NAME_<suffix>.txt`` once read (0 if unknown)."""
        member = self.files.get(f"{self.name}_{suffix}.txt")
        try:
            return os.path.getsize(member) if self.zip is None else self.zip.getinfo(member).file_size
        except (OSError, KeyError, TypeError):
            return 0

    def chunks(self, suffix: str, size: Optional[int] = None) -> Iterator[bytes]:
        """The bytes of ``NAME_<suffix>.txt`` in pieces of about ``size`` that end at a line end (the
        last may not), with a byte order mark at the start skipped and universal newlines (``\\r\\n``
        and a lone ``\\r`` become ``\\n``, as ``open()`` reads text). Text that is not ASCII is checked
        to be UTF-8."""
        fname = f"{self.name}_{suffix}.txt"
        if fname not in self.files:
            raise DatasetError(f"{self.path}: required file {fname} is missing")
        member = self.files[fname]
        shown, damaged = (fname, "") if self.zip is None else (member, ", the archive is damaged")
        try:
            fh = open(member, "rb") if self.zip is None else self.zip.open(member)
        except _ZIP_ERRORS as exc:
            raise DatasetError(f"{self.path}: cannot read {shown}{damaged} ({exc})") from None
        with fh:
            carry, start = b"", True
            while True:
                try:
                    block = fh.read(size or CHUNK_BYTES)
                except _ZIP_ERRORS as exc:
                    raise DatasetError(f"{self.path}: cannot read {shown}{damaged} ({exc})") from None
                data = carry + block
                if start and block and len(data) < len(codecs.BOM_UTF8):  # too short to tell a BOM yet
                    carry = data
                    continue
                if start:
                    data, start = data.removeprefix(codecs.BOM_UTF8), False
                # Cut after the last line end; a CR at the very end may be the first half of a CRLF.
                cut = len(data) if not block else max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
                piece, carry = data[:cut], data[cut:]
                if piece:
                    if not piece.isascii():
                        try:
                            piece.decode("utf-8")
                        except UnicodeDecodeError as exc:
                            raise DatasetError(f"{self.path}: cannot read {shown} ({exc})") from None
                    yield piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in piece else piece
                if not block:
                    return


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


def _read_table(src: "_Source", suffix: str, columns: Optional[int], dtype: type) -> Iterator[np.ndarray]:
    """The rows of ``NAME_<suffix>.txt`` (see :func:`_parse_table`), one array per piece of the file,
    so that no more than a piece of text is held at a time. Errors name the line in the whole file."""
    fname = f"{src.name}_{suffix}.txt"
    line, blank = 1, 0  # the next piece's first line; blank lines held back (trailing ones are ignored)
    pieces = src.chunks(suffix)
    for piece in pieces:
        body = piece.decode("utf-8").rstrip() if not piece.isascii() else piece.rstrip(_ASCII_SPACE)
        lines = piece.count(b"\n") + (not piece.endswith(b"\n"))
        try:
            if body:
                if blank:  # blank lines followed by more rows: report the first
                    raise _line_error(fname, line - blank, "", columns or 0, dtype)
                rows = _parse_table(body, fname, columns, dtype, first_line=line)
            else:
                blank += lines
        except DatasetError:
            for _ in pieces:  # a file that cannot be read (damaged zip, not UTF-8) says so first, as read whole
                pass
            raise
        if body:
            columns = rows.shape[1]
            yield rows
            blank = lines - (body.count("\n" if isinstance(body, str) else b"\n") + 1)
        line += lines


def _table(src: "_Source", suffix: str, columns: Optional[int], dtype: type) -> np.ndarray:
    """:func:`_read_table` as one array."""
    parts = list(_read_table(src, suffix, columns, dtype))
    if not parts:
        return np.empty((0, columns or 1), dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# What str.rstrip() removes from ASCII text (bytes.rstrip() keeps \x1c-\x1f).
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def _parse_plain(data: bytes, columns: Optional[int], dtype: type) -> Optional[np.ndarray]:
    """The common case at C speed: rows of plain numbers (digits and signs, also ``.eE`` for floats)
    separated by spaces, tabs or commas, read by NumPy's parser. ``None`` unless that is certain to
    give what Python's ``int()`` / ``float()`` give, with ``columns`` (or the first line's count)
    values on every line; the general path then decides, and names the first bad line."""
    raw = np.frombuffer(data, dtype=np.uint8)
    space = (raw == ord(" ")) | (raw == ord(",")) | (raw == ord("\n")) | (raw == ord("\t"))
    other = ~(space | ((raw - ord("0")) < 10))  # uint8 arithmetic wraps: below "0" is large
    integers = np.issubdtype(dtype, np.integer)
    if other.any():
        signs = (raw == ord("+")) | (raw == ord("-"))
        marks = signs if integers else signs | (raw == ord(".")) | (raw == ord("e")) | (raw == ord("E"))
        if (other & ~marks).any():
            return None
    first = ~space
    first[1:] &= space[:-1]
    starts = np.flatnonzero(first)
    newlines = np.flatnonzero(raw == ord("\n"))
    lines = len(newlines) + 1
    width = columns if columns is not None else int(np.searchsorted(starts, newlines[0]) if lines > 1 else len(starts))
    # Exactly `width` values on every line: line k's last value before newline k, line k + 1's first after it.
    if (not width or len(starts) != lines * width or not (starts[width - 1::width][:-1] < newlines).all()
            or not (starts[width::width] > newlines).all()):
        return None
    if integers and other.any():  # C reads a lone sign as 0: every sign must start a value and precede a digit
        at = np.flatnonzero(other)
        if not first[at].all() or at[-1] + 1 >= raw.size or not ((raw[at + 1] - ord("0")) < 10).all():
            return None
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # NumPy warns (not raises) at an unreadable value
        try:
            values = np.fromstring(data.replace(b",", b" "), dtype=dtype, sep=" ")
        except (ValueError, DeprecationWarning):
            return None
    if len(values) != lines * width:
        return None
    if integers and ((values == np.iinfo(dtype).max) | (values == np.iinfo(dtype).min)).any():
        return None  # C saturates out-of-range integers: the exact path decides
    return values.reshape(lines, width)


def _parse_table(text: str | bytes, fname: str, columns: Optional[int], dtype: type,
                 first_line: int = 1) -> np.ndarray:
    """Comma- or space-separated rows as a ``(rows, columns)`` array; names the first bad line
    (numbered from ``first_line``).

    ``columns=None`` takes the width of the first line. Trailing blank lines are ignored.
    An integer ``dtype`` also takes floats with an integer value (see :func:`_integer`).
    ``text`` may be ASCII bytes (a piece of a file as read).
    """
    if isinstance(text, bytes) and text.isascii():
        body = text.rstrip(_ASCII_SPACE)
        values = _parse_plain(body, columns, dtype) if body else None
        if values is not None:
            return values
        text = body.decode("ascii")
    elif isinstance(text, bytes):
        text = text.decode("utf-8")
    elif text.isascii():
        body = text.rstrip()
        values = _parse_plain(body.encode("ascii"), columns, dtype) if body else None
        if values is not None:
            return values
    body = text.rstrip()
    if not body:
        return np.empty((0, columns or 1), dtype=dtype)
    if not body.isascii():  # str.split() also separates on non-ASCII whitespace
        return _parse_lines(body, fname, columns, dtype, first_line)
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
    ragged = np.flatnonzero(per_line != width) if width else np.zeros(1, dtype=np.int64)
    tokens = body.replace(",", " ").split()  # the same values as the marks, in ASCII
    try:
        values, bad_value = _numbers(tokens, dtype), None
    except (ValueError, OverflowError):
        values, bad_value = None, _first_bad_value(tokens, dtype)
    if values is not None and not ragged.size:
        return values.reshape(len(per_line), width)
    line = int(ragged[0]) if ragged.size else len(per_line)
    if bad_value is not None:
        line = min(line, int(np.searchsorted(np.cumsum(per_line), bad_value, side="right")))
    begin = int(newlines[line - 1]) + 1 if line else 0
    stop = int(newlines[line]) if line < len(newlines) else len(body)
    error = _line_error(fname, first_line + line, body[begin:stop], width, dtype)
    if error is None:  # not for ASCII text; the line-by-line reading is the rule anyway
        return _parse_lines(body, fname, columns, dtype, first_line)
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


def _parse_lines(body: str, fname: str, columns: Optional[int], dtype: type, first_line: int = 1) -> np.ndarray:
    """:func:`_parse_table` one line at a time, for text with non-ASCII characters."""
    lines = body.split("\n")
    rows = [line.replace(",", " ").split() for line in lines]
    width = columns if columns is not None else len(rows[0])
    if width and all(len(fields) == width for fields in rows):
        try:
            return _numbers([x for row in rows for x in row], dtype).reshape(len(rows), width)
        except (ValueError, OverflowError):
            pass
    for number, line in enumerate(lines, start=first_line):
        error = _line_error(fname, number, line, width, dtype)
        if error is not None:
            raise error
    raise AssertionError("a table that does not parse has a bad line")


def read_tu(name: str, source: str) -> TUContents:
    """Parse and validate the TU dataset ``name`` from a zip or folder at ``source``.

    The files are read piece by piece and every piece is checked as it comes, so that
    memory follows the parsed arrays (edges as int32), not the text.
    """
    src = _Source(name, source)
    fn = lambda suffix: f"{name}_{suffix}.txt"  # noqa: E731

    indicator = _table(src, "graph_indicator", 1, np.int64)[:, 0]
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
    node_offsets = np.zeros(num_graphs + 1, dtype=np.int64)
    np.cumsum(np.bincount(indicator - 1, minlength=num_graphs), out=node_offsets[1:])

    raw_labels = _table(src, "graph_labels", 1, np.int64)[:, 0]
    if len(raw_labels) != num_graphs:
        raise DatasetError(
            f"{fn('graph_labels')}: {len(raw_labels)} labels for {num_graphs} graphs in {fn('graph_indicator')}"
        )
    classes, labels = np.unique(raw_labels, return_inverse=True)

    u, v = _read_edges(src, indicator)
    edge_labels = None
    if src.has("edge_labels"):
        edge_labels = _table(src, "edge_labels", None, np.int64)[:, 0]
        if len(edge_labels) != len(u):
            raise DatasetError(f"{fn('edge_labels')}: {len(edge_labels)} lines for {len(u)} edges in {fn('A')}")

    # Some official files (IMDB) list an edge twice: keep the first of each directed pair.
    keep = _first_edges_by_source(u, v, n)
    duplicates = 0
    if keep is not None:
        duplicates = len(u) - len(keep)
        u, v = u[keep], v[keep]
        edge_labels = None if edge_labels is None else edge_labels[keep]
    # u is sorted and graphs own node ranges (offsets as u's type: a mixed search would copy u)
    edge_offsets = np.searchsorted(u, node_offsets.astype(u.dtype)).astype(np.int64)
    _number_within_graphs(u, v, node_offsets, edge_offsets)

    node_labels = attributes = None
    if src.has("node_labels"):
        node_labels = _table(src, "node_labels", None, np.int64)[:, 0]
        if len(node_labels) != n:
            raise DatasetError(f"{fn('node_labels')}: {len(node_labels)} lines for {n} nodes")
    if src.has("node_attributes"):
        attributes = _table(src, "node_attributes", None, np.float64)
        if len(attributes) != n:
            raise DatasetError(f"{fn('node_attributes')}: {len(attributes)} lines for {n} nodes")
        # Checked as the float32 features they become: 1e300 is finite only in float64.
        with np.errstate(over="ignore"):
            attributes = attributes.astype(np.float32)
        nan_rows = np.flatnonzero(~np.isfinite(attributes).all(1))
        if nan_rows.size:
            raise DatasetError(
                f"{fn('node_attributes')} line {int(nan_rows[0]) + 1}: NaN or infinite value (as float32)"
            )

    ndata = {} if node_labels is None else {"node_label": torch.as_tensor(node_labels)}
    edata = {} if edge_labels is None else {"edge_label": torch.as_tensor(edge_labels)}
    store = GraphStore(torch.as_tensor(node_offsets), torch.as_tensor(edge_offsets), torch.as_tensor(u),
                       torch.as_tensor(v), ndata, edata, check_endpoints=False)  # checked as A.txt was read
    info = {
        "classes": classes.tolist(),
        "duplicate_edges_dropped": int(duplicates),
        "has_node_labels": node_labels is not None,
        "has_node_attributes": attributes is not None,
        "has_edge_labels": edge_labels is not None,
    }
    return TUContents(
        store,
        torch.as_tensor(labels, dtype=torch.long),
        None if attributes is None else torch.as_tensor(attributes),
        None if node_labels is None else torch.as_tensor(node_labels),
        info,
    )


def _read_edges(src: _Source, indicator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sources and targets of ``NAME_A.txt`` as 0-based node ids (int32 where they fit), every
    piece of the file checked as it is read (ids in range, both ends in one graph)."""
    fname, n = f"{src.name}_A.txt", len(indicator)
    dtype = np.int32 if n < 2**31 else np.int64
    u, v, row = np.empty(0, dtype), np.empty(0, dtype), 0
    # As when the file was checked whole: any unreadable line first, then the first id out of range,
    # then the first edge across graphs; so errors found in a piece wait for the end of the file.
    out_of_range = crossing = None
    for rows in _read_table(src, "A", 2, np.int64):
        if not len(u):  # room for the whole file at the first piece's bytes per line, plus 2%
            u = np.empty(max(int(src.size("A") / (CHUNK_BYTES / len(rows)) * 1.02), len(rows)), dtype)
            v = np.empty_like(u)
        bad = np.flatnonzero((rows < 1).any(1) | (rows > n).any(1))
        if bad.size and out_of_range is None:
            first = int(bad[0])
            out_of_range = f"{fname} line {row + first + 1}: node id {rows[first].tolist()} out of range 1..{n}"
        if out_of_range is not None:
            row += len(rows)
            continue
        rows -= 1
        bad = np.flatnonzero(indicator[rows[:, 0]] != indicator[rows[:, 1]])
        if bad.size and crossing is None:
            crossing = f"{fname} line {row + int(bad[0]) + 1}: the edge joins nodes of two different graphs"
        if row + len(rows) > len(u):  # grow by a quarter at least: a few copies, not one array per piece
            size = max(row + len(rows), len(u) + len(u) // 4)
            u, v = np.resize(u, size), np.resize(v, size)
        u[row:row + len(rows)] = rows[:, 0]
        v[row:row + len(rows)] = rows[:, 1]
        row += len(rows)
    if out_of_range is not None or crossing is not None:
        raise DatasetError(out_of_range or crossing)
    return u[:row], v[:row]  # views: the slack is a few percent


def _number_within_graphs(u: np.ndarray, v: np.ndarray, node_offsets: np.ndarray, edge_offsets: np.ndarray,
                          block: int = 1 << 22) -> None:
    """Make global node ids ``u``, ``v`` (edges grouped by graph) ids within their graph, in place,
    about ``block`` edges at a time."""
    graph = 0
    while graph < len(node_offsets) - 1:
        last = max(int(np.searchsorted(edge_offsets, edge_offsets[graph] + block, side="right")) - 1, graph + 1)
        last = min(last, len(node_offsets) - 1)
        lo, hi = edge_offsets[graph], edge_offsets[last]
        base = np.repeat(node_offsets[graph:last].astype(u.dtype), np.diff(edge_offsets[graph:last + 1]))
        u[lo:hi] -= base
        v[lo:hi] -= base
        graph = last


def _first_edges_by_source(u: np.ndarray, v: np.ndarray, n: int) -> Optional[np.ndarray]:
    """The edges to keep, in order: the first of each repeated ``(u, v)`` pair, stably ordered by
    source; ``None`` if that is every edge as it is (a file sorted by source, no repeats)."""
    if len(u) < 2:
        return None
    if (u[1:] >= u[:-1]).all():  # the usual layout: sorted by source, so often by target within
        same = u[1:] == u[:-1]
        if (v[1:] >= v[:-1])[same].all():  # then repeats are neighbours
            repeat = same & (v[1:] == v[:-1])
            return np.flatnonzero(~np.concatenate(([False], repeat))) if repeat.any() else None
    _, first = np.unique(u.astype(np.int64) * n + v, return_index=True)
    keep = np.sort(first)
    return keep[np.argsort(u[keep], kind="stable")]


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
    """Per-graph float32 node features for a ``features`` choice (views of :func:`node_feature_matrix`)."""
    return list(torch.split(node_feature_matrix(contents, features), contents.store.num_nodes.tolist()))


def node_feature_matrix(contents: TUContents, features: str = "auto") -> torch.Tensor:
    """Float32 node features of every node, :math:`(N, F)`, for a ``features`` choice.

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
    parts: list[torch.Tensor] = []
    for kind in kinds:
        if kind == "attr":
            parts.append(contents.attributes)
        elif kind == "label":
            _, index = torch.unique(contents.node_labels, return_inverse=True)
            parts.append(_one_hot(index, int(index.max()) + 1))
        else:
            degrees = contents.store.in_degrees()
            top = min(int(degrees.max()), MAX_DEGREE_FEATURE)
            parts.append(_one_hot(degrees.clamp_max(top), top + 1))
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


def _one_hot(index: torch.Tensor, width: int) -> torch.Tensor:
    """``F.one_hot(index, width).float()`` without its int64 intermediate (8x the result)."""
    out = torch.zeros(len(index), width)
    out[torch.arange(len(index)), index] = 1.0
    return out


def load_tu(name: str, data_dir: str, mirror: Optional[str] = None, features: str = "auto") -> GraphClassificationData:
    """The TU dataset ``name`` with node features ``features``, prepared once into ``data_dir/tu/NAME``
    (a :mod:`~dgl_diffpool.data.store` folder ``NAME-FEATURES.store``, opened memory-mapped).

    Reads ``mirror/tu/NAME.zip`` (or ``NAME/``) when a mirror is given, else
    downloads the official zip into ``data_dir/tu/raw``.
    """
    check_feature_spec(features)  # a typo fails before any reading or download (and never names a cache file)
    folder = os.path.join(data_dir, "tu", name)
    cache = os.path.join(folder, f"{name}-{features}.store")
    stored = open_store(cache)
    if stored is not None:
        store, arrays, info = stored
        return GraphClassificationData(name, store, arrays["labels"], info["num_classes"], checked=True)

    source = locate_tu_source(name, mirror)
    if source is None:
        source = os.path.join(data_dir, "tu", "raw", f"{name}.zip")
        if not os.path.exists(source):
            download_tu_zip(name, source)
    contents = read_tu(name, source)
    contents.store.ndata["feat"] = node_feature_matrix(contents, features)
    num_classes = len(contents.info["classes"])
    data = GraphClassificationData(name, contents.store, contents.labels, num_classes)
    save_store(cache, data.store, {"labels": data.labels}, {"num_classes": num_classes, **contents.info})
    atomic_write_text(os.path.join(folder, f"{name}-info.json"), json.dumps(contents.info, indent=2))
    return data
