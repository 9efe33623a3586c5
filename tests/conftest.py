import os

os.environ.setdefault("DGLBACKEND", "pytorch")
os.environ.setdefault("OUTDATED_IGNORE", "1")

import dgl  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


def random_graph(n: int, p: float, gen: torch.Generator, symmetric: bool = False) -> dgl.DGLGraph:
    """Random directed graph on n nodes (self-loops allowed), as a DGLGraph."""
    if n == 0:
        return dgl.graph(([], []), num_nodes=0)
    a = torch.rand(n, n, generator=gen) < p
    if symmetric:
        a = a | a.T
    src, dst = a.nonzero(as_tuple=True)
    return dgl.graph((src, dst), num_nodes=n)


def dense_adjacency(g: dgl.DGLGraph, weight=None) -> torch.Tensor:
    """A[u, v] = summed weight of edges u -> v (PyG's to_dense_adj convention)."""
    n = g.num_nodes()
    src, dst = g.edges()
    w = torch.ones(src.numel(), dtype=torch.float64) if weight is None else weight.double()
    return torch.zeros(n, n, dtype=torch.float64).index_put((src, dst), w, accumulate=True)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def varied_graphs(gen):
    """Graphs of varied sizes including a 1-node graph, an edgeless graph, one with a self-loop."""
    sizes = [7, 1, 12, 5, 3, 9]
    graphs = [random_graph(n, 0.3, gen) for n in sizes]
    graphs[4] = dgl.graph(([], []), num_nodes=3)  # edgeless
    graphs[0] = dgl.add_edges(graphs[0], [2, 2, 4], [2, 5, 5])  # self-loop and duplicates
    return graphs


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """One cache of the built-in dataset shared by the whole session."""
    return str(tmp_path_factory.mktemp("data"))
