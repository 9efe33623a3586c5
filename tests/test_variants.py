"""The paper's variants and baselines, the kernel path, and `bench` (including its resume)."""
import dataclasses
import json
import os

import dgl
import numpy as np
import pytest
import torch

from dgl_diffpool.data import GraphClassificationData
from dgl_diffpool.data.clustering import CLUSTER_KEY, cluster_hierarchy, cluster_to_target, graclus_matching
from dgl_diffpool.data.patchy import FIELD_KEY, RANK_KEY, receptive_fields
from dgl_diffpool.data.splits import stratified_kfold
from dgl_diffpool.errors import ConfigError
from dgl_diffpool.models import MODELS, DiffPoolDet, build_model
from dgl_diffpool.nn.cluster_pool import cluster_pool, dense_cluster_pool
from dgl_diffpool.training import RunConfig
from dgl_diffpool.training import bench as bench_module
from dgl_diffpool.training.bench import epoch_times, format_table, run_bench
from dgl_diffpool.training.kernel_svm import kernel_cross_validate, kernel_matrix

from conftest import dense_adjacency, random_graph

import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def _path(n):
    src = list(range(n - 1)) + list(range(1, n))
    dst = list(range(1, n)) + list(range(n - 1))
    return dgl.graph((src, dst), num_nodes=n)


def _adj(g):
    src, dst = (t.numpy() for t in g.edges())
    return sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(g.num_nodes(),) * 2)


def test_graclus_matches_heaviest_normalised_neighbours():
    # Path 0-1-2-3: node 0 can only join 1, then 2 joins 3.
    assert graclus_matching(_adj(_path(4))).tolist() == [0, 0, 1, 1]
    # Star centre 0 with leaves 1..3: the centre takes the first leaf, the others stay alone.
    star = dgl.graph(([0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]))
    assert graclus_matching(_adj(star)).tolist() == [0, 0, 1, 2]
    # Normalised cut prefers a neighbour of low degree: 0 (deg 2) joins leaf 2 (deg 1), not hub 1.
    g = dgl.graph(([0, 1, 0, 2, 1, 3, 1, 4], [1, 0, 2, 0, 3, 1, 4, 1]))
    assert graclus_matching(_adj(g)).tolist() == [0, 1, 0, 1, 2]


def test_cluster_hierarchy_is_nested_and_reaches_the_ratio(gen):
    g = random_graph(60, 0.1, gen, symmetric=True)
    h = cluster_hierarchy(g, 0.25, 2)
    assert h.shape == (60, 2)
    k1, k2 = int(h[:, 0].max()) + 1, int(h[:, 1].max()) + 1
    assert sorted(set(h[:, 0].tolist())) == list(range(k1))
    assert connected_components(_adj(g))[0] == 1
    # The graph is connected, so rounds go on until at most ceil(r k) clusters remain, and a
    # round at most halves the count: ceil((target + 1) / 2) <= k_l <= target.
    for k, target in [(k1, 15), (k2, -(-k1 // 4))]:
        assert (target + 2) // 2 <= k <= target, (k, target)
    # Nested: every level-1 cluster lies inside one level-2 cluster.
    for c in range(k1):
        assert len(set(h[h[:, 0] == c, 1].tolist())) == 1
    assert cluster_hierarchy(g, 0.25, 2).equal(h)  # deterministic
    # An edgeless graph cannot be contracted: every node stays its own cluster.
    assert cluster_to_target(sp.csr_matrix((5, 5)), 2).tolist() == [0, 1, 2, 3, 4]


def test_det_pooling_sums_inside_and_between_clusters(gen):
    # Path 0-1-2-3 in clusters {0, 1} and {2, 3}; features are powers of two.
    g = _path(4)
    x = torch.tensor([[1.0], [2.0], [4.0], [8.0]])
    px, padj, mask = cluster_pool(g, x, torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(px, torch.tensor([[[3.0], [12.0]]]))
    torch.testing.assert_close(padj, torch.tensor([[[2.0, 1.0], [1.0, 2.0]]]))
    assert mask.tolist() == [[True, True]]
    # A batch with varied cluster counts equals S^T X and S^T A S per graph.
    graphs = [random_graph(n, 0.3, gen) for n in (7, 3, 10)]
    clusters = [torch.randint(0, k, (g.num_nodes(),), generator=gen) for g, k in zip(graphs, (3, 1, 4))]
    clusters = [torch.unique(c, return_inverse=True)[1] for c in clusters]  # ids 0..k_b-1, all used
    bg = dgl.batch(graphs)
    x = torch.randn(bg.num_nodes(), 5, generator=gen, dtype=torch.float64)
    w = torch.rand(bg.num_edges(), generator=gen, dtype=torch.float64)
    px, padj, mask = cluster_pool(bg, x, torch.cat(clusters), w)
    for b, (g, c, xb, wb) in enumerate(zip(graphs, clusters, torch.split(x, [7, 3, 10]),
                                           torch.split(w, bg.batch_num_edges().tolist()))):
        k = int(c.max()) + 1
        s = torch.nn.functional.one_hot(c, k).double()
        torch.testing.assert_close(px[b, :k], s.T @ xb)
        torch.testing.assert_close(padj[b, :k, :k], s.T @ dense_adjacency(g, wb) @ s)
        assert mask[b].sum() == k and px[b, k:].abs().sum() == 0
    # The dense step with a one-hot assignment does the same on a padded batch.
    assign = torch.zeros(3, px.shape[1], 2, dtype=torch.float64)
    assign[:, :, 0] = 1.0
    dx, dadj, dmask = dense_cluster_pool(px, padj, assign, mask)
    torch.testing.assert_close(dx[:, 0], px.sum(1))
    torch.testing.assert_close(dadj[:, 0, 0], padj.sum((1, 2)))
    assert dmask.tolist() == [[True, False]] * 3


def _tiny_data(gen, with_clusters=True):
    # Class 0: cycles, class 1: paths; the feature is the degree (a path has two ends).
    graphs, labels = [], []
    for i in range(24):
        n = 5 + i % 6
        g = _path(n) if i % 2 else dgl.add_edges(_path(n), [0, n - 1], [n - 1, 0])
        g.ndata["feat"] = g.in_degrees().float().unsqueeze(-1)
        graphs.append(g)
        labels.append(i % 2)
    data = GraphClassificationData("tiny", graphs, torch.tensor(labels))
    if with_clusters:  # node data of every graph: one tensor over all nodes in the dataset's store
        per_graph = [(cluster_hierarchy(g, 0.25, 2), *receptive_fields(g, 4)) for g in data.graphs]
        for key, parts in zip((CLUSTER_KEY, FIELD_KEY, RANK_KEY), zip(*per_graph)):
            data.store.ndata[key] = torch.cat(parts)
    return data


@pytest.mark.parametrize("name", [m for m in MODELS if m != "sum-mlp"])  # sum-mlp: see the next test
def test_every_model_learns_a_tiny_dataset(gen, name):
    data = _tiny_data(gen)
    torch.manual_seed(0)
    model = build_model(name, **data.model_shape(), pool_levels=2, hidden_feats=16, sort_k=6,
                        patchy_width=6, patchy_field=4)
    bg = dgl.batch(data.graphs)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        out = model(bg, bg.ndata["feat"])
        loss = torch.nn.functional.cross_entropy(out.logits, data.labels) + out.aux_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    if name == "diffpool-nolp":
        assert not model.use_link_loss and out.link_loss > 0


def test_the_structure_blind_baseline_reads_only_the_summed_features(gen):
    data = _tiny_data(gen, with_clusters=False)
    torch.manual_seed(0)
    bg = dgl.batch(data.graphs)
    normed = build_model("sum-mlp", **data.model_shape(), mlp_hidden=8, dropout=0.5)
    normed(bg, bg.ndata["feat"])  # one training batch sets the running statistics
    normed.eval()
    model = build_model("sum-mlp", **data.model_shape(), mlp_hidden=8, dropout=0.5, batch_norm=False).eval()
    logits = model(bg, bg.ndata["feat"]).logits
    for net, feat in ((model, bg.ndata["feat"]), (normed, normed.norm(bg.ndata["feat"]))):
        sums = torch.stack([part.sum(0) for part in feat.split(bg.batch_num_nodes().tolist())])
        linear1, _, _, linear2 = net.head
        assert torch.allclose(net(bg, bg.ndata["feat"]).logits, linear2(torch.relu(linear1(sums))), atol=1e-5)
    assert not torch.allclose(normed.norm(bg.ndata["feat"]), bg.ndata["feat"])
    # The tiny set's cycles of 5, 7, 9 nodes have the degree sums of its paths of 6, 8, 10 nodes:
    # the baseline gives both the same logits, so it cannot learn what every GNN above learns.
    sizes = [g.num_nodes() for g in data.graphs]
    cycle, path = sizes.index(7), sizes.index(8)
    assert data.labels[cycle] != data.labels[path] and torch.equal(logits[cycle], logits[path])
    # Edges are never read: the same nodes without edges, or with random ones, give the same logits.
    for edges in (dgl.graph(([], []), num_nodes=bg.num_nodes()), dgl.rand_graph(bg.num_nodes(), 50)):
        rewired = dgl.batch([dgl.graph(([], []), num_nodes=n) for n in sizes])
        rewired.add_edges(*edges.edges())
        rewired.set_batch_num_nodes(bg.batch_num_nodes())
        rewired.set_batch_num_edges(torch.tensor([edges.num_edges()] + [0] * (len(sizes) - 1)))
        assert torch.equal(model(rewired, bg.ndata["feat"]).logits, logits)
    with pytest.raises(ValueError, match="feat has 3 rows for a graph of"):
        model(bg, bg.ndata["feat"][:3])


def test_det_model_names_missing_clusters(gen):
    data = _tiny_data(gen, with_clusters=False)
    model = DiffPoolDet(1, 2)
    bg = dgl.batch(data.graphs)
    with pytest.raises(ValueError, match="DiffPool-Det needs ndata\\['det_cluster'\\]"):
        model(bg, bg.ndata["feat"])


def test_wl_kernel_separates_cycles_from_paths(gen):
    data = _tiny_data(gen, with_clusters=False)
    gram = kernel_matrix("wl-kernel", data)
    assert gram.shape == (24, 24) and np.allclose(np.diag(gram), 1.0)
    # A cycle and a path of the same length share no WL label after one iteration except degree-2 ones.
    assert gram[0, 2] > gram[0, 1]
    folds = stratified_kfold(data.labels, 3, 0)
    result = kernel_cross_validate(gram, data.labels, folds, 0.25, 0)
    assert result["test_score_mean"] == 1.0 and len(result["per_fold"]) == 3
    with pytest.raises(ConfigError, match="unknown kernel 'rbf'"):
        kernel_matrix("rbf", data)


def test_epoch_times_are_the_median_epoch_and_the_sum_of_every_run(tmp_path):
    for run, seconds in (("fold-0/final-0", [1.0, 1.5, 600.0]), ("fold-0/candidate-1", [1.25]),  # 600: a pause
                         ("fold-1/final-0", [2.0])):
        os.makedirs(tmp_path / run)
        (tmp_path / run / "metrics.jsonl").write_text("".join(json.dumps({"epoch": i, "seconds": t}) + "\n"
                                                              for i, t in enumerate(seconds)))
    assert epoch_times(str(tmp_path)) == {"epoch_seconds": 1.5, "train_seconds": 605.75}
    assert epoch_times(str(tmp_path / "fold-9")) == {"epoch_seconds": None, "train_seconds": None}


def test_bench_resumes_and_writes_tables(tmp_path, data_dir, monkeypatch):
    base = RunConfig(data_dir=data_dir, epochs=1, hidden=8, mlp_hidden=8, batch_size=128, folds=2)
    out = str(tmp_path / "bench")
    pairs = run_bench(base, ["synthetic"], ["sage-mean", "wl-kernel"], out, echo=lambda s: None)
    assert [p["model"] for p in pairs] == ["sage-mean", "wl-kernel"]
    assert all(len(p["per_fold"]) == 2 for p in pairs)
    with open(os.path.join(out, "synthetic", "folds.json")) as fh:
        folds = json.load(fh)["folds"]
    with open(os.path.join(out, "synthetic", "sage-mean", "folds.json")) as fh:
        assert json.load(fh)["folds"] == folds  # the GNN ran on the bench's folds

    def fail(*args, **kwargs):
        raise AssertionError("a finished pair was run again")

    monkeypatch.setattr(bench_module, "run_pair", fail)
    lines = []
    again = run_bench(base, ["synthetic"], ["sage-mean", "wl-kernel"], out, echo=lines.append)
    assert again == pairs and all("finished earlier" in line for line in lines)
    table = open(os.path.join(out, "table.md")).read()
    assert table.splitlines()[0] == "| model | synthetic |" and "| wl-kernel | " in table
    csv_head = open(os.path.join(out, "table.csv")).readline().strip()
    assert csv_head == "dataset,model,mean,std,folds,seconds,seconds_per_epoch,train_seconds"
    # Seconds per epoch: the median over every epoch of every fold's run, and their sum; none for a kernel.
    rows = [json.loads(line) for i in range(2)
            for line in open(os.path.join(out, "synthetic", "sage-mean", f"fold-{i}", "metrics.jsonl"))]
    assert len(rows) == 2 and pairs[0]["epoch_seconds"] == pytest.approx(sum(r["seconds"] for r in rows) / 2)
    assert pairs[0]["train_seconds"] == pytest.approx(sum(r["seconds"] for r in rows))
    assert pairs[1]["epoch_seconds"] is None and pairs[1]["train_seconds"] is None
    assert f"({pairs[0]['epoch_seconds']:.2f} s/epoch)" in table
    with pytest.raises(ConfigError, match="holds a bench with other settings \\(folds: 2 != 3\\)"):
        run_bench(dataclasses.replace(base, folds=3), ["synthetic"], ["sage-mean"], out)
    # A settings file from before an option existed agrees while that option keeps its default.
    with open(os.path.join(out, "bench.json")) as fh:
        settings = json.load(fh)
    del settings["sort_k"]
    with open(os.path.join(out, "bench.json"), "w") as fh:
        json.dump(settings, fh)
    assert run_bench(base, ["synthetic"], ["sage-mean"], out, echo=lambda s: None) == pairs[:1]
    with pytest.raises(ConfigError, match="sort_k: 30 != 5"):
        run_bench(dataclasses.replace(base, sort_k=5), ["synthetic"], ["sage-mean"], out)
    with pytest.raises(ConfigError, match="unknown model\\(s\\) nope"):
        run_bench(base, ["synthetic"], ["nope"], out)
    # A pair finished by an earlier version (a mean epoch, no train_seconds) reads with timings from its metrics.
    pair_json = os.path.join(out, "synthetic", "sage-mean", "pair.json")
    with open(pair_json) as fh:
        old = json.load(fh)
    del old["train_seconds"]
    with open(pair_json, "w") as fh:
        json.dump({**old, "epoch_seconds": 99.0}, fh)
    assert run_bench(base, ["synthetic"], ["sage-mean"], out, echo=lambda s: None) == pairs[:1]
    assert "(99.00 s/epoch)" not in open(os.path.join(out, "table.md")).read()


def test_bench_stopped_by_bad_input_leaves_nothing_behind(tmp_path, data_dir):
    base = RunConfig(data_dir=data_dir, epochs=1, hidden=8, mlp_hidden=8, batch_size=128, folds=2000)
    out = tmp_path / "bench"
    with pytest.raises(ConfigError, match="--folds 2000"):
        run_bench(base, ["synthetic"], ["sage-mean"], str(out), echo=lambda s: None)
    assert not out.exists()
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a folder that existed keeps what it held, and only that
    with pytest.raises(ConfigError, match="--folds 2000"):
        run_bench(base, ["synthetic"], ["sage-mean"], str(out), echo=lambda s: None)
    assert os.listdir(out) == ["notes.txt"]
    # A model these graphs cannot take stops the first pair, after the folds were drawn.
    with pytest.raises(ConfigError, match="pool"):
        run_bench(dataclasses.replace(base, folds=2, pool_levels=40), ["synthetic"], ["diffpool"], str(out),
                  echo=lambda s: None)
    assert os.listdir(out) == ["notes.txt"]
    pairs = run_bench(dataclasses.replace(base, folds=2), ["synthetic"], ["wl-kernel"], str(out), echo=lambda s: None)
    assert len(pairs[0]["per_fold"]) == 2  # the corrected settings are not refused
    with pytest.raises(ConfigError, match="other settings \\(folds: 2 != 2000\\)"):  # a bench that ran stays
        run_bench(base, ["synthetic"], ["wl-kernel"], str(out))
    assert sorted(os.listdir(out)) == ["bench.json", "notes.txt", "results.json", "synthetic", "table.csv", "table.md"]


def test_bench_refuses_a_name_given_twice(tmp_path):
    with pytest.raises(ConfigError, match="^ENZYMES, sage-mean given twice; name each dataset and model once$"):
        run_bench(RunConfig(), ["ENZYMES", "enzymes"], ["sage-mean", "diffpool", "sage-mean"], str(tmp_path / "b"))
    assert not (tmp_path / "b").exists()


def test_table_reports_the_gain_over_the_mean_pool_baseline():
    pairs = [
        {"dataset": "A", "model": "diffpool", "mean": 0.66, "std": 0.01, "per_fold": [], "seconds": 1},
        {"dataset": "A", "model": "sage-mean", "mean": 0.60, "std": 0.02, "per_fold": [], "seconds": 1},
        {"dataset": "B", "model": "diffpool", "mean": 0.72, "std": 0.0, "per_fold": [], "seconds": 1},
        {"dataset": "B", "model": "sage-mean", "mean": 0.80, "std": 0.0, "per_fold": [], "seconds": 1},
    ]
    text = format_table(pairs, ["A", "B"], ["diffpool", "sage-mean"])
    assert "| diffpool | 66.00 ± 1.00 | 72.00 ± 0.00 |" in text
    assert "+0.0% on average (A +10.0%, B -10.0%)" in text and "Seconds per epoch" not in text
    for pair, seconds in zip(pairs, (3.0, 2.0, 1.0, 0.5)):
        pair["epoch_seconds"] = seconds
    text = format_table(pairs, ["A", "B"], ["diffpool", "sage-mean"])
    assert "| diffpool | 66.00 ± 1.00 (3.00 s/epoch) | 72.00 ± 0.00 (1.00 s/epoch) |" in text
    assert "Seconds per epoch of diffpool over sage-mean: x1.75 on average (A x1.50, B x2.00)" in text


def test_ecc_filters_depend_on_edge_labels(gen):
    from dgl_diffpool.models import ECCClassifier

    g = dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1]))
    g.edata["edge_label"] = torch.tensor([0, 0, 2, 2])
    x = torch.randn(3, 4, generator=gen)
    torch.manual_seed(0)
    model = ECCClassifier(4, 2, num_edge_labels=3, batch_norm=False).eval()
    assert model.edge_features(g, x).tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]]
    relabelled = dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1]))
    relabelled.edata["edge_label"] = torch.tensor([1, 1, 2, 2])
    assert not torch.allclose(model(g, x).logits, model(relabelled, x).logits)
    g.edata["edge_label"] = torch.tensor([0, 0, 3, 3])
    with pytest.raises(ValueError, match="edge labels must be in 0..2, got 3"):
        model(g, x)
    del g.edata["edge_label"]
    with pytest.raises(ValueError, match="built for 3 edge labels but the graph has no"):
        model(g, x)


@pytest.mark.parametrize("num_labels", [0, 3])
def test_ecc_filters_per_label_equal_nnconvs_filters_per_edge(num_labels, gen):
    from dgl_diffpool.models import ECCClassifier

    # Two graphs, a node without in-edges (its mean is 0), duplicate edges; 5 -> 8 features (a linear residual).
    g = dgl.batch([dgl.graph(([0, 1, 1, 2, 2], [1, 0, 2, 1, 1]), num_nodes=4), dgl.graph(([0, 1], [1, 2]))])
    if num_labels:
        g.edata["edge_label"] = torch.randint(0, num_labels, (g.num_edges(),), generator=gen)
    x = torch.randn(g.num_nodes(), 5, generator=gen, requires_grad=True)
    torch.manual_seed(0)
    model = ECCClassifier(5, 2, num_edge_labels=num_labels, hidden_feats=8).double()
    conv, x64 = model.convs[0], x.double()
    ours = model._conv(conv, g, x64, model.edge_labels(g))
    theirs = conv(g, x64, model.edge_features(g, x64))
    assert torch.allclose(ours, theirs, atol=1e-12) and ours[3].abs().sum() > 0  # node 3: residual and bias only
    weights = torch.randn_like(ours)
    grads = [torch.autograd.grad((out * weights).sum(), [x, *conv.parameters()]) for out in (ours, theirs)]
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(*grads))


@pytest.mark.skipif(not os.environ.get("DGL_DIFFPOOL_MIRROR"), reason="DGL_DIFFPOOL_MIRROR is not set")
def test_ecc_reads_mutag_edge_labels(tmp_path):
    from dgl_diffpool.data import load_dataset

    data = load_dataset("MUTAG", str(tmp_path), mirror=os.environ["DGL_DIFFPOOL_MIRROR"])
    assert data.num_edge_labels == 4 and data.model_shape()["num_edge_labels"] == 4
    model = build_model("ecc", **data.model_shape(), hidden_feats=8)
    bg = dgl.batch(data.graphs[:10])
    assert model(bg, bg.ndata["feat"]).logits.shape == (10, 2)


def test_patchy_san_receptive_fields_on_a_path():
    # Path 0-1-2-3-4 plus isolated node 5: betweenness ranks 2, then 1 and 3 (ids break the tie), 0 and 4, 5.
    g = dgl.add_nodes(_path(5), 1)
    fields, rank = receptive_fields(g, 3)
    assert rank.tolist() == [3, 1, 0, 2, 4, 5]
    assert fields.tolist() == [[0, 1, 2], [1, 2, 0], [2, 1, 3], [3, 2, 4], [4, 3, 2], [5, -1, -1]]
    # In a batch, graph b's fields are its best-ranked nodes in rank order, shifted to batch ids.
    from dgl_diffpool.models import PatchySAN

    small = _path(2)
    small.ndata[FIELD_KEY], small.ndata[RANK_KEY] = receptive_fields(small, 3)
    g.ndata[FIELD_KEY], g.ndata[RANK_KEY] = fields, rank
    index = PatchySAN(1, 2, width=3, field_size=3).field_indices(dgl.batch([small, g]))
    assert index[0].tolist() == [[0, 1, -1], [1, 0, -1], [-1, -1, -1]]
    assert index[1].tolist() == [[4, 3, 5], [3, 4, 2], [5, 4, 6]]
    with pytest.raises(ValueError, match="PATCHY-SAN needs ndata"):
        PatchySAN(1, 2, width=3, field_size=4).field_indices(dgl.batch([small]))
