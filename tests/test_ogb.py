"""OGB datasets: a tiny hand-made ogbg-molhiv folder (mirror, download, no stdin), the
binary-task loss and ROC-AUC, atom / bond encoders, the official-split protocol, and the
real mirrored ogbg-molhiv."""
import gzip
import json
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from dgl_diffpool.data import load_dataset
from dgl_diffpool.data import ogb as ogb_data
from dgl_diffpool.data.task import Task
from dgl_diffpool.errors import ConfigError, DatasetError
from dgl_diffpool.models import EncodedClassifier, build_model
from dgl_diffpool.training import RunConfig, train
from dgl_diffpool.training.metrics import score, task_loss
from dgl_diffpool_cli import cli

MIRROR = os.environ.get("DGL_DIFFPOOL_MIRROR")
needs_mirror = pytest.mark.skipif(not MIRROR, reason="DGL_DIFFPOOL_MIRROR (the offline dataset mirror) is not set")

# Ten molecules: graph i is a path of 2 + i % 3 atoms; label 1 for odd i (molhiv's layout).
NUM_GRAPHS = 10
SPLIT = {"train": [0, 1, 2, 3, 4, 5], "valid": [6, 7], "test": [8, 9]}


def _write_gz(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.writelines(",".join(str(v) for v in row) + "\n" for row in rows)


def _tiny_molhiv(root, release=True):
    folder = os.path.join(root, "ogb", "ogbg_molhiv")
    sizes = [2 + i % 3 for i in range(NUM_GRAPHS)]
    edges = [(j, j + 1) for n in sizes for j in range(n - 1)]  # local ids, ogb's convention
    _write_gz(os.path.join(folder, "raw", "num-node-list.csv.gz"), [[n] for n in sizes])
    _write_gz(os.path.join(folder, "raw", "num-edge-list.csv.gz"), [[n - 1] for n in sizes])
    _write_gz(os.path.join(folder, "raw", "edge.csv.gz"), edges)
    _write_gz(os.path.join(folder, "raw", "node-feat.csv.gz"),
              [[5 + (k % 2), 0, 4, 5, 3, 0, 2, 0, 0] for k in range(sum(sizes))])
    _write_gz(os.path.join(folder, "raw", "edge-feat.csv.gz"), [[k % 2, 0, 0] for k in range(len(edges))])
    _write_gz(os.path.join(folder, "raw", "graph-label.csv.gz"), [[i % 2] for i in range(NUM_GRAPHS)])
    for name, idx in SPLIT.items():
        _write_gz(os.path.join(folder, "split", "scaffold", f"{name}.csv.gz"), [[i] for i in idx])
    if release:
        with open(os.path.join(folder, "RELEASE_v1.txt"), "w") as fh:
            fh.write("v1\n")
    return folder


def _dir(path):
    os.makedirs(path, exist_ok=True)
    return str(path)


@pytest.fixture
def tiny_mirror(tmp_path):
    mirror = str(tmp_path / "mirror")
    _tiny_molhiv(mirror)
    return mirror


def test_tiny_molhiv_from_a_mirror_without_network(tmp_path, tiny_mirror, monkeypatch):
    monkeypatch.setattr(ogb_data, "download_ogb_folder", lambda *a: pytest.fail("downloaded despite a mirror"))
    data = load_dataset("ogbg-molhiv", _dir(tmp_path / "data"), mirror=tiny_mirror)
    assert len(data) == NUM_GRAPHS and data.task == Task("binary", 1, "rocauc", "ogbg-molhiv")
    assert data.labels.shape == (NUM_GRAPHS, 1) and data.labels[:, 0].tolist() == [i % 2 for i in range(10)]
    assert {k: v.tolist() for k, v in data.split.items()} == SPLIT
    g = data.graphs[2]  # 4 atoms in a path, both directions stored by ogb
    assert g.num_nodes() == 4 and g.num_edges() == 6
    assert g.ndata["feat"].dtype == torch.int64 and g.ndata["feat"].shape == (4, 9)
    assert g.edata["feat"].shape == (6, 3)
    assert (data.node_encoder, data.edge_encoder) == ("atom", "bond")
    # Prepared once: processed in the data directory, the mirror left untouched.
    assert os.path.isdir(tmp_path / "data" / "ogb" / "ogbg_molhiv" / "processed")
    assert not os.path.exists(os.path.join(tiny_mirror, "ogb", "ogbg_molhiv", "processed"))


def test_download_when_no_mirror(tmp_path, tiny_mirror, monkeypatch):
    calls = []

    def fake_download(name, dest, meta):
        calls.append(meta["url"])
        import shutil

        shutil.copytree(os.path.join(tiny_mirror, "ogb", "ogbg_molhiv"), dest)

    monkeypatch.setattr(ogb_data, "download_ogb_folder", fake_download)
    data = ogb_data.load_ogb("ogbg-molhiv", _dir(tmp_path / "data"), mirror=None)
    assert calls == ["http://snap.stanford.edu/ogb/data/graphproppred/csv_mol_download/hiv.zip"]
    assert len(data) == NUM_GRAPHS


def test_never_asks_on_stdin_and_bad_folders(tmp_path, monkeypatch):
    root = str(tmp_path / "data")
    folder = _tiny_molhiv(root, release=False)
    # ogb itself would ask on stdin about a folder without its release file: this reader refuses it.
    monkeypatch.setattr("sys.stdin", None)
    with pytest.raises(DatasetError, match="is not an OGB dataset folder: RELEASE_v1.txt is missing"):
        ogb_data.load_ogb("ogbg-molhiv", root)
    mirror = str(tmp_path / "empty-mirror")
    os.makedirs(mirror)
    with pytest.raises(DatasetError, match="has no OGB dataset ogbg-molhiv"):
        ogb_data.load_ogb("ogbg-molhiv", _dir(tmp_path / "other"), mirror=mirror)
    assert os.listdir(tmp_path / "other" / "ogb") == []  # nothing half-copied
    with pytest.raises(DatasetError, match="fixed node features"):
        load_dataset("ogbg-molhiv", root, mirror=mirror, features="degree")
    assert folder


def test_binary_task_loss_skips_missing_targets_and_scores_like_sklearn():
    task = Task("binary", 2, "rocauc", "ogbg-moltox21")
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0], [-1.0, 3.0]])
    labels = torch.tensor([[1.0, float("nan")], [0.0, 1.0], [1.0, 0.0]])
    present = ~torch.isnan(labels)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[present], labels[present])
    torch.testing.assert_close(task_loss(task, logits, labels), expected)
    nothing = torch.full((2, 2), float("nan"))
    assert task_loss(task, logits[:2], nothing).item() == 0.0
    hiv = Task("binary", 1, "rocauc", "ogbg-molhiv")
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.1, 0.7, 0.3, 0.4, 0.9])
    value = score(hiv, torch.tensor(p).reshape(-1, 1), torch.tensor(y, dtype=torch.float32).reshape(-1, 1))
    assert value == pytest.approx(roc_auc_score(y, p))
    with pytest.raises(DatasetError, match="cannot compute ROC-AUC on 2 graphs"):
        score(hiv, torch.zeros(2, 1), torch.zeros(2, 1))


def test_atom_and_bond_encoders_feed_the_classifier(tmp_path, tiny_mirror):
    data = load_dataset("ogbg-molhiv", _dir(tmp_path / "data"), mirror=tiny_mirror)
    import dgl

    graph = dgl.batch(data.graphs[:4])
    for conv in ("sage", "gine"):
        model = build_model("diffpool", **data.model_shape(), conv=conv, hidden_feats=8, mlp_hidden=8)
        assert isinstance(model, EncodedClassifier) and (model.bond_encoder is not None) == (conv == "gine")
        out = model(graph, graph.ndata["feat"], edge_feat=graph.edata["feat"])
        assert out.logits.shape == (4, 1)
        out.logits.sum().backward()
        assert model.atom_encoder.atom_embedding_list[0].weight.grad.abs().sum() > 0
        if conv == "gine":
            # Bond embeddings reach the messages: the gradient flows back to them.
            assert model.bond_encoder.bond_embedding_list[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="conv 'gine' needs edge features"):
        build_model("diffpool", 5, 2, 10, conv="gine")


def test_official_split_protocol_and_evaluate(tmp_path, tiny_mirror):
    data_dir = _dir(tmp_path / "data")
    base = dict(dataset="ogbg-molhiv", data_dir=data_dir, mirror=tiny_mirror, epochs=3, hidden=8, mlp_hidden=8,
                batch_size=4)
    result = train(RunConfig(**base), str(tmp_path / "run"))
    assert result.metric == "rocauc" and 0.0 <= result.test_score <= 1.0
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert best["splits"] == SPLIT  # the official split, not a random one
    rows = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert "val_rocauc" in rows[0] and "val_acc" not in rows[0]
    with pytest.raises(ConfigError, match="only its official split"):
        train(RunConfig(**base, protocol="holdout"), str(tmp_path / "holdout"))

    runner = CliRunner()
    out = str(tmp_path / "seeds")
    args = ["train", "--dataset", "ogbg-molhiv", "--data-dir", data_dir, "--mirror", tiny_mirror, "--epochs", "2",
            "--hidden", "8", "--mlp-hidden", "8", "--batch-size", "4", "--seeds", "2", "--conv", "gine",
            "--no-progress", "--out", out]
    res = runner.invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["metric"] == "rocauc" and [r["seed"] for r in summary["per_seed"]] == [0, 1]
    assert f"test ROC-AUC {100 * summary['test_score_mean']:.2f} +- {100 * summary['test_score_std']:.2f}" in res.output
    seed1 = summary["per_seed"][1]
    res = runner.invoke(cli, ["evaluate", os.path.join(out, "seed-1"), "--dataset", "ogbg-molhiv"])
    assert res.exit_code == 0, res.output
    assert f"ROC-AUC {seed1['test_score']:.4f}" in res.output and "[test, 2 graphs]" in res.output
    res = runner.invoke(cli, ["evaluate", os.path.join(out, "seed-1"), "--dataset", "ENZYMES"])
    assert res.exit_code != 0 and "was trained on ogbg-molhiv, not ENZYMES" in res.output
    res = runner.invoke(cli, ["evaluate", out])  # every seed, then their mean, as the run reported them
    assert res.exit_code == 0, res.output
    for row in summary["per_seed"]:
        assert f"seed {row['seed']} [test, 2 graphs]: ROC-AUC {row['test_score']:.4f}" in res.output
    assert (f"mean over 2 seeds: ROC-AUC {100 * summary['test_score_mean']:.2f} +- "
            f"{100 * summary['test_score_std']:.2f}") in res.output
    # Resuming a finished multi-seed run reruns nothing and reports the same numbers.
    res = runner.invoke(cli, ["train", "--out", out, "--resume", "--no-progress"], catch_exceptions=False)
    assert res.exit_code == 0 and json.load(open(os.path.join(out, "summary.json"))) == summary


@needs_mirror
@pytest.mark.slow
def test_mirrored_molhiv_matches_official_statistics(tmp_path):
    data = load_dataset("ogbg-molhiv", str(tmp_path), mirror=MIRROR)
    assert len(data) == 41127 and data.task.metric == "rocauc"
    assert torch.bincount(data.labels[:, 0].long()).tolist() == [39684, 1443]
    assert [len(data.split[k]) for k in ("train", "valid", "test")] == [32901, 4113, 4113]
    assert np.mean([g.num_nodes() for g in data.graphs]) == pytest.approx(25.51, abs=0.005)
    assert data.num_features == 9 and data.graphs[0].edata["feat"].shape[1] == 3


def test_graphs_equal_those_of_ogbs_own_dataset(tmp_path, tiny_mirror, monkeypatch):
    # The lean reader against the real ogb.graphproppred.DglGraphPropPredDataset on the same folder.
    from ogb.graphproppred import DglGraphPropPredDataset

    ours = load_dataset("ogbg-molhiv", _dir(tmp_path / "data"), mirror=tiny_mirror)
    monkeypatch.setattr("sys.stdin", None)
    theirs = DglGraphPropPredDataset("ogbg-molhiv", root=os.path.join(tiny_mirror, "ogb"))
    assert len(ours) == len(theirs)
    for i in range(len(theirs)):
        g, h = ours[i][0], theirs[i][0]
        assert all(torch.equal(a, b) for a, b in zip(g.edges(), h.edges()))
        for mine, other in ((g.ndata, h.ndata), (g.edata, h.edata)):
            assert mine.keys() == other.keys() and all(torch.equal(mine[k], other[k]) for k in mine)
    assert torch.equal(ours.labels, theirs.labels.float())
    assert {k: v.tolist() for k, v in ours.split.items()} == {k: v.tolist() for k, v in theirs.get_idx_split().items()}


def test_molpcba_sized_folder_read_in_small_pieces_equals_ogb(tmp_path, monkeypatch):
    # 128 tasks with missing labels, bonds written once (ogb adds the inverses), CSV files read a few
    # values at a time: the graphs, labels and split still equal those of ogb's own dataset.
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
    import make_large_ogb
    from ogb.graphproppred import DglGraphPropPredDataset

    mirror = tmp_path / "mirror"
    assert make_large_ogb.main(["--out", str(mirror / "ogb"), "--graphs", "40", "--seed", "5"]) == 0
    monkeypatch.setattr(ogb_data, "CSV_VALUES", 7)
    ours = load_dataset("ogbg-molpcba", _dir(tmp_path / "data"), mirror=str(mirror))
    monkeypatch.setattr("sys.stdin", None)
    theirs = DglGraphPropPredDataset("ogbg-molpcba", root=str(mirror / "ogb"))
    assert len(ours) == len(theirs) == 40 and ours.labels.shape == (40, 128) and ours.labels.isnan().any()
    assert torch.equal(ours.labels.isnan(), theirs.labels.isnan())
    assert torch.equal(ours.labels.nan_to_num(-1), theirs.labels.float().nan_to_num(-1))
    for i in range(len(theirs)):
        g, h = ours[i][0], theirs[i][0]
        assert all(torch.equal(a, b) for a, b in zip(g.edges(), h.edges()))
        assert torch.equal(g.ndata["feat"], h.ndata["feat"]) and torch.equal(g.edata["feat"], h.edata["feat"])
    assert {k: v.tolist() for k, v in ours.split.items()} == {k: v.tolist() for k, v in theirs.get_idx_split().items()}
    again = load_dataset("ogbg-molpcba", str(tmp_path / "data"))  # reopened from the store, no mirror needed
    assert again.checked and torch.equal(again.labels.nan_to_num(-1), ours.labels.nan_to_num(-1))


def test_a_damaged_csv_is_one_line(tmp_path, tiny_mirror):
    path = os.path.join(tiny_mirror, "ogb", "ogbg_molhiv", "raw", "edge.csv.gz")
    with open(path, "rb") as fh:
        raw = bytearray(fh.read())
    raw[len(raw) // 2] ^= 0xFF
    with open(path, "wb") as fh:
        fh.write(bytes(raw))
    with pytest.raises(DatasetError, match=r"^cannot read .*edge\.csv\.gz \(.*\)$"):
        load_dataset("ogbg-molhiv", _dir(tmp_path / "data"), mirror=tiny_mirror)
