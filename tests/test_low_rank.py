"""The factored coarsened adjacency equals the explicit one in every use, values and gradients."""
import dgl
import pytest
import torch

from dgl_diffpool.models import DiffPoolClassifier
from dgl_diffpool.nn import (
    DenseGCNConv,
    DenseGINConv,
    DenseSAGEConv,
    LowRankAdjacency,
    cluster_mask_from_counts,
    dense_diff_pool,
    sparse_diff_pool,
)
from dgl_diffpool.nn import low_rank

from conftest import random_graph

K = 8  # graphs of 7, 1, 5 and 3 nodes are factored, those of 12 and 9 are not


def _pool_both(graphs, gen, weighted=False, cluster_mask=None, d=3):
    """Explicit and factored pooling of the same inputs, and those inputs: x, s and the edge weights."""
    bg = dgl.batch(graphs)
    n = bg.num_nodes()
    x = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    s = (2 * torch.randn(n, K, generator=gen, dtype=torch.float64)).requires_grad_()
    inputs, key = [x, s], None
    if weighted:
        w = torch.rand(bg.num_edges(), generator=gen, dtype=torch.float64).add(0.5).requires_grad_()
        bg.edata["w"], key = w, "w"
        inputs.append(w)
    explicit = sparse_diff_pool(bg, x, s, key, cluster_mask)
    factored = sparse_diff_pool(bg, x, s, key, cluster_mask, factorize=True)
    return inputs, explicit, factored


@pytest.mark.parametrize("weighted", [False, True])
def test_factored_pooling_equals_explicit(varied_graphs, gen, weighted):
    inputs, explicit, factored = _pool_both(varied_graphs, gen, weighted)
    adj = factored.adj
    assert isinstance(adj, LowRankAdjacency)
    assert adj.factored == [True, True, False, True, True, False]
    assert torch.is_tensor(explicit.adj)
    dense = explicit.adj
    torch.testing.assert_close(adj.to_dense(), dense)
    torch.testing.assert_close(factored.x, explicit.x)
    torch.testing.assert_close(factored.link_loss, explicit.link_loss)
    torch.testing.assert_close(factored.entropy_loss, explicit.entropy_loss)

    h = torch.randn(len(varied_graphs), K, 4, generator=gen, dtype=torch.float64)
    logits2 = torch.randn(len(varied_graphs), K, 3, generator=gen, dtype=torch.float64)
    s2 = torch.softmax(logits2, -1)
    for fn, args in [
        (low_rank.propagate, (h,)),
        (low_rank.coarsen, (s2,)),
        (low_rank.in_degree, ()),
        (low_rank.out_degree, ()),
        (low_rank.square_norm, ()),
    ]:
        torch.testing.assert_close(fn(adj, *args), fn(dense, *args), msg=fn.__name__)
    torch.testing.assert_close(low_rank.propagate(dense, h), dense.transpose(1, 2) @ h)

    def scalar(out, a):
        nxt = dense_diff_pool(out.x, a, logits2, out.mask)  # the next level pools this adjacency
        return (
            out.x.square().sum() + 3 * out.link_loss + out.entropy_loss
            + low_rank.propagate(a, h).sin().sum() + low_rank.coarsen(a, s2).square().sum()
            + low_rank.square_norm(a).add(1).sqrt().sum() + low_rank.in_degree(a).square().sum()
            + low_rank.out_degree(a).cos().sum() + nxt.adj.square().sum() + 5 * nxt.link_loss
        )

    # With weights, their gradients too: the factored path reaches them through A's products and degrees.
    got = torch.autograd.grad(scalar(factored, adj), inputs)
    want = torch.autograd.grad(scalar(explicit, dense), inputs)
    assert len(got) == (3 if weighted else 2)
    for a, b in zip(got, want):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b)


def test_factored_pooling_respects_cluster_masks(varied_graphs, gen):
    counts = torch.tensor([8, 1, 8, 2, 8, 3])  # 1 < 1 and 5 < 2 are false: those stay explicit
    mask = cluster_mask_from_counts(counts, K)
    _, explicit, factored = _pool_both(varied_graphs, gen, cluster_mask=mask)
    assert factored.adj.factored == [True, False, False, False, True, False]
    torch.testing.assert_close(factored.adj.to_dense(), explicit.adj)
    torch.testing.assert_close(factored.link_loss, explicit.link_loss)
    # The next dense level gives the same result either way.
    node_mask = mask
    z = torch.randn(len(varied_graphs), K, 5, generator=gen, dtype=torch.float64)
    logits = torch.randn(len(varied_graphs), K, 3, generator=gen, dtype=torch.float64)
    a = dense_diff_pool(z, factored.adj, logits, node_mask)
    b = dense_diff_pool(z, explicit.adj, logits, node_mask)
    for got, want in zip(a, b):
        torch.testing.assert_close(got, want)


def test_no_graph_qualifies_keeps_a_tensor(gen):
    graphs = [random_graph(n, 0.4, gen) for n in (9, 12)]
    _, explicit, factored = _pool_both(graphs, gen)
    assert torch.is_tensor(factored.adj)
    torch.testing.assert_close(factored.adj, explicit.adj)


def test_factored_link_loss_on_a_hand_made_graph():
    # Two nodes joined both ways, each hard-assigned to its own cluster out of 4:
    # A' = [[0, 1], [1, 0]] padded to 4 x 4, ||A - S S^T||^2 = ||A||^2 + ||I||^2 = 4.
    g = dgl.graph(([0, 1], [1, 0]))
    s = torch.tensor([[60.0, 0.0, 0.0, 0.0], [0.0, 60.0, 0.0, 0.0]])
    out = sparse_diff_pool(g, torch.eye(2), s, factorize=True)
    assert isinstance(out.adj, LowRankAdjacency)
    want = torch.zeros(1, 4, 4)
    want[0, 0, 1] = want[0, 1, 0] = 1.0
    torch.testing.assert_close(out.adj.to_dense(), want, atol=1e-6, rtol=0)
    assert out.link_loss.item() == pytest.approx(2.0 / 4, abs=1e-5)  # sqrt(4) / n^2
    torch.testing.assert_close(out.adj.square_norm(), torch.tensor([2.0], dtype=torch.float64), atol=1e-5, rtol=0)


@pytest.mark.parametrize("conv", [DenseSAGEConv, DenseGCNConv, DenseGINConv])
@pytest.mark.parametrize("in_feats", [3, 12])  # SAGE aggregates before or after its linear map
def test_dense_convs_accept_the_factored_adjacency(varied_graphs, gen, conv, in_feats):
    _, explicit, factored = _pool_both(varied_graphs, gen, weighted=True, d=in_feats)
    torch.manual_seed(0)
    layer = conv(in_feats, 6).double()
    mask = factored.mask
    torch.testing.assert_close(layer(factored.x, factored.adj, mask), layer(explicit.x, explicit.adj, mask))


@pytest.mark.parametrize("pool_levels", [1, 2])
def test_classifier_is_the_same_with_and_without_factoring(gen, pool_levels):
    sizes = (3, 40, 7, 12, 2)
    graphs = [random_graph(n, 0.2, gen, symmetric=True) for n in sizes]
    feat = torch.randn(sum(sizes), 5, generator=gen)
    torch.manual_seed(0)
    model = DiffPoolClassifier(5, 3, max_num_nodes=40, pool_levels=pool_levels, hidden_feats=8,
                               adaptive_clusters=False)  # the paper's one K per level: small graphs are factored
    model.first_pool.min_factored_clusters = 1
    bg = dgl.batch(graphs)
    outs, grads = [], []
    for factorize in (True, False):
        model.first_pool.factorize = factorize
        model.zero_grad()
        out = model(bg, feat)
        (out.logits.square().sum() + out.aux_loss).backward()
        outs.append(out)
        grads.append([p.grad.clone() for p in model.parameters()])
    assert model.num_clusters[0] == 10  # graphs of 3, 7 and 2 nodes are factored
    assert isinstance(model.first_pool(bg, feat)[1].adj, torch.Tensor)
    model.first_pool.factorize = True
    assert isinstance(model.first_pool(bg, feat)[1].adj, LowRankAdjacency)
    model.first_pool.min_factored_clusters = 11
    assert isinstance(model.first_pool(bg, feat)[1].adj, torch.Tensor)
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
