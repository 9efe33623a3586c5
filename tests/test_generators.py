"""The benchmark data generators (benchmarks/make_large_tu.py, make_large_ogb.py) at small sizes: their output
is read back by the project's TU reader and by the real ``ogb`` library."""
import gzip
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)

import make_large_ogb  # noqa: E402
import make_large_tu  # noqa: E402
from dgl_diffpool.data.tu import read_tu  # noqa: E402
from test_run_folders import _files  # noqa: E402

TU_ARGS = ["--graphs", "30", "--avg-nodes", "20", "--min-nodes", "8", "--max-nodes", "60", "--avg-degree", "4",
           "--classes", "3", "--node-labels", "4", "--node-attributes", "2", "--seed", "7"]


def make_tu(out, *extra):
    assert make_large_tu.main(["--out", str(out), *TU_ARGS, *extra]) == 0


def make_ogb(out, *extra):
    assert make_large_ogb.main(["--out", str(out), "--graphs", "50", "--seed", "3", *extra]) == 0
    return os.path.join(str(out), "ogbg_molpcba")


def tree_bytes(path):
    """{relative path: bytes} of every file under ``path`` (or of the file ``path``)."""
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            return {"": fh.read()}
    return _files(path)


@pytest.mark.parametrize("fmt", ["zip", "folder"])
def test_tu_output_reads_back(tmp_path, fmt, capsys):
    make_tu(tmp_path, "--format", fmt)
    assert "30 graphs, 600 nodes, 2400 edge rows" in capsys.readouterr().out
    path = tmp_path / ("LARGE.zip" if fmt == "zip" else "LARGE")
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary left behind
    contents = read_tu("LARGE", str(path))
    assert len(contents.graphs) == 30 and contents.info["classes"] == [1, 2, 3]
    assert contents.labels.bincount().tolist() == make_large_tu.split_evenly(30, [1, 1 / 2, 1 / 3]).tolist()
    assert contents.info["duplicate_edges_dropped"] == 0
    assert contents.attributes.shape == (600, 2) and set(contents.node_labels.tolist()) <= {0, 1, 2, 3}
    for g in contents.graphs:
        assert 8 <= g.num_nodes() <= 60
        src, dst = (t.tolist() for t in g.edges())
        pairs = set(zip(src, dst))
        assert len(pairs) == len(src) and all(u != v for u, v in pairs)
        assert pairs == {(v, u) for u, v in pairs}


def test_tu_edge_rows_are_sorted_and_one_based(tmp_path):
    make_tu(tmp_path, "--format", "folder")
    rows = np.loadtxt(tmp_path / "LARGE" / "LARGE_A.txt", delimiter=",", dtype=np.int64)
    with open(tmp_path / "LARGE" / "LARGE_A.txt") as fh:
        assert fh.readline().count(", ") == 1
    indicator = np.loadtxt(tmp_path / "LARGE" / "LARGE_graph_indicator.txt", dtype=np.int64)
    assert rows.min() >= 1 and rows.max() <= len(indicator) and indicator[0] == 1
    assert (np.diff(indicator) >= 0).all()
    assert (np.diff(rows[:, 0] * (len(indicator) + 1) + rows[:, 1]) > 0).all()


def test_tu_same_seed_same_bytes(tmp_path):
    make_tu(tmp_path / "a")
    make_tu(tmp_path / "b")
    make_tu(tmp_path / "c", "--seed", "8", "--force")
    a, b, c = (tree_bytes(tmp_path / d / "LARGE.zip") for d in "abc")
    assert a == b and a != c


def test_tu_refuses_an_existing_output(tmp_path):
    cmd = [sys.executable, os.path.join(BENCHMARKS, "make_large_tu.py"), "--out", str(tmp_path), *TU_ARGS]
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    before = tree_bytes(tmp_path / "LARGE.zip")
    refused = subprocess.run(cmd + ["--seed", "9"], capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "exists" in refused.stderr and "--force" in refused.stderr
    assert tree_bytes(tmp_path / "LARGE.zip") == before
    assert subprocess.run(cmd + ["--seed", "9", "--force"], capture_output=True).returncode == 0
    assert tree_bytes(tmp_path / "LARGE.zip") != before and os.listdir(tmp_path) == ["LARGE.zip"]


def test_tu_collab_preset_plan():
    args = make_large_tu.parse_args(["--preset", "collab", "--out", "unused"])
    plan = make_large_tu.make_plan(args.graphs, args.avg_nodes, args.min_nodes, args.max_nodes, args.avg_degree,
                                   make_large_tu.class_sizes(args), args.node_labels, args.node_attributes, 0)
    assert len(plan.nodes) == 5000 and plan.nodes.sum() == 372_450
    assert plan.nodes.min() >= 32 and plan.nodes.max() <= 492 and np.median(plan.nodes) < 74.49
    assert np.bincount(plan.classes).tolist() == [2600, 775, 1625]
    assert 2 * plan.edges.sum() == 24_577_800 and (plan.edges <= plan.nodes * (plan.nodes - 1) // 2).all()
    assert (args.node_labels, args.node_attributes) == (0, 0)


@pytest.mark.parametrize("n, m", [(50, 0), (50, 300), (50, 1225), (3000, 6000)])  # 3000 nodes: the sparse path
def test_graph_edges_are_simple_symmetric_and_sorted(n, m):
    u, v = make_large_tu.graph_edges(np.random.default_rng(0), n, m)
    assert len(u) == 2 * m and (u != v).all() and u.min(initial=0) >= 0 and v.max(initial=0) < n
    codes = u * n + v
    assert (np.diff(codes) > 0).all()  # sorted by u then v, hence no duplicates
    assert np.array_equal(np.sort(v * n + u), codes)


def test_format_int_rows_matches_printf():
    values = np.array([[0, 9], [10, 999], [1000, 1234567], [5, 100000]])
    assert make_large_tu.format_int_rows(values) == b"".join(b"%d, %d\n" % tuple(r) for r in values.tolist())
    assert make_large_tu.format_int_rows(values[:, 1], b",") == b"9\n999\n1234567\n100000\n"


def test_ogb_feature_vocabularies_match_ogb():
    from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims

    assert list(make_large_ogb.ATOM_FEATURE_DIMS) == get_atom_feature_dims()
    assert list(make_large_ogb.BOND_FEATURE_DIMS) == get_bond_feature_dims()


def test_ogb_output_reads_with_ogb(tmp_path, monkeypatch):
    from ogb.graphproppred import DglGraphPropPredDataset

    folder = make_ogb(tmp_path)
    with gzip.open(os.path.join(folder, "raw", "num-edge-list.csv.gz")) as fh:
        bonds = np.loadtxt(fh, dtype=np.int64)
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # a question from ogb fails instead of waiting
    data = DglGraphPropPredDataset(name="ogbg-molpcba", root=str(tmp_path))
    assert len(data) == 50 and data.labels.shape == (50, 128)
    nan = torch.isnan(data.labels)
    assert 0.5 < nan.float().mean() < 0.95 and set(data.labels[~nan].tolist()) <= {0.0, 1.0}
    atom_dims = torch.tensor(make_large_ogb.ATOM_FEATURE_DIMS)
    for g, count in zip(data.graphs, bonds.tolist()):
        feat = g.ndata["feat"]
        assert feat.shape == (g.num_nodes(), 9) and (feat >= 0).all() and (feat < atom_dims).all()
        assert g.num_edges() == 2 * count and g.edata["feat"].shape == (2 * count, 3)
        src, dst = g.edges()
        assert torch.equal(src[0::2], dst[1::2]) and torch.equal(dst[0::2], src[1::2])  # ogb's inverse edges
        assert (src != dst).all() and len(set(zip(src[0::2].tolist(), dst[0::2].tolist()))) == count
    split = data.get_idx_split()
    sizes = {k: len(v) for k, v in split.items()}
    assert sum(sizes.values()) == 50 and sizes["train"] >= 35
    assert sorted(torch.cat(list(split.values())).tolist()) == list(range(50))


def test_ogb_same_seed_same_bytes_and_no_overwrite(tmp_path, capsys):
    a = tree_bytes(make_ogb(tmp_path / "a"))
    assert a == tree_bytes(make_ogb(tmp_path / "b"))
    assert set(a) >= {"RELEASE_v1.txt", "raw/edge.csv.gz", "split/scaffold/test.csv.gz", "mapping/mol.csv.gz"}
    os.makedirs(tmp_path / "a" / "ogbg_molpcba" / "processed")  # what ogb leaves after reading it
    assert make_large_ogb.main(["--out", str(tmp_path / "a"), "--graphs", "50", "--seed", "4"]) == 2
    assert "exists" in capsys.readouterr().err
    make_ogb(tmp_path / "a", "--force")
    assert tree_bytes(str(tmp_path / "a" / "ogbg_molpcba")) == a  # replaced whole, processed/ gone
    assert os.listdir(tmp_path / "a") == ["ogbg_molpcba"]


@pytest.mark.parametrize("fmt", ["zip", "folder"])
def test_tu_failed_run_leaves_nothing(tmp_path, monkeypatch, fmt):
    def broken(plan):
        yield b"1, 2\n"
        raise KeyboardInterrupt

    monkeypatch.setattr(make_large_tu, "edge_chunks", broken)
    with pytest.raises(KeyboardInterrupt):
        make_tu(tmp_path, "--format", fmt)
    assert os.listdir(tmp_path) == []
