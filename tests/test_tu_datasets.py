"""TU datasets: official statistics from the mirror, corrupt files, mirror vs download, features."""
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest
import torch

from dgl_diffpool.data import load_dataset
from dgl_diffpool.data import tu
from dgl_diffpool.errors import DatasetError

MIRROR = os.environ.get("DGL_DIFFPOOL_MIRROR")
needs_mirror = pytest.mark.skipif(not MIRROR, reason="DGL_DIFFPOOL_MIRROR (the offline dataset mirror) is not set")


@pytest.fixture(scope="module")
def tu_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tu-data"))


@needs_mirror
@pytest.mark.parametrize(
    "name, graphs, counts, avg_nodes, avg_edges, features, max_nodes",
    [
        ("ENZYMES", 600, [100] * 6, 32.63, 62.14, 18, 126),
        ("PROTEINS", 1113, [663, 450], 39.06, 72.82, 1, 620),
        ("MUTAG", 188, [63, 125], 17.93, 19.79, 7, 28),  # labels -1 / 1 mapped to 0 / 1
        pytest.param("DD", 1178, [691, 487], 284.32, 715.66, 82, 5748, marks=pytest.mark.slow),
    ],
)
def test_mirrored_datasets_match_official_statistics(tu_cache, name, graphs, counts, avg_nodes, avg_edges,
                                                     features, max_nodes):
    data = load_dataset(name, tu_cache, mirror=MIRROR)
    assert len(data) == graphs
    assert torch.bincount(data.labels).tolist() == counts
    assert np.mean([g.num_nodes() for g in data.graphs]) == pytest.approx(avg_nodes, abs=0.005)
    # Undirected edges are stored once per direction.
    assert np.mean([g.num_edges() for g in data.graphs]) / 2 == pytest.approx(avg_edges, abs=0.005)
    assert data.num_features == features and data.max_num_nodes == max_nodes
    assert all(g.ndata["feat"].dtype == torch.float32 for g in data.graphs[:5])


def write_tu(folder, name, files):
    """Write ``{suffix: text}`` (``None``: no such file) as ``folder/name/name_suffix.txt``, byte for byte."""
    root = folder / name
    root.mkdir(parents=True, exist_ok=True)
    for suffix, text in files.items():
        if text is not None:
            (root / f"{name}_{suffix}.txt").write_bytes(text.encode())
    return str(root)


def zip_tu(folder, archive, prefix, compression=zipfile.ZIP_DEFLATED):
    """Zip the files of ``folder`` as ``prefix + file name`` (official zips use ``NAME//``)."""
    with zipfile.ZipFile(archive, "w", compression) as zf:
        for f in sorted(os.listdir(folder)):
            with open(os.path.join(folder, f), "rb") as fh:
                zf.writestr(prefix + f, fh.read())  # ZipFile.write would normalise "//" to "/"
    return str(archive)


def _write_tu(folder, name="TOY", a=None, indicator=None, labels=None, node_labels=None, attrs=None):
    """A tiny TU folder: graph 1 = triangle 1-2-3 plus isolated node 4, graph 2 = edgeless node 5."""
    a = a if a is not None else "1, 2\n2, 1\n2, 3\n3, 2\n1, 3\n3, 1\n1, 2\n"  # last row duplicates the first
    indicator = indicator if indicator is not None else "1\n1\n1\n1\n2\n"
    labels = labels if labels is not None else "7\n-3\n"
    return write_tu(folder, name, {"A": a, "graph_indicator": indicator, "graph_labels": labels,
                                   "node_labels": node_labels, "node_attributes": attrs})


def test_toy_dataset_structure_labels_and_duplicates(tmp_path):
    src = _write_tu(tmp_path, node_labels="0\n2\n2\n0\n1\n", attrs="1.0, 2.0\n0, 0\n1, 1\n3, 3\n0.5, 0.5\n")
    contents = tu.read_tu("TOY", src)
    g1, g2 = contents.graphs
    assert (g1.num_nodes(), g1.num_edges(), g2.num_nodes(), g2.num_edges()) == (4, 6, 1, 0)
    assert g1.in_degrees().tolist() == [2, 2, 2, 0]  # isolated node kept
    assert contents.info["duplicate_edges_dropped"] == 1
    assert contents.info["classes"] == [-3, 7] and contents.labels.tolist() == [1, 0]
    feats = tu.node_features(contents, "attr+label")
    assert [f.shape for f in feats] == [(4, 5), (1, 5)]
    torch.testing.assert_close(feats[1], torch.tensor([[0.5, 0.5, 0.0, 1.0, 0.0]]))
    assert tu.node_features(contents, "auto")[0].shape == (4, 2)  # attributes first
    assert tu.node_features(contents, "degree")[0].argmax(1).tolist() == [2, 2, 2, 0]
    with pytest.raises(DatasetError, match="unknown feature kind 'colour'"):
        tu.node_features(contents, "colour")
    bare = tu.read_tu("TOY", _write_tu(tmp_path / "bare"))
    with pytest.raises(DatasetError, match="has no node attrs; available: degree"):
        tu.node_features(bare, "attr")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(a="1, 2\n2, 1\n2\n"), "TOY_A.txt line 3: expected 2 values, found 1"),
        (dict(a="1, 2\n2, 9\n"), r"TOY_A.txt line 2: node id \[2, 9\] out of range 1..5"),
        (dict(a="1, 2\n4, 5\n"), "TOY_A.txt line 2: the edge joins nodes of two different graphs"),
        (dict(a="1, x\n"), "TOY_A.txt line 1: not a number"),
        (dict(labels="1\n"), "TOY_graph_labels.txt: 1 labels for 2 graphs"),
        (dict(labels="1\n2\n3\n"), "TOY_graph_labels.txt: 3 labels for 2 graphs"),
        (dict(indicator="1\n1\n3\n3\n3\n"), "TOY_graph_indicator.txt line 3: graph ids must start at 1"),
        (dict(node_labels="0\n1\n"), "TOY_node_labels.txt: 2 lines for 5 nodes"),
        (dict(attrs="1\n1\nnan\n1\n1\n"), "TOY_node_attributes.txt line 3: NaN or infinite value"),
        # Ragged rows whose total count fits the table used to be silently re-cut into rows.
        (dict(a="1, 2, 3\n4\n"), "TOY_A.txt line 1: expected 2 values, found 3"),
        (dict(a="1, 2\n2, 1\n2, 3, 3\n2\n"), "TOY_A.txt line 3: expected 2 values, found 3"),
        (dict(indicator="1 1\n1\n\n2\n"), "TOY_graph_indicator.txt line 1: expected 1 value, found 2"),
        (dict(attrs="1, 2\n3\n4, 5, 6\n1, 1\n1, 1\n"), "TOY_node_attributes.txt line 2: expected 2 values, found 1"),
        (dict(node_labels="\n0\n1\n2\n3\n"), "TOY_node_labels.txt line 1: no values"),
        # Beyond int64 (a traceback before) and beyond float32 (infinite features before).
        (dict(a="1, 99999999999999999999\n"), "TOY_A.txt line 1: number too large in '1, 99999999999999999999'"),
        (dict(attrs="1\n1\n1e300\n1\n1\n"), "TOY_node_attributes.txt line 3: NaN or infinite value"),
        # Integer columns take 1.0 but no other fraction, exactly (1.0000000000000001 is 1.0 as a float).
        (dict(labels="7\n1.5\n"), r"TOY_graph_labels.txt line 2: not an integer in '1.5'"),
        (dict(labels="7.0\n-3.5\n"), r"TOY_graph_labels.txt line 2: not an integer in '-3.5'"),
        (dict(node_labels="0\n1\n2.5\n0\n1\n"), r"TOY_node_labels.txt line 3: not an integer in '2.5'"),
        (dict(a="1.0, 2.0\n2, 1.0000000000000001\n"), r"TOY_A.txt line 2: not an integer in '2, 1.0000000000000001'"),
        (dict(indicator="1\n1\n1.5\n1\n2\n"), r"TOY_graph_indicator.txt line 3: not an integer in '1.5'"),
        (dict(labels="7\nnan\n"), "TOY_graph_labels.txt line 2: not a number in 'nan'"),
        (dict(labels="7\n1e19\n"), "TOY_graph_labels.txt line 2: number too large in '1e19'"),
        # A byte order mark is skipped at the start of a file only.
        (dict(labels="7\n\ufeff-3\n"), r"TOY_graph_labels.txt line 2: not a number in '\\ufeff-3'"),  # shown escaped
    ],
)
def test_corrupt_files_name_file_and_line(tmp_path, kwargs, message):
    src = _write_tu(tmp_path, **kwargs)
    with pytest.raises(DatasetError, match=message):
        tu.read_tu("TOY", src)


def test_bad_rows_are_found_deep_in_a_long_file(tmp_path):
    # The bad line is located from vectorised counts (ragged rows) or by bisection (bad numbers).
    rows = ["1, 2"] * 9000
    rows[8999], rows[9000 - 2] = "2", "1, 2, 1"  # same total number of values
    with pytest.raises(DatasetError, match="TOY_A.txt line 8999: expected 2 values, found 3"):
        tu.read_tu("TOY", _write_tu(tmp_path / "ragged", a="\n".join(rows)))
    rows = ["1, 2"] * 9000
    rows[8500] = "1, two"
    with pytest.raises(DatasetError, match="TOY_A.txt line 8501: not a number in '1, two'"):
        tu.read_tu("TOY", _write_tu(tmp_path / "word", a="\n".join(rows)))
    rows = ["1.0, 2.0"] * 9000
    rows[8700] = "1.0, 2.5"
    with pytest.raises(DatasetError, match=r"TOY_A.txt line 8701: not an integer in '1.0, 2.5'"):
        tu.read_tu("TOY", _write_tu(tmp_path / "fraction", a="\n".join(rows)))


def _canonical(contents):
    """A read dataset as plain values, to compare two readings."""
    graphs = [(g.num_nodes(), [t.tolist() for t in g.edges()], {k: v.tolist() for k, v in g.ndata.items()},
               {k: v.tolist() for k, v in g.edata.items()}) for g in contents.graphs]
    return dict(graphs=graphs, labels=contents.labels.tolist(), info=contents.info,
                node_labels=None if contents.node_labels is None else contents.node_labels.tolist(),
                attributes=None if contents.attributes is None else contents.attributes.tolist())


def test_integral_floats_and_byte_order_marks_read_as_plain_integers(tmp_path):
    plain = {
        "A": "1, 2\n2, 1\n2, 3\n3, 2\n1, 3\n3, 1\n",
        "graph_indicator": "1\n1\n1\n1\n2\n",
        "graph_labels": "7\n-3\n",
        "node_labels": "0\n2\n2\n0\n1\n",
        "edge_labels": "1\n1\n0\n0\n2\n2\n",
        "node_attributes": "1.0, 2.0\n0, 0\n1, 1\n3, 3\n0.5, 0.5\n",
    }
    # The same values as floats (1.0, 1., 1e0, -0.0) and every file opened by a UTF-8 BOM (EF BB BF).
    floats = {
        "A": "1.0, 2.0\n2., 1\n2e0, 3.00\n3, 2\n1, 0.03e2\n3, 1\n",
        "graph_indicator": "1.0\n1\n1.\n1\n2.0\n",
        "graph_labels": "7.0\n-3.0\n",
        "node_labels": "-0.0\n2.0\n2\n0\n1.0\n",
        "edge_labels": "1.0\n1\n0.0\n0\n2.0\n2\n",
        "node_attributes": plain["node_attributes"],
    }
    floats = {suffix: "\ufeff" + text for suffix, text in floats.items()}
    folder = write_tu(tmp_path / "b", "TOY", floats)
    assert (tmp_path / "b" / "TOY" / "TOY_A.txt").read_bytes().startswith(b"\xef\xbb\xbf1.0, 2.0")
    want = _canonical(tu.read_tu("TOY", write_tu(tmp_path / "a", "TOY", plain)))
    assert want["labels"] == [1, 0] and want["info"]["classes"] == [-3, 7]
    assert want["graphs"][0][2]["node_label"] == [0, 2, 2, 0]
    for source in (folder, zip_tu(folder, tmp_path / "TOY.zip", "TOY//")):
        assert _canonical(tu.read_tu("TOY", source)) == want


def test_tables_accept_any_whitespace_and_comma_layout(tmp_path):
    # Tabs, no-break spaces (str.split() separates on them), CRLF, blank trailing lines.
    a = "1\t2\r\n2,1\r\n2 ,  3\n3\u00a02\n\n\n"
    edges = tu._parse_table(a, "TOY_A.txt", 2, np.int64)
    assert edges.tolist() == [[1, 2], [2, 1], [2, 3], [3, 2]]
    assert tu._parse_table("", "x", None, np.float64).shape == (0, 1)
    assert tu._parse_table("1.5 2\n3 4\n", "x", None, np.float64).tolist() == [[1.5, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    "text, values",
    [
        ("1.0 2.\n+3.0 -4.000\n", [[1, 2], [3, -4]]),
        ("1e3 1.5e1\n-0.0 120e-1\n", [[1000, 15], [0, 12]]),
        ("9223372036854775807.0 -9223372036854775808.0\n", [[2**63 - 1, -2**63]]),
        ("0e99999999999999999999 1_0.0\n", [[0, 10]]),  # what float() reads, exactly
        ("9007199254740993.0 4503599627370497.0\n", [[2**53 + 1, 2**52 + 1]]),  # not rounded to a double
        ("1e16 -0e-400\n", [[10**16, 0]]),
    ],
)
def test_integer_columns_take_integral_floats(text, values):
    assert tu._parse_table(text, "x.txt", 2, np.int64).tolist() == values


@pytest.mark.parametrize(
    "text, message",
    [
        ("1, x\n1, 2, 3\n", "x.txt line 1: not a number in '1, x'"),  # the first bad line, whatever is bad
        ("1, 2, 3\n1, x\n", "x.txt line 1: expected 2 values, found 3"),
        ("1, 2\n1, 2, x\n", "x.txt line 2: expected 2 values, found 3"),  # the count, then the numbers
        ("1\u00a02\n3\n", "x.txt line 2: expected 2 values, found 1"),  # non-ASCII text, read line by line
        ("1\u00a02\n3, é\n", "x.txt line 2: not a number in '3, é'"),
        # Integer columns: a fraction, however small or far, is not an integer; the first bad value decides.
        ("1.0, 2\n1.5, x\n", "x.txt line 2: not an integer in '1.5, x'"),
        ("1.0, 2\nx, 1.5\n", "x.txt line 2: not a number in 'x, 1.5'"),
        ("1, 1e-1\n", "x.txt line 1: not an integer in '1, 1e-1'"),
        ("1, 1e-99999999999999999999\n", "x.txt line 1: not an integer in '1, 1e-99999999999999999999'"),
        ("1, 0.0\n2.0, 1e-400\n", "x.txt line 2: not an integer in '2.0, 1e-400'"),  # 0.0 as a float
        ("1, 2.0\n1.0000000000000001, 1\n", "x.txt line 2: not an integer in '1.0000000000000001, 1'"),
        ("1, 2.0\n9007199254740993.5, 1\n", "x.txt line 2: not an integer in '9007199254740993.5, 1'"),
        ("1, 9223372036854775807.5\n", "x.txt line 1: not an integer in '1, 9223372036854775807.5'"),
        ("1, 9223372036854775808.0\n", "x.txt line 1: number too large in '1, 9223372036854775808.0'"),
        ("1, 1e99999999999999999999\n", "x.txt line 1: number too large in '1, 1e99999999999999999999'"),
        ("1, 2\n1.0, inf\n", "x.txt line 2: not a number in '1.0, inf'"),
        ("1\u00a02.0\n3 4.5\n", "x.txt line 2: not an integer in '3 4.5'"),  # read line by line
    ],
)
def test_table_errors_name_the_first_bad_line(text, message):
    with pytest.raises(DatasetError, match=f"^{message}$"):
        tu._parse_table(text, "x.txt", 2, np.int64)


def _deflated_zip_with_a_damaged_member(tmp_path, member="TOY//TOY_A.txt"):
    """The toy dataset zipped (deflate), then the first byte of ``member``'s compressed data set
    to 0x07: a final deflate block of the reserved type 3, which zlib refuses."""
    archive = zip_tu(_write_tu(tmp_path / "dir"), tmp_path / "TOY.zip", "TOY//")
    with zipfile.ZipFile(archive) as zf:
        offset = zf.getinfo(member).header_offset
    data = bytearray(open(archive, "rb").read())
    name_len, extra_len = struct.unpack("<HH", data[offset + 26:offset + 30])  # local file header
    data[offset + 30 + name_len + extra_len] = 0x07
    open(archive, "wb").write(bytes(data))
    return archive


def test_damaged_zip_data_is_a_dataset_error(tmp_path):
    archive = _deflated_zip_with_a_damaged_member(tmp_path)
    with zipfile.ZipFile(archive) as zf:  # the corruption really reaches the decompressor
        with pytest.raises(zlib.error):
            zf.read("TOY//TOY_A.txt")
        zf.read("TOY//TOY_graph_labels.txt")
    with pytest.raises(DatasetError, match=r"TOY\.zip: cannot read TOY//TOY_A\.txt, the archive is damaged "
                                           r"\(Error -3 while decompressing data: invalid block type\)"):
        tu.read_tu("TOY", archive)


def test_bad_crc_in_zip_is_a_dataset_error(tmp_path):
    archive = zip_tu(_write_tu(tmp_path / "dir"), tmp_path / "TOY.zip", "TOY//", zipfile.ZIP_STORED)
    data = open(archive, "rb").read()
    pos = data.index(b"7\n-3\n")  # graph labels, stored as they are
    open(archive, "wb").write(data[:pos] + b"8" + data[pos + 1:])
    with zipfile.ZipFile(archive) as zf, pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"):
        zf.read("TOY//TOY_graph_labels.txt")
    with pytest.raises(DatasetError, match=r"TOY\.zip: cannot read TOY//TOY_graph_labels\.txt.*Bad CRC-32"):
        tu.read_tu("TOY", archive)


def test_one_class_is_refused(tmp_path):
    mirror = tmp_path / "mirror"
    _write_tu(mirror / "tu", labels="5\n5\n")
    assert tu.read_tu("TOY", str(mirror / "tu" / "TOY")).info["classes"] == [5]  # parsing alone is fine
    with pytest.raises(DatasetError, match=r"^dataset TOY has one class \(all 2 graphs have the same label\): "
                                           "nothing to classify$"):
        tu.load_tu("TOY", str(tmp_path / "data"), mirror=str(mirror))


@pytest.mark.parametrize(
    "spec, kinds",
    [("auto", ["auto"]), ("attr", ["attr"]), ("label+degree", ["label", "degree"]),
     ("degree+attr+label", ["degree", "attr", "label"])],
)
def test_feature_spec_accepts(spec, kinds):
    assert tu.check_feature_spec(spec) == kinds


@pytest.mark.parametrize(
    "spec, message",
    [
        ("colour", r"unknown feature kind 'colour' in 'colour'; choose from attr, label, degree \(joined by \+\) "
                   "or auto$"),
        ("Attr", "unknown feature kind 'Attr'"),
        ("attr+ label", "unknown feature kind ' label'"),
        ("", "empty feature kind in ''"),
        ("attr+", "empty feature kind in 'attr\\+'"),
        ("attr++label", "empty feature kind in 'attr\\+\\+label'"),
        ("attr+label+attr", "feature kind 'attr' repeated in 'attr\\+label\\+attr'"),
        ("auto+label", "feature kind auto cannot be combined with others in 'auto\\+label'"),
    ],
)
def test_feature_spec_refuses(spec, message):
    with pytest.raises(DatasetError, match=message):
        tu.check_feature_spec(spec)


def test_feature_spec_is_checked_by_node_features_and_before_reading(tmp_path, monkeypatch):
    contents = tu.read_tu("TOY", _write_tu(tmp_path / "dir", attrs="1\n2\n3\n4\n5\n"))
    with pytest.raises(DatasetError, match="feature kind 'attr' repeated"):
        tu.node_features(contents, "attr+attr")  # used to give the attributes twice
    mirror = tmp_path / "mirror"
    _write_tu(mirror / "tu")
    monkeypatch.setattr(tu, "read_tu", lambda *a: pytest.fail("the files were read for a bad --features"))
    with pytest.raises(DatasetError, match="unknown feature kind 'colour'"):
        tu.load_tu("TOY", str(tmp_path / "data"), mirror=str(mirror), features="colour")


def test_missing_file_and_nothing_half_written(tmp_path):
    mirror = tmp_path / "mirror"
    _write_tu(mirror / "tu")
    os.remove(mirror / "tu" / "TOY" / "TOY_graph_labels.txt")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(DatasetError, match="required file TOY_graph_labels.txt is missing"):
        tu.load_tu("TOY", str(data_dir), mirror=str(mirror))
    leftovers = [os.path.join(r, f) for r, _, files in os.walk(data_dir) for f in files]
    assert leftovers == []


def test_zip_and_folder_sources_agree(tmp_path):
    folder = _write_tu(tmp_path / "dir")
    archive = zip_tu(folder, tmp_path / "TOY.zip", "TOY//")
    a, b = tu.read_tu("TOY", folder), tu.read_tu("TOY", archive)
    assert torch.equal(a.labels, b.labels)
    for x, y in zip(a.graphs, b.graphs):
        assert torch.equal(torch.stack(x.edges()), torch.stack(y.edges()))


def test_line_endings_read_the_same_from_a_zip_and_a_folder(tmp_path):
    # A lone CR (old Mac files) ends a line, as open()'s universal newlines made it for folders only.
    folder = _write_tu(tmp_path / "dir", a="1, 2\r2, 1\r\n2, 3\r3, 2\r", indicator="1\r1\r1\r1\r\n2\r")
    for source in (folder, zip_tu(folder, tmp_path / "TOY.zip", "TOY//")):
        contents = tu.read_tu("TOY", source)
        assert [g.num_nodes() for g in contents.graphs] == [4, 1]
        assert sorted(zip(*(t.tolist() for t in contents.graphs[0].edges()))) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_mirror_is_used_without_network_and_download_otherwise(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _write_tu(mirror / "tu")
    monkeypatch.setattr(tu, "download_tu_zip", lambda *a: pytest.fail("downloaded although a mirror was given"))
    data = tu.load_tu("TOY", str(tmp_path / "d1"), mirror=str(mirror))
    assert len(data) == 2

    calls = []

    def fake_download(name, dest):
        calls.append(tu.TU_URL.format(name=name))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with zipfile.ZipFile(dest, "w") as zf:
            for f in os.listdir(mirror / "tu" / "TOY"):
                zf.write(mirror / "tu" / "TOY" / f, f"TOY/{f}")

    monkeypatch.setattr(tu, "download_tu_zip", fake_download)
    data = tu.load_tu("TOY", str(tmp_path / "d2"), mirror=None)
    assert calls == ["https://www.chrsmrrs.de/graphkerneldatasets/TOY.zip"] and len(data) == 2
    assert os.path.exists(tmp_path / "d2" / "tu" / "raw" / "TOY.zip")


def test_prepared_data_are_reused(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _write_tu(mirror / "tu")
    first = tu.load_tu("TOY", str(tmp_path / "d"), mirror=str(mirror))
    monkeypatch.setattr(tu, "read_tu", lambda *a: pytest.fail("the raw files were read again"))
    again = tu.load_tu("TOY", str(tmp_path / "d"), mirror=str(mirror))
    assert torch.equal(first.labels, again.labels) and again.num_classes == 2
    assert torch.equal(first.graphs[0].ndata["feat"], again.graphs[0].ndata["feat"])


def test_any_spelling_of_a_name_loads_the_official_files_into_one_cache(tmp_path, monkeypatch):
    # A mirror whose file names are case-sensitive: MUTAG/MUTAG_A.txt, ... (the toy graphs).
    mirror = tmp_path / "mirror"
    _write_tu(mirror / "tu", name="MUTAG")
    data_dir = tmp_path / "data"
    data = load_dataset("mutag", str(data_dir), mirror=str(mirror))
    assert data.name == "MUTAG" and len(data) == 2 and data.labels.tolist() == [1, 0]
    assert os.listdir(data_dir / "tu") == ["MUTAG"]
    assert sorted(os.listdir(data_dir / "tu" / "MUTAG")) == ["MUTAG-auto.store", "MUTAG-info.json"]
    monkeypatch.setattr(tu, "read_tu", lambda *a: pytest.fail("another spelling did not find the cache"))
    for spelling in ("MUTAG", "Mutag"):
        again = load_dataset(spelling, str(data_dir), mirror=str(mirror))
        assert again.name == "MUTAG" and torch.equal(again.labels, data.labels)
        assert torch.equal(again.graphs[0].ndata["feat"], data.graphs[0].ndata["feat"])
    assert os.listdir(data_dir / "tu") == ["MUTAG"]


def test_mirror_errors(tmp_path):
    with pytest.raises(DatasetError, match="has no TU dataset NCI1"):
        load_dataset("NCI1", str(tmp_path), mirror=str(tmp_path))
    with pytest.raises(DatasetError, match="mirror directory .*nowhere does not exist"):
        load_dataset("NCI1", str(tmp_path), mirror=str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=r"^unknown dataset 'ogbg-nothing'; did you mean ogbg-molhiv\? "
                                           r"\(available: synthetic, AIDS"):
        load_dataset("ogbg-nothing", str(tmp_path))


@needs_mirror
def test_cross_validation_on_mutag_from_the_cli(tmp_path, tu_cache):
    import json

    from click.testing import CliRunner

    from dgl_diffpool_cli import cli

    out = str(tmp_path / "cv")
    args = ["train", "--dataset", "MUTAG", "--data-dir", tu_cache, "--protocol", "cv", "--folds", "3",
            "--epochs", "2", "--hidden", "8", "--no-progress", "--out", out]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["folds"] == 3 and len(summary["per_fold"]) == 3
    folds = json.load(open(os.path.join(out, "folds.json")))["folds"]
    assert sorted(sum(folds, [])) == list(range(188))
