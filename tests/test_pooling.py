"""sparse_diff_pool / dense_diff_pool against dense references and PyG."""
import dgl
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dgl_diffpool.models import DiffPoolClassifier
from dgl_diffpool.nn import (
    cluster_counts,
    cluster_mask_from_counts,
    dense_diff_pool,
    sparse_diff_pool,
)

from conftest import dense_adjacency, random_graph


def reference_pool(adj, x, logits, k=None):
    """Plain dense DiffPool of one graph in float64: the definition, nothing clever."""
    if k is not None:
        logits = logits[:, :k]
    s = torch.softmax(logits, dim=-1)
    out_x = s.T @ x
    out_adj = s.T @ adj @ s
    n = adj.shape[0]
    link = torch.linalg.norm(adj - s @ s.T) / n**2
    ent = -(s * torch.log(s)).nan_to_num().sum(-1)  # per node
    return out_x, out_adj, link, ent


def _inputs(graphs, d, k, gen, weight=False):
    bg = dgl.batch(graphs)
    n = bg.num_nodes()
    x = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    s = (2 * torch.randn(n, k, generator=gen, dtype=torch.float64)).requires_grad_()
    w = None
    if weight:
        w = torch.rand(bg.num_edges(), generator=gen, dtype=torch.float64).add(0.5).requires_grad_()
        bg.edata["w"] = w
    return bg, x, s, w


@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_equals_dense_reference_per_graph(varied_graphs, gen, weighted):
    k, d = 4, 3
    bg, x, s, w = _inputs(varied_graphs, d, k, gen, weighted)
    out = sparse_diff_pool(bg, x, s, edge_weight="w" if weighted else None)
    assert out.x.shape == (len(varied_graphs), k, d) and out.adj.shape == (len(varied_graphs), k, k)
    assert out.mask.all()

    links, ents = [], []
    sizes = bg.batch_num_nodes().tolist()
    edge_sizes = bg.batch_num_edges().tolist()
    xs, ss = torch.split(x, sizes), torch.split(s, sizes)
    ws = torch.split(w, edge_sizes) if weighted else [None] * len(sizes)
    for b, g in enumerate(varied_graphs):
        adj = dense_adjacency(g, ws[b])
        rx, radj, rlink, rent = reference_pool(adj, xs[b], ss[b])
        torch.testing.assert_close(out.x[b], rx)
        torch.testing.assert_close(out.adj[b], radj)
        links.append(rlink)
        ents.append(rent)
    ref_link = torch.stack(links).mean()
    ref_ent = torch.cat(ents).mean()
    torch.testing.assert_close(out.link_loss, ref_link)
    torch.testing.assert_close(out.entropy_loss, ref_ent)

    # Gradients of a scalar mixing every output equal the reference's.
    ref_total = sum(
        (reference_pool(dense_adjacency(g, ws[b]), xs[b], ss[b])[0] ** 2).sum()
        + reference_pool(dense_adjacency(g, ws[b]), xs[b], ss[b])[1].sin().sum()
        for b, g in enumerate(varied_graphs)
    ) + 3 * ref_link + 2 * ref_ent
    total = (out.x**2).sum() + out.adj.sin().sum() + 3 * out.link_loss + 2 * out.entropy_loss
    inputs = [x, s] + ([w] if weighted else [])
    got = torch.autograd.grad(total, inputs)
    want = torch.autograd.grad(ref_total, inputs)
    for a, b in zip(got, want):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b)


def test_sparse_and_dense_match_pyg_on_a_single_graph(gen):
    pyg = pytest.importorskip("torch_geometric.nn")
    g = random_graph(15, 0.25, gen)
    x = torch.randn(15, 6, generator=gen)
    s = torch.randn(15, 5, generator=gen)
    adj = dense_adjacency(g).float()
    want = pyg.dense_diff_pool(x, adj, s)
    sparse = sparse_diff_pool(g, x, s)
    dense = dense_diff_pool(x, adj, s)
    for got in (sparse, dense):
        torch.testing.assert_close(got.x, want[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got.adj, want[1], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got.link_loss, want[2], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got.entropy_loss, want[3], rtol=1e-5, atol=1e-6)


def test_sparse_gradients_match_pyg(gen):
    pyg = pytest.importorskip("torch_geometric.nn")
    g = random_graph(10, 0.3, gen)
    adj = dense_adjacency(g).float()
    x = torch.randn(10, 4, generator=gen, requires_grad=True)
    s = torch.randn(10, 3, generator=gen, requires_grad=True)

    def scalar(o):
        return o[0].square().sum() + o[1].sum() + 10 * o[2] + o[3]

    got = torch.autograd.grad(scalar(sparse_diff_pool(g, x, s)[:2] + sparse_diff_pool(g, x, s)[3:]), [x, s])
    want = torch.autograd.grad(scalar(pyg.dense_diff_pool(x, adj, s)), [x, s])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_dense_batch_with_masks_equals_each_graph_alone(varied_graphs, gen):
    k, d = 3, 4
    sizes = [g.num_nodes() for g in varied_graphs]
    n_max, batch = max(sizes), len(sizes)
    x = torch.zeros(batch, n_max, d, dtype=torch.float64)
    adj = torch.zeros(batch, n_max, n_max, dtype=torch.float64)
    s = torch.randn(batch, n_max, k, generator=gen, dtype=torch.float64)
    mask = torch.zeros(batch, n_max, dtype=torch.bool)
    for b, g in enumerate(varied_graphs):
        n = sizes[b]
        x[b, :n] = torch.randn(n, d, generator=gen, dtype=torch.float64)
        adj[b, :n, :n] = dense_adjacency(g)
        mask[b, :n] = True
    # Garbage in the padding must not leak anywhere.
    x = x + 100 * (~mask).unsqueeze(-1)
    out = dense_diff_pool(x, adj, s, mask)
    links, ents = [], []
    for b, n in enumerate(sizes):
        alone = dense_diff_pool(x[b, :n], adj[b, :n, :n], s[b, :n])
        torch.testing.assert_close(out.x[b], alone.x[0])
        torch.testing.assert_close(out.adj[b], alone.adj[0])
        links.append(alone.link_loss)
        ents.append(alone.entropy_loss * n)
    torch.testing.assert_close(out.link_loss, torch.stack(links).mean())
    torch.testing.assert_close(out.entropy_loss, torch.stack(ents).sum() / sum(sizes))


def test_dense_values_and_gradients_equal_the_reference(varied_graphs, gen):
    """A padded, weighted batch with per-graph cluster counts against the definition, graph by graph."""
    k, d = 4, 3
    sizes = [g.num_nodes() for g in varied_graphs]
    batch, n_max = len(sizes), max(sizes)
    mask = torch.arange(n_max) < torch.tensor(sizes).unsqueeze(-1)
    counts = cluster_counts(torch.tensor(sizes), 0.34).clamp_max(k)
    x = torch.randn(batch, n_max, d, generator=gen, dtype=torch.float64)
    adj = torch.full((batch, n_max, n_max), 5.0, dtype=torch.float64)  # garbage in the padding
    for b, g in enumerate(varied_graphs):
        n = sizes[b]
        adj[b, :n, :n] = dense_adjacency(g) * torch.rand(n, n, generator=gen, dtype=torch.float64).add(0.5)
    x[~mask] = 100.0
    s = 2 * torch.randn(batch, n_max, k, generator=gen, dtype=torch.float64)
    x, adj, s = (t.requires_grad_() for t in (x, adj, s))

    out = dense_diff_pool(x, adj, s, mask, cluster_mask_from_counts(counts, k))
    refs = [reference_pool(adj[b, :n, :n], x[b, :n], s[b, :n], int(counts[b])) for b, n in enumerate(sizes)]
    for b, (rx, radj, _, _) in enumerate(refs):
        kb = int(counts[b])
        torch.testing.assert_close(out.x[b, :kb], rx)
        torch.testing.assert_close(out.adj[b, :kb, :kb], radj)
        assert not out.x[b, kb:].any() and not out.adj[b, kb:].any() and not out.adj[b, :, kb:].any()
    ref_link = torch.stack([r[2] for r in refs]).mean()
    ref_ent = torch.cat([r[3] for r in refs]).mean()
    torch.testing.assert_close(out.link_loss, ref_link)
    torch.testing.assert_close(out.entropy_loss, ref_ent)

    # Padded entries get no gradient: the reference never reads them.
    total = (out.x**2).sum() + out.adj.sin().sum() + 3 * out.link_loss + 2 * out.entropy_loss
    ref_total = sum((rx**2).sum() + radj.sin().sum() for rx, radj, _, _ in refs) + 3 * ref_link + 2 * ref_ent
    got = torch.autograd.grad(total, [x, adj, s])
    want = torch.autograd.grad(ref_total, [x, adj, s])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_sparse_batch_equals_each_graph_alone(varied_graphs, gen):
    bg, x, s, _ = _inputs(varied_graphs, 3, 4, gen)
    out = sparse_diff_pool(bg, x, s)
    sizes = bg.batch_num_nodes().tolist()
    links, ents = [], []
    for b, (g, xb, sb) in enumerate(zip(varied_graphs, torch.split(x, sizes), torch.split(s, sizes))):
        alone = sparse_diff_pool(g, xb, sb)
        torch.testing.assert_close(out.x[b], alone.x[0])
        torch.testing.assert_close(out.adj[b], alone.adj[0])
        links.append(alone.link_loss)
        ents.append(alone.entropy_loss * sizes[b])
    torch.testing.assert_close(out.link_loss, torch.stack(links).mean())
    torch.testing.assert_close(out.entropy_loss, torch.stack(ents).sum() / sum(sizes))


def test_per_graph_cluster_counts_equal_single_graph_with_k_b_clusters(varied_graphs, gen):
    k, ratio = 4, 0.34
    bg, x, s, _ = _inputs(varied_graphs, 3, k, gen)
    counts = cluster_counts(bg.batch_num_nodes(), ratio).clamp_max(k)
    assert counts.tolist() == [3, 1, 4, 2, 2, 4]  # ceil(0.34 n), capped at 4
    mask = cluster_mask_from_counts(counts, k)
    out = sparse_diff_pool(bg, x, s, cluster_mask=mask)
    assert torch.equal(out.mask, mask)
    sizes = bg.batch_num_nodes().tolist()
    ents = []
    for b, (g, xb, sb) in enumerate(zip(varied_graphs, torch.split(x, sizes), torch.split(s, sizes))):
        kb = int(counts[b])
        rx, radj, rlink, rent = reference_pool(dense_adjacency(g), xb, sb, kb)
        torch.testing.assert_close(out.x[b, :kb], rx)
        torch.testing.assert_close(out.adj[b, :kb, :kb], radj)
        assert out.x[b, kb:].abs().sum() == 0 and out.adj[b, kb:].abs().sum() == 0
        ents.append(rent)
    torch.testing.assert_close(out.entropy_loss, torch.cat(ents).mean())
    # The dense step with the same masks agrees with the sparse one.
    n_max = max(sizes)
    dense_x = torch.zeros(len(sizes), n_max, 3, dtype=torch.float64)
    dense_s = torch.zeros(len(sizes), n_max, k, dtype=torch.float64)
    dense_adj = torch.zeros(len(sizes), n_max, n_max, dtype=torch.float64)
    node_mask = torch.zeros(len(sizes), n_max, dtype=torch.bool)
    for b, (g, xb, sb) in enumerate(zip(varied_graphs, torch.split(x, sizes), torch.split(s, sizes))):
        n = sizes[b]
        dense_x[b, :n], dense_s[b, :n], dense_adj[b, :n, :n], node_mask[b, :n] = xb, sb, dense_adjacency(g), True
    dense = dense_diff_pool(dense_x, dense_adj, dense_s, node_mask, mask)
    for a, b in zip(dense, out):
        torch.testing.assert_close(a, b)


def test_cluster_counts_rule():
    n = torch.tensor([0, 1, 3, 4, 40, 41, 5748])
    assert cluster_counts(n, 0.25).tolist() == [1, 1, 1, 1, 10, 11, 1437]
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        cluster_counts(n, 0.0)


def test_link_loss_is_zero_with_a_zero_gradient_when_a_equals_s_st():
    # Two disconnected cliques with self-loops, assigned hard to two clusters: A = S S^T.
    g = dgl.graph(([0, 0, 1, 1, 2], [0, 1, 0, 1, 2]))
    s = torch.tensor([[50.0, -50.0], [50.0, -50.0], [-50.0, 50.0]], requires_grad=True)
    x = torch.eye(3)
    out = sparse_diff_pool(g, x, s)
    assert out.link_loss.item() == 0.0
    torch.testing.assert_close(out.adj, torch.tensor([[[4.0, 0.0], [0.0, 1.0]]]))
    torch.testing.assert_close(out.x, torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]))
    # A minimum of a norm: the gradient is its minimum-norm subgradient, exactly 0 (not NaN, not rounding noise).
    (grad,) = torch.autograd.grad(out.link_loss, s)
    assert torch.equal(grad, torch.zeros_like(s))


def test_bad_shapes_raise_clear_errors(gen):
    g = random_graph(5, 0.5, gen)
    with pytest.raises(ValueError, match=r"x must have shape \(num_nodes=5, D\)"):
        sparse_diff_pool(g, torch.randn(4, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"s must have shape \(num_nodes=5, K\)"):
        sparse_diff_pool(g, torch.randn(5, 2), torch.randn(6, 2))
    with pytest.raises(ValueError, match="cluster_mask must have shape"):
        sparse_diff_pool(g, torch.randn(5, 2), torch.randn(5, 2), cluster_mask=torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="shapes disagree"):
        dense_diff_pool(torch.randn(1, 5, 2), torch.randn(1, 4, 4), torch.randn(1, 5, 2))


class LargeTensorGuard(TorchDispatchMode):
    """Fails on any op that produces a tensor with more than ``budget`` elements."""

    def __init__(self, budget: int):
        super().__init__()
        self.budget = budget
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
                if t.numel() > self.budget:
                    raise AssertionError(f"{func} made a tensor of shape {tuple(t.shape)} (> {self.budget} elements)")
        return out


def _large_graph(n: int, degree: int, gen):
    src = torch.arange(n).repeat_interleave(degree)
    dst = torch.randint(0, n, (n * degree,), generator=gen)
    return dgl.graph((src, dst), num_nodes=n)


def test_sparse_path_never_allocates_n_by_n(gen):
    n, k, d = 30_000, 16, 8
    g = _large_graph(n, 10, gen)
    x = torch.randn(n, d, requires_grad=True)
    s = torch.randn(n, k, requires_grad=True)
    # n^2 = 9e8 elements (3.6 GB of float32); everything here must stay linear in n.
    budget = 20 * n * (k + d)
    guard = LargeTensorGuard(budget)
    with guard:
        out = sparse_diff_pool(g, x, s)
        (out.x.sum() + out.adj.sum() + out.link_loss + out.entropy_loss).backward()
    assert guard.largest <= budget
    assert x.grad.shape == x.shape and s.grad is not None


def test_classifier_never_allocates_n_by_n(gen):
    # A batch of 20,000 + 10,000 nodes; K_0 = 30, K_1 = 1 (ratio 0.0015).
    graphs = [_large_graph(n, 10, gen) for n in (20_000, 10_000)]
    n = sum(g.num_nodes() for g in graphs)
    torch.manual_seed(0)
    model = DiffPoolClassifier(5, 3, max_num_nodes=20_000, pool_levels=2, ratio=0.0015, gnn_layers=2, hidden_feats=8)
    k, feats = model.num_clusters[0], model.first_pool.out_feats
    assert model.num_clusters == [30, 1]
    budget = 20 * n * (k + feats)  # linear in n; n^2 = 9e8
    guard = LargeTensorGuard(budget)
    with guard:
        out = model(dgl.batch(graphs), torch.randn(n, 5, generator=gen))
        (out.logits.sum() + out.aux_loss).backward()
    assert guard.largest >= n * k  # the guard saw the level-0 assignment
    assert all(p.grad is not None for p in model.parameters())


def test_guard_catches_a_dense_adjacency(gen):
    g = _large_graph(3_000, 10, gen)
    x, s = torch.randn(3_000, 8), torch.randn(3_000, 16)
    with pytest.raises(AssertionError, match="made a tensor"):
        with LargeTensorGuard(20 * 3_000 * 24):
            dense_diff_pool(x, g.adj().to_dense(), s)


def _two_cliques():
    """Cliques {0, 1} and {2} with self-loops (A = its dense adjacency) and logits +-5 towards them."""
    g = dgl.graph(([0, 0, 1, 1, 2], [0, 1, 0, 1, 2]))
    logits = torch.tensor([[5.0, -5.0], [5.0, -5.0], [-5.0, 5.0]])
    return g, logits


def _dense_link_reference(adj, logits):
    """||A - S S^T||_F / n^2 and its gradient w.r.t. the logits, in float64 by the definition."""
    logits = logits.double().requires_grad_()
    s = torch.softmax(logits, dim=-1)
    loss = torch.linalg.norm(adj.double() - s @ s.T) / adj.shape[0] ** 2
    return loss.detach(), torch.autograd.grad(loss, logits)[0]


@pytest.mark.parametrize("level", ["sparse", "factored", "dense"])
def test_small_link_loss_keeps_its_value_and_gradient_in_float32(level):
    g, logits = _two_cliques()
    adj = dense_adjacency(g)
    if level == "factored":  # 4 clusters for 3 nodes: A' stays factored
        logits = torch.cat([logits, torch.full((3, 2), -30.0)], dim=1)
    want, want_grad = _dense_link_reference(adj, logits)
    assert want.item() == pytest.approx(3.03e-5, rel=1e-2)  # ~1e-7 of ||A||^2 = 5: below float32's resolution
    s = logits.clone().requires_grad_()
    if level == "dense":
        out = dense_diff_pool(torch.eye(3), adj.float(), s)
    else:
        out = sparse_diff_pool(g, torch.eye(3), s, factorize=level == "factored")
    assert out.link_loss.dtype == torch.float32
    (grad,) = torch.autograd.grad(out.link_loss, s)
    torch.testing.assert_close(out.link_loss.double(), want, rtol=1e-3, atol=0)
    torch.testing.assert_close(grad.double(), want_grad, rtol=1e-3, atol=0)


def test_gram_square_norm_has_the_gradient_of_its_formula(gen):
    from dgl_diffpool.nn.pooling import _gram_square_norm

    s = torch.rand(3, 7, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    weights = torch.rand(3, generator=gen, dtype=torch.float64)
    value = _gram_square_norm(s)
    reference = torch.bmm(s.transpose(1, 2), s).pow(2).sum((-2, -1))
    assert torch.allclose(value, reference, rtol=1e-14)
    ours, = torch.autograd.grad((value * weights).sum(), s)
    theirs, = torch.autograd.grad((reference * weights).sum(), s)
    assert torch.allclose(ours, theirs, rtol=1e-12) and ours.abs().min() > 0
    assert torch.autograd.gradcheck(_gram_square_norm, (s,))


class MatmulDtypes(TorchDispatchMode):
    """Records the dtype of every batched matrix product."""

    def __init__(self):
        super().__init__()
        self.dtypes = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.bmm.default:
            self.dtypes.add(args[0].dtype)
        return func(*args, **(kwargs or {}))


def test_sparse_gram_is_float32_unless_the_link_terms_cancel(gen):
    # A soft assignment of a random graph: the terms do not cancel, every product stays float32 ...
    g = random_graph(12, 0.3, gen)
    logits = torch.randn(12, 4, generator=gen)
    want, want_grad = _dense_link_reference(dense_adjacency(g), logits)
    s = logits.clone().requires_grad_()
    with MatmulDtypes() as seen:
        out = sparse_diff_pool(g, torch.eye(12), s)
        (grad,) = torch.autograd.grad(out.link_loss, s)
    assert seen.dtypes == {torch.float32}
    torch.testing.assert_close(out.link_loss.double(), want, rtol=1e-5, atol=0)
    torch.testing.assert_close(grad.double(), want_grad, rtol=1e-4, atol=1e-9)
    # ... and where S fits A they are recomputed in float64 (the value itself: the test above).
    g, logits = _two_cliques()
    with MatmulDtypes() as seen:
        sparse_diff_pool(g, torch.eye(3), logits)
    assert torch.float64 in seen.dtypes
