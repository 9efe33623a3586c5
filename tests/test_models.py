"""Models and dense layers: invariances, equality with DGL's own layers, gradients."""
import dgl
import pytest
import torch
from dgl.nn import GINConv, GraphConv, SAGEConv

from dgl_diffpool.models import DiffPoolClassifier, FlatGNNClassifier, build_model
from dgl_diffpool.nn import GNN, DenseGCNConv, DenseGINConv, DenseGNN, DenseSAGEConv, dense_readout

from conftest import dense_adjacency, random_graph


def _batch(graphs, feats):
    bg = dgl.batch(graphs)
    return bg, torch.cat(feats)


def _graphs(gen, sizes=(9, 14, 1, 6, 20), f=5):
    graphs = [random_graph(n, 0.3, gen, symmetric=True) for n in sizes]
    feats = [torch.randn(n, f, generator=gen) for n in sizes]
    return graphs, feats


MODEL_VARIANTS = [
    dict(),
    dict(pool_levels=2, conv="gcn", readout="mean"),
    dict(pool_levels=2, conv="gin", adaptive_clusters=True, readout="sum"),
]


@pytest.mark.parametrize("kwargs", MODEL_VARIANTS)
def test_classifier_is_permutation_invariant(gen, kwargs):
    torch.manual_seed(0)
    graphs, feats = _graphs(gen)
    model = DiffPoolClassifier(5, 3, max_num_nodes=20, hidden_feats=8, **kwargs).eval()
    out = model(*_batch(graphs, feats))
    perm_graphs, perm_feats = [], []
    for g, x in zip(graphs, feats):
        p = torch.randperm(g.num_nodes(), generator=gen)
        inv = torch.empty_like(p)
        inv[p] = torch.arange(len(p))
        src, dst = g.edges()
        perm_graphs.append(dgl.graph((inv[src], inv[dst]), num_nodes=g.num_nodes()))
        perm_feats.append(x[p])
    permuted = model(*_batch(perm_graphs, perm_feats))
    for a, b in zip(out, permuted):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs", MODEL_VARIANTS)
def test_classifier_output_does_not_depend_on_batch_mates(gen, kwargs):
    torch.manual_seed(0)
    graphs, feats = _graphs(gen)
    model = DiffPoolClassifier(5, 3, max_num_nodes=20, hidden_feats=8, **kwargs)
    model.train()
    model(*_batch(graphs, feats))  # move BatchNorm statistics away from their start
    model.eval()
    together = model(*_batch(graphs, feats)).logits
    for i, (g, x) in enumerate(zip(graphs, feats)):
        alone = model(g, x).logits
        torch.testing.assert_close(together[i : i + 1], alone, rtol=1e-4, atol=1e-5)


def test_every_parameter_gets_a_gradient(gen):
    torch.manual_seed(0)
    graphs, feats = _graphs(gen)
    model = DiffPoolClassifier(5, 3, max_num_nodes=20, hidden_feats=8, pool_levels=2)
    out = model(*_batch(graphs, feats))
    (out.logits.sum() + out.aux_loss).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    assert out.logits.shape == (5, 3)
    assert model.num_clusters == [5, 2]


def test_aux_loss_follows_the_switches(gen):
    graphs, feats = _graphs(gen)
    bg, x = _batch(graphs, feats)
    for link, ent in [(True, True), (False, True), (True, False), (False, False)]:
        torch.manual_seed(0)
        out = DiffPoolClassifier(5, 3, 20, hidden_feats=8, link_loss=link, entropy_loss=ent)(bg, x)
        want = link * out.link_loss + ent * out.entropy_loss
        torch.testing.assert_close(out.aux_loss, want)
        assert out.link_loss > 0 and out.entropy_loss > 0


def test_baseline_and_factory(gen):
    graphs, feats = _graphs(gen)
    model = build_model("sage-mean", 5, 3, 20, hidden_feats=8)
    assert isinstance(model, FlatGNNClassifier) and model.readout == "mean"
    out = model(*_batch(graphs, feats))
    assert out.logits.shape == (5, 3) and out.aux_loss == 0
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model("nope", 5, 3, 20)
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        DiffPoolClassifier(5, 3, 20, ratio=1.5)
    with pytest.raises(ValueError, match="pool_levels must be >= 1"):
        DiffPoolClassifier(5, 3, 20, pool_levels=0)
    with pytest.raises(ValueError, match="unknown GNN layer type 'gat'"):
        DiffPoolClassifier(5, 3, 20, conv="gat")


def _copy_linear(dst, src_weight, src_bias=None):
    with torch.no_grad():
        dst.weight.copy_(src_weight)
        if src_bias is not None:
            dst.bias.copy_(src_bias)


@pytest.mark.parametrize("kind", ["sage", "gcn", "gin"])
def test_dense_convs_equal_dgl_layers(gen, kind):
    """A padded dense batch through our layer equals DGL's sparse layer graph by graph."""
    graphs = [random_graph(n, 0.35, gen) for n in (6, 1, 9)]
    graphs = [dgl.remove_self_loop(g) for g in graphs]
    f, h, n_max = 4, 3, 9
    if kind == "sage":
        ours, theirs = DenseSAGEConv(f, h), SAGEConv(f, h, "mean")
        _copy_linear(theirs.fc_self, ours.fc_self.weight, ours.fc_self.bias)
        _copy_linear(theirs.fc_neigh, ours.fc_neigh.weight)
        if getattr(theirs, "bias", None) is not None:
            torch.nn.init.zeros_(theirs.bias)
    elif kind == "gcn":
        ours, theirs = DenseGCNConv(f, h), GraphConv(f, h, norm="both", allow_zero_in_degree=True)
        with torch.no_grad():
            theirs.weight.copy_(ours.linear.weight.T)
            theirs.bias.copy_(ours.linear.bias)
    else:
        ours = DenseGINConv(f, h)
        theirs = GINConv(ours.mlp, "sum", learn_eps=True)
        with torch.no_grad():
            ours.eps.fill_(0.3)
            theirs.eps.fill_(0.3)
    x = torch.zeros(len(graphs), n_max, f)
    adj = torch.zeros(len(graphs), n_max, n_max)
    mask = torch.zeros(len(graphs), n_max, dtype=torch.bool)
    feats = []
    for b, g in enumerate(graphs):
        n = g.num_nodes()
        feats.append(torch.randn(n, f, generator=gen))
        x[b, :n], adj[b, :n, :n], mask[b, :n] = feats[-1], dense_adjacency(g).float(), True
    out = ours(x, adj, mask)
    for b, g in enumerate(graphs):
        ref_graph = dgl.add_self_loop(g) if kind == "gcn" else g
        want = theirs(ref_graph, feats[b])
        n = g.num_nodes()
        torch.testing.assert_close(out[b, :n], want, rtol=1e-5, atol=1e-5)
        assert out[b, n:].abs().sum() == 0


@pytest.mark.parametrize("conv", ["sage", "gcn", "gin", "s2v"])
def test_dense_gnn_ignores_padding(conv):
    torch.manual_seed(0)
    gnn = DenseGNN(3, 4, 2, conv=conv).train()
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    x = torch.randn(2, 5, 3) * mask.unsqueeze(-1)
    adj = torch.rand(2, 5, 5) * (mask.unsqueeze(2) & mask.unsqueeze(1))
    noisy_x, noisy_adj = x.clone(), adj.clone()
    noisy_x[0, 3:] = 1e3
    noisy_adj[0, 3:, :] = 7.0
    noisy_adj[0, :, 3:] = 7.0
    clean = gnn(x, adj, mask)
    torch.testing.assert_close(gnn(noisy_x, noisy_adj, mask), clean)
    assert not clean[~mask].any()
    # In eval mode, graph 0 alone and unpadded gives its rows of the noisy batch.
    gnn.eval()
    alone = gnn(x[:1, :3], adj[:1, :3, :3], mask[:1, :3])
    torch.testing.assert_close(gnn(noisy_x, noisy_adj, mask)[:1, :3], alone)


def test_dense_readout_never_sees_padding():
    x = torch.tensor([[[-3.0, -1.0], [-2.0, -5.0], [0.0, 0.0]], [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    torch.testing.assert_close(dense_readout(x, mask, "max"), torch.tensor([[-2.0, -1.0], [1.0, 2.0]]))
    torch.testing.assert_close(dense_readout(x, mask, "mean"), torch.tensor([[-2.5, -3.0], [1.0, 2.0]]))
    torch.testing.assert_close(dense_readout(x, mask, "sum"), torch.tensor([[-5.0, -6.0], [1.0, 2.0]]))
    empty = torch.zeros(1, 3, dtype=torch.bool)
    assert dense_readout(x[:1], empty, "max").abs().sum() == 0


def test_s2v_dense_stack_equals_the_sparse_one(gen):
    torch.manual_seed(0)
    g = random_graph(9, 0.3, gen)
    w = torch.rand(g.num_edges(), generator=gen)
    x = torch.randn(9, 4, generator=gen)
    sparse = GNN(4, 6, 3, conv="s2v", batch_norm=False)
    dense = DenseGNN(4, 6, 3, conv="s2v", batch_norm=False)
    dense.load_state_dict(sparse.state_dict())
    adj = dense_adjacency(g, w).float().unsqueeze(0)
    want = dense(x.unsqueeze(0), adj, torch.ones(1, 9, dtype=torch.bool))[0]
    torch.testing.assert_close(sparse(g, x, edge_weight=w), want, rtol=1e-5, atol=1e-5)
    # First iteration: relu(W_x x); second: relu(W_x x + W_mu sum of in-neighbours' first outputs).
    first = torch.relu(sparse.convs[0].fc_x(x))
    second = torch.relu(sparse.convs[1].fc_x(x) + adj[0].T @ sparse.convs[1].fc_mu(first))
    torch.testing.assert_close(want[:, 6:12], second, rtol=1e-5, atol=1e-5)


def _rows_seen_by_batch_norms(model):
    """Filled by the next forward: the rows each BatchNorm of ``model`` normalises, by module."""
    seen = {}
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.register_forward_pre_hook(lambda m, args: seen.__setitem__(m, args[0].shape[0]))
    return seen


@pytest.mark.parametrize("name, n, kwargs", [
    ("diffpool", 1, dict(adaptive_clusters=True, pool_levels=2)),
    ("diffpool", 4, dict(adaptive_clusters=True, pool_levels=2)),  # k_b = 1 at every dense level
    ("diffpool", 1, dict(adaptive_clusters=False, pool_levels=2)),
    ("diffpool", 4, dict(adaptive_clusters=False, pool_levels=2)),  # fixed K: K_1 = 1 for every graph
    ("ecc", 1, dict()),
    ("sage-mean", 1, dict()),
])
def test_a_training_step_on_a_batch_of_one_small_graph(gen, name, n, kwargs):
    torch.manual_seed(0)
    model = build_model(name, 5, 3, max_num_nodes=16, hidden_feats=8, **kwargs).train()
    rows = _rows_seen_by_batch_norms(model)
    g = dgl.add_self_loop(random_graph(n, 0.5, gen, symmetric=True))
    out = model(g, torch.randn(n, 5, generator=gen))
    (torch.nn.functional.cross_entropy(out.logits, torch.tensor([1])) + out.aux_loss).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert 1 in rows.values()
    # One row: normalised with the running statistics, which stay at their start; more: updated once.
    for norm, seen in rows.items():
        assert int(norm.num_batches_tracked) == (seen > 1)
        if seen == 1:
            assert not norm.running_mean.any() and torch.equal(norm.running_var, torch.ones(8))


@pytest.mark.parametrize("name", ["diffpool", "sage-mean"])
def test_input_norm_makes_the_model_blind_to_feature_units(gen, name):
    """Training-mode outputs do not change when each feature column is rescaled and shifted."""
    graphs, feats = _graphs(gen, sizes=(9, 12, 7))
    bg, x = _batch(graphs, feats)
    scale, shift = torch.tensor([0.2, 1.0, 60.0, 7.0, 0.5]), torch.tensor([5.0, -2.0, 100.0, 0.0, 3.0])
    torch.manual_seed(0)
    model = build_model(name, 5, 3, 12, input_norm=True, hidden_feats=8, mlp_hidden=8, batch_norm=False)
    model.train()
    torch.testing.assert_close(model(bg, x * scale + shift).logits, model(bg, x).logits, atol=1e-4, rtol=1e-3)
    # In evaluation the running statistics normalise: the inner model sees (x - mean) / std * gamma + beta.
    model.eval()
    norm = model.norm
    expected = model.classifier(bg, (x - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)).logits
    torch.testing.assert_close(model(bg, x).logits, expected)
    plain = build_model(name, 5, 3, 12, hidden_feats=8, mlp_hidden=8)
    assert not isinstance(plain, type(model))
    with pytest.raises(ValueError, match="input norm is for numeric node features"):
        build_model(name, 5, 3, 12, input_norm=True, node_encoder="atom", hidden_feats=8)
