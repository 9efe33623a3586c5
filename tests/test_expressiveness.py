"""What DiffPool can tell apart: no more than its GNNs' node views and the pairs of views an edge joins.

In eval mode, the assignment S and the embeddings Z of the first level are functions of each node's
view after L message-passing layers (with GraphSAGE or GIN at most its L-round Weisfeiler-Lehman
colour; GCN's degree normalisation reads one round further) and of the graph's node count (per-graph
cluster counts). X' = SᵀZ sums them over nodes and A' = SᵀAS sums S[u]ᵀS[v] over edges, so the pooled
graph, every later level and the logits depend only on the multiset of node colours and the multiset
of (colour, colour) pairs over edges. Graphs equal in both get the same logits from every such
DiffPool, however many levels it has; a flat GNN one layer deeper (L + 1 rounds of WL) may still
tell them apart.

The graphs: a ring of four 4-cliques of kinds A or B, each joined to the next by a path of
``length`` edges whose nodes are of a third kind. Whether some path joins two cliques of the
same kind (AABB) or none does (ABAB) is visible only to a node that sees both ends of a path.
"""
from collections import Counter

import dgl
import networkx as nx
import pytest
import torch

from dgl_diffpool.models import build_model


def _ring(kinds: str, length: int) -> tuple[dgl.DGLGraph, torch.Tensor]:
    """Node ``4c`` of clique ``c`` is joined to node 1 of the next clique (around the ring) by a path
    of ``length`` edges; features are one-hot kinds (A, B, path node)."""
    edges, kind = [], []
    for c, k in enumerate(kinds):
        base = 4 * c
        edges += [(base + i, base + j) for i in range(4) for j in range(i + 1, 4)]
        kind += [0 if k == "A" else 1] * 4
    n = len(kind)
    for c in range(len(kinds)):
        path = [4 * c] + list(range(n, n + length - 1)) + [4 * ((c + 1) % len(kinds)) + 1]
        edges += list(zip(path, path[1:]))
        kind += [2] * (length - 1)
        n += length - 1
    src, dst = (torch.tensor(t) for t in zip(*edges))
    graph = dgl.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=n)
    return graph, torch.nn.functional.one_hot(torch.tensor(kind), 3).float()


def _wl(graph: dgl.DGLGraph, feat: torch.Tensor) -> nx.Graph:
    g = nx.Graph(list(zip(*(t.tolist() for t in graph.edges()))))
    nx.set_node_attributes(g, {u: str(int(feat[u].argmax())) for u in g}, "kind")
    return g


def _colours(graph, feat, rounds):
    """The multisets of node colours and of edge colour pairs after ``rounds`` rounds of WL."""
    g = _wl(graph, feat)
    hashes = nx.weisfeiler_lehman_subgraph_hashes(g, node_attr="kind", iterations=rounds)
    colour = {u: h[rounds - 1] for u, h in hashes.items()}
    return Counter(colour.values()), Counter(tuple(sorted((colour[u], colour[v]))) for u, v in g.edges())


def _diffpool(graph, seed, layers, **options):
    """A randomly initialised DiffPool in float64: the differences below are near float32's rounding."""
    torch.manual_seed(seed)
    return build_model("diffpool", 3, 2, max_num_nodes=graph.num_nodes(), hidden_feats=16, mlp_hidden=16,
                       gnn_layers=layers, **options).double().eval()


@pytest.mark.parametrize("layers", [1, 3])
def test_the_rings_differ_only_where_a_node_sees_both_ends_of_a_bridge(layers):
    for length in (2 * layers + 1, 2 * layers + 2):
        alternating, paired = _ring("ABAB", length), _ring("AABB", length)
        assert _colours(*alternating, layers)[0] == _colours(*paired, layers)[0]
        hashes = [nx.weisfeiler_lehman_graph_hash(_wl(*ring), node_attr="kind", iterations=layers + 1)
                  for ring in (alternating, paired)]
        assert hashes[0] != hashes[1]  # a flat GNN one layer deeper may tell them apart
    # The middle edge of a bridge of 2L + 1 edges joins two nodes that each see one end; of 2L + 2, it does not.
    short, long = 2 * layers + 1, 2 * layers + 2
    assert _colours(*_ring("ABAB", short), layers)[1] != _colours(*_ring("AABB", short), layers)[1]
    assert _colours(*_ring("ABAB", long), layers)[1] == _colours(*_ring("AABB", long), layers)[1]


def _permuted(graph: dgl.DGLGraph, feat: torch.Tensor, seed: int) -> tuple[dgl.DGLGraph, torch.Tensor]:
    perm = torch.randperm(graph.num_nodes(), generator=torch.Generator().manual_seed(seed))
    new_id = torch.empty_like(perm)
    new_id[perm] = torch.arange(len(perm))
    src, dst = graph.edges()
    return dgl.graph((new_id[src], new_id[dst]), num_nodes=graph.num_nodes()), feat[perm]


@pytest.mark.parametrize("options", [dict(), dict(pool_levels=2), dict(readout="sum", conv="gin")])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_diffpool_cannot_tell_apart_graphs_with_the_same_node_and_edge_colours(options, layers, seed):
    def gap(length):
        # The paired ring with its nodes renumbered: no order or id can stand in for a view.
        rings = [_ring("ABAB", length), _permuted(*_ring("AABB", length), seed)]
        with torch.no_grad():
            logits = [_diffpool(g, seed, layers, **options)(g, x.double()).logits for g, x in rings]
        return (logits[0] - logits[1]).abs().max().item()

    blind = gap(2 * layers + 2)
    assert blind < 1e-12
    # One edge joining the two views: the logits differ, if little (second order, see below).
    assert gap(2 * layers + 1) > max(100 * blind, 1e-12)


@pytest.mark.parametrize("layers", [1, 3])
def test_one_edge_joining_the_two_views_reaches_the_pooled_adjacency_at_second_order(layers):
    """Bridges of 2L + 1 edges: X' is the same and A' differs by exactly -2 (s_A - s_B)(s_A - s_B)ᵀ, where
    s_A and s_B are the assignments of a middle edge's ends (L hops from an A and a B clique): ABAB has
    4 middle edges A-B, AABB one A-A, one B-B and two A-B. A small difference at initialisation, squared."""
    length = 2 * layers + 1
    (alternating, x_alt), (paired, x_pair) = _ring("ABAB", length), _ring("AABB", length)
    model = _diffpool(alternating, 0, layers)
    x_alt, x_pair = x_alt.double(), x_pair.double()
    with torch.no_grad():
        pooled = [model.first_pool(g, x)[1] for g, x in ((alternating, x_alt), (paired, x_pair))]
        s = model.first_pool.assignment(alternating, x_alt)
        logits = [model(g, x).logits for g, x in ((alternating, x_alt), (paired, x_pair))]
    middle = 16 + layers - 1  # clique 0 (kind A) is followed by the path's nodes 16, 17, ...
    s_a, s_b = s[middle], s[middle + 1]
    expected = -2 * torch.outer(s_a - s_b, s_a - s_b)
    torch.testing.assert_close(pooled[0].x, pooled[1].x, rtol=0, atol=1e-12)
    difference = (pooled[0].adj - pooled[1].adj)[0]
    assert expected.abs().max() > 1e-5  # not rounding: the ends' assignments differ
    torch.testing.assert_close(difference, expected, rtol=0, atol=1e-12)
    assert (logits[0] - logits[1]).abs().max() > 1e-9  # and the logits feel it (bridges of 2L + 2: 1e-15)
