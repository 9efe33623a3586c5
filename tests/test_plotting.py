"""Pictures (training curves, assignments), TensorBoard logs."""
import json
import math
import os
import re
from collections import Counter

import dgl
import matplotlib.image
import pytest
import torch
from click.testing import CliRunner
from matplotlib.figure import Figure

from dgl_diffpool.data import load_dataset
from dgl_diffpool.errors import ConfigError, DiffPoolError
from dgl_diffpool.models import build_model
from dgl_diffpool.plotting import draw_assignments, plot_run
from dgl_diffpool.training import RunConfig, cross_validate, train
from dgl_diffpool_cli.main import cli

from conftest import dense_adjacency

MIRROR = os.environ.get("DGL_DIFFPOOL_MIRROR")


def _config(data_dir, **kw):
    return RunConfig(**{**dict(data_dir=data_dir, epochs=3, hidden=8, mlp_hidden=8, batch_size=128), **kw})


def _check_png(path, min_bytes=20_000):
    assert os.path.getsize(path) > min_bytes
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # not a blank canvas


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plotting functions save, kept for inspection (they are written as usual)."""
    figures = []
    save = Figure.savefig

    def keeping(fig, *args, **kwargs):
        figures.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keeping)
    return figures


def _panels(fig, columns):
    """The figure's panels (colour bars left out) as rows of ``columns`` axes."""
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) % columns == 0
    return [axes[r:r + columns] for r in range(0, len(axes), columns)]


def _match(pattern, text):
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return [int(g) for g in found.groups()]


def _visible_tick_labels(axis, lo, hi):
    return [t.get_text().replace("\u2212", "-") for t, v in zip(axis.get_ticklabels(), axis.get_ticklocs())
            if lo - 1e-9 <= v <= hi + 1e-9]


def _two_level_s(model, g):
    """S of both levels of one graph, computed here from the layers' parts (fixed cluster counts)."""
    feat = g.ndata["feat"].float()
    pool, dense = model.first_pool, model.dense_pools[0]
    with torch.no_grad():
        s1 = torch.softmax(pool.assign_out(pool.assign(g, feat)), dim=-1)
        x1 = (s1.T @ pool.embed(g, feat))[None]
        a1 = (s1.T.double() @ dense_adjacency(g) @ s1.double()).float()[None]
        mask = torch.ones(1, s1.shape[1], dtype=torch.bool)
        s2 = torch.softmax(dense.assign_out(dense.assign(x1, a1, mask)), dim=-1)[0]
    return s1, s2


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


@pytest.mark.parametrize("name, graph_ids, seed, sharpen", [
    ("synthetic", [3, 17], 2, True),
    pytest.param("MUTAG", [0], 0, False,  # the case: soft masses said 7 clusters hold nodes, argmax 3
                 marks=pytest.mark.skipif(not MIRROR, reason="DGL_DIFFPOOL_MIRROR is not set")),
])
def test_assignment_panels_agree_on_used_clusters_and_node_counts(tmp_path, data_dir, drawn, name, graph_ids,
                                                                  seed, sharpen):
    data = load_dataset(name, data_dir if name == "synthetic" else str(tmp_path / "data"))
    torch.manual_seed(seed)
    model = build_model("diffpool", **data.model_shape(), hidden_feats=8, pool_levels=2,
                        adaptive_clusters=False).eval()
    if sharpen:  # larger logits: level 2 then sends the nodes of some graph to more than one cluster
        with torch.no_grad():
            model.first_pool.assign_out.weight.mul_(5)
            model.dense_pools[0].assign_out.weight.mul_(30)
    colours = draw_assignments(model, data, graph_ids, str(tmp_path / "sheet.png"))
    (fig,) = drawn
    assert "used cluster = argmax of S for at least one node" in fig._suptitle.get_text()
    level2_spread = soft_disagrees = False
    for row, i in zip(_panels(fig, 5), graph_ids):
        g = data.graphs[i]
        n = g.num_nodes()
        s1, s2 = _two_level_s(model, g)
        c1 = s1.argmax(-1).tolist()
        c2 = [int(s2[c].argmax()) for c in c1]
        used1, used2 = sorted(set(c1)), sorted(set(c2))
        assert colours[i] == c1
        level2_spread |= len(used2) > 1
        soft_disagrees |= any(float(s1[:, k].sum()) >= 0.5 for k in range(s1.shape[1]) if k not in used1)

        # Input graph: its node count, clusters used at level 1, and as many colours.
        assert _match(r"(\d+) nodes,\n(\d+) of (\d+) clusters used at level 1", row[0].get_title()) == \
            [n, len(used1), s1.shape[1]]
        assert len({tuple(c) for c in row[0].collections[0].get_facecolors()}) == len(used1)
        for level, (s, clusters, used, rows) in enumerate(
                [(s1, c1, used1, list(range(n))), (s2, c2, used2, used1)], start=1):
            graph_ax, heat_ax = row[2 * level - 1], row[2 * level]
            # Coarsened graph: one node per used cluster, labelled with its hard count; they sum to n.
            assert _match(r"level (\d+): (\d+) of (\d+) clusters used,\nholding (\d+) nodes",
                          graph_ax.get_title()) == [level, len(used), s.shape[1], n]
            labels = sorted(int(t.get_text()) for t in graph_ax.texts)
            assert labels == sorted(Counter(clusters).values()) and sum(labels) == n
            # Heat map: S of the level (rows: nodes, or the used clusters of the level before), the same count.
            assert _match(r"S at level (\d+) .*:\n(\d+) of (\d+) clusters used", heat_ax.get_title()) == \
                [level, len(used), s.shape[1]]
            torch.testing.assert_close(torch.as_tensor(heat_ax.images[0].get_array()).double(), s[rows].double(),
                                       rtol=1e-4, atol=1e-5)
            dots = heat_ax.collections[0].get_offsets()
            assert sorted({int(x) for x, _ in dots}) == used
            # Whole rows and columns only; rows are named by the node or cluster they are.
            bottom, top = sorted(heat_ax.get_ylim())
            ylabels = _visible_tick_labels(heat_ax.yaxis, bottom, top)
            assert ylabels and all(label in {str(r) for r in rows} for label in ylabels), ylabels
            xlabels = _visible_tick_labels(heat_ax.xaxis, *heat_ax.get_xlim())
            assert xlabels and all(re.fullmatch(r"\d+", label) for label in xlabels), xlabels
    assert soft_disagrees, "the case should have a cluster with half a node of soft mass that no argmax picks"
    if name == "synthetic":
        assert level2_spread, "the case should use more than one cluster at level 2"


def test_assignment_picture_stops_at_the_level_asked_for(tmp_path, data_dir, drawn):
    data = load_dataset("synthetic", data_dir)
    torch.manual_seed(0)
    model = build_model("diffpool", **data.model_shape(), hidden_feats=8, pool_levels=2).eval()
    draw_assignments(model, data, [1], str(tmp_path / "one.png"), max_level=1)
    (row,) = _panels(drawn[-1], 3)
    assert [ax.get_title().split(":")[0] for ax in row[1:]] == ["level 1", "S at level 1 (nodes x clusters)"]
    draw_assignments(model, data, [1], str(tmp_path / "all.png"))
    (row,) = _panels(drawn[-1], 5)
    assert row[3].get_title().startswith("level 2:") and row[4].get_title().startswith("S at level 2")


def test_pictures_are_written_in_the_format_of_the_extension(tmp_path, data_dir):
    data = load_dataset("synthetic", data_dir)
    torch.manual_seed(0)
    model = build_model("diffpool", **data.model_shape(), hidden_feats=8, pool_levels=1).eval()
    run = str(tmp_path / "run")
    train(_config(data_dir, epochs=1), run)
    pictures = tmp_path / "pictures"
    # (write a picture, a call that fails if its format is checked only after its other inputs)
    writers = [(lambda out: draw_assignments(model, data, [0], out),
                lambda out: draw_assignments(model, data, [5000], out)),
               (lambda out: plot_run(run, out), lambda out: plot_run(str(tmp_path / "nothing"), out))]
    for write, refused in writers:
        for name in ("a.pdf", "b.svg", "C.PDF"):
            write(str(pictures / name))
        assert (pictures / "a.pdf").read_bytes().startswith(b"%PDF")
        assert (pictures / "C.PDF").read_bytes().startswith(b"%PDF")
        assert "<svg" in (pictures / "b.svg").read_text()
        for name, what in (("d.bmp", r"\.bmp is not a picture format"), ("d", "no extension")):
            with pytest.raises(ConfigError, match=what + r"[^;]*; use one of .*\.pdf, .*\.png, .*\.svg") as err:
                refused(str(pictures / name))
            assert "\n" not in str(err.value)
        assert sorted(os.listdir(pictures)) == ["C.PDF", "a.pdf", "b.svg"]  # no temporary files left, no d.*
        for name in os.listdir(pictures):
            os.remove(pictures / name)


def test_curves_of_a_one_epoch_run_show_points_on_integer_epochs(tmp_path, data_dir, drawn):
    run = str(tmp_path / "run")
    train(_config(data_dir, epochs=1), run)
    plot_run(run)
    (fig,) = drawn
    panels = _panels(fig, 4)[0]
    assert [ax.get_title() for ax in panels][:2] == ["loss (task + auxiliary)", "accuracy"]
    for ax in panels:
        assert len(ax.lines) == 2
        for line in ax.lines:
            assert list(line.get_xdata()) == [1] and line.get_marker() == "o" and line.get_markersize() >= 3
        lo, hi = ax.get_xlim()
        assert lo <= 0.5 and 1.5 <= hi <= 2.0
        assert _visible_tick_labels(ax.xaxis, lo, hi) == ["1"]
        bottom, top = ax.get_ylim()
        values = [float(line.get_ydata()[0]) for line in ax.lines]
        assert bottom < min(values) <= max(values) < top


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
    result = runner.invoke(cli, ["plot", out, "--out", str(tmp_path / "again.pdf")])
    assert result.exit_code == 0 and (tmp_path / "again.pdf").read_bytes().startswith(b"%PDF")
    result = runner.invoke(cli, ["visualize", out, "--out", str(tmp_path / "sheet.svg")])
    assert result.exit_code == 0 and "<svg" in (tmp_path / "sheet.svg").read_text()
    result = runner.invoke(cli, ["plot", out, "--out", str(tmp_path / "again.bmp")])
    assert result.exit_code == 1 and ".bmp is not a picture format; use one of" in result.output
    assert not os.path.exists(tmp_path / "again.bmp")
    result = runner.invoke(cli, ["visualize", out, "--dataset", "ENZYMES"])
    assert result.exit_code == 1 and "was trained on synthetic, not ENZYMES" in result.output
