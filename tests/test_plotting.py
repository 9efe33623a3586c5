"""Pictures (training curves, assignments), TensorBoard logs."""
import json
import math
import os

import dgl
import matplotlib.image
import pytest
import torch
from click.testing import CliRunner

from dgl_diffpool.data import load_dataset
from dgl_diffpool.errors import DiffPoolError
from dgl_diffpool.models import build_model
from dgl_diffpool.plotting import draw_assignments, plot_run
from dgl_diffpool.training import RunConfig, cross_validate, train
from dgl_diffpool_cli.main import cli

from conftest import dense_adjacency


def _config(data_dir, **kw):
    return RunConfig(**{**dict(data_dir=data_dir, epochs=3, hidden=8, mlp_hidden=8, batch_size=128), **kw})


def _check_png(path, min_bytes=20_000):
    assert os.path.getsize(path) > min_bytes
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_curves_of_a_run_and_of_a_cross_validation(tmp_path, data_dir):
    one = str(tmp_path / "one")
    train(_config(data_dir), one)
    _check_png(plot_run(one))
    cv = str(tmp_path / "cv")
    cross_validate(_config(data_dir, protocol="cv", folds=2, epochs=2), cv)
    path = plot_run(cv, str(tmp_path / "cv.png"))
    _check_png(path)
    with pytest.raises(DiffPoolError, match="holds no metrics.jsonl"):
        plot_run(str(tmp_path))


def test_assignment_picture_colours_nodes_by_argmax_of_s(tmp_path, data_dir):
    data = load_dataset("synthetic", data_dir)
    torch.manual_seed(0)
    model = build_model("diffpool", **data.model_shape(), hidden_feats=8, pool_levels=2,
                        adaptive_clusters=False).eval()
    out = str(tmp_path / "sheet.png")
    colours = draw_assignments(model, data, [3, 17], out)
    _check_png(out)
    for i in (3, 17):
        g = data.graphs[i]
        pool = model.first_pool
        with torch.no_grad():
            s = torch.softmax(pool.assign_out(pool.assign(g, g.ndata["feat"].float())), dim=-1)
        assert colours[i] == s.argmax(-1).tolist()
    with pytest.raises(DiffPoolError, match="graph 5000 is not in synthetic"):
        draw_assignments(model, data, [5000], out)
    with pytest.raises(DiffPoolError, match="--level must be in 1..2"):
        draw_assignments(model, data, [0], out, max_level=3)
    flat = build_model("sage-mean", **data.model_shape())
    with pytest.raises(DiffPoolError, match="only DiffPool models"):
        draw_assignments(flat, data, [0], out)


def test_coarsen_reports_the_assignments_and_their_pooled_graphs(data_dir):
    data = load_dataset("synthetic", data_dir)
    torch.manual_seed(0)
    model = build_model("diffpool", **data.model_shape(), hidden_feats=8, pool_levels=2,
                        adaptive_clusters=True).eval()
    graphs = data.graphs[:4]
    bg = dgl.batch(graphs)
    first, second = model.coarsen(bg, bg.ndata["feat"].float())
    # Level 1, graph by graph: S = softmax over the graph's ceil(n / 4) clusters of the assignment
    # GNN's logits, and A' = S^T A S.
    pool, sizes = model.first_pool, bg.batch_num_nodes().tolist()
    for b, (g, s) in enumerate(zip(graphs, first.assign.split(sizes))):
        k = min(math.ceil(g.num_nodes() / 4), model.num_clusters[0])
        logits = pool.assign_out(pool.assign(g, g.ndata["feat"].float()))[:, :k]
        torch.testing.assert_close(s[:, :k], torch.softmax(logits, dim=-1).detach())
        assert not s[:, k:].any() and first.mask[b].tolist() == [c < k for c in range(first.mask.shape[1])]
        s = s.double()
        torch.testing.assert_close(first.adj[b].double(), s.T @ dense_adjacency(g) @ s, rtol=1e-5, atol=1e-5)
    # Level 2 pools level 1's graphs with its assignment: rows of real clusters sum to 1, the others are 0.
    rows = second.assign.sum(-1)
    torch.testing.assert_close(rows, first.mask.float())
    s2 = second.assign.double()
    torch.testing.assert_close(second.adj.double(), s2.transpose(1, 2) @ first.adj.double() @ s2, rtol=1e-5, atol=1e-5)


def test_cli_train_writes_curves_tensorboard_and_visualize_draws(tmp_path, data_dir):
    out = str(tmp_path / "run")
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "--data-dir", data_dir, "--epochs", "2", "--hidden", "8",
                                 "--batch-size", "128", "--out", out, "--tensorboard", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"training curves: {os.path.join(out, 'curves.png')}" in result.output
    _check_png(os.path.join(out, "curves.png"))

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(os.path.join(out, "tensorboard"))
    events.Reload()
    with open(os.path.join(out, "metrics.jsonl")) as fh:
        rows = [json.loads(line) for line in fh]
    for tag, key in [("loss/train", "train_loss"), ("acc/val", "val_acc"), ("link/train", "train_link")]:
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == [0, 1]
        assert [e.value for e in logged] == pytest.approx([r[key] for r in rows], rel=1e-6)

    result = runner.invoke(cli, ["visualize", out, "--graph", "1", "--graph", "2", "--level", "1"])
    assert result.exit_code == 0, result.output
    _check_png(result.output.strip().splitlines()[-1])
    result = runner.invoke(cli, ["plot", out, "--out", str(tmp_path / "again.png")])
    assert result.exit_code == 0 and os.path.exists(tmp_path / "again.png")
    result = runner.invoke(cli, ["visualize", out, "--dataset", "ENZYMES"])
    assert result.exit_code == 1 and "was trained on synthetic, not ENZYMES" in result.output
