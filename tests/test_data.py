"""The built-in dataset, dataset names, validation of graphs, indexing, splits and batching."""
import dgl
import numpy as np
import pytest
import torch
from dgl.dataloading import GraphDataLoader

from dgl_diffpool.data import (
    GraphClassificationData,
    HierarchicalCommunityDataset,
    iterate_batches,
    load_dataset,
    stratified_split,
)
from dgl_diffpool.data.registry import resolve_dataset_name
from dgl_diffpool.data.synthetic import PATTERNS, _super_edges
from dgl_diffpool.data.task import Task
from dgl_diffpool.errors import DatasetError


def test_synthetic_is_deterministic_and_balanced(tmp_path):
    a = HierarchicalCommunityDataset(num_graphs=40, seed=3, save_dir=str(tmp_path / "a"))
    b = HierarchicalCommunityDataset(num_graphs=40, seed=3, save_dir=str(tmp_path / "b"))
    c = HierarchicalCommunityDataset(num_graphs=40, seed=4, save_dir=str(tmp_path / "c"))
    assert torch.equal(a.labels, b.labels)
    assert all(torch.equal(torch.stack(x.edges()), torch.stack(y.edges())) for x, y in zip(a.graphs, b.graphs))
    assert any(x.num_edges() != y.num_edges() for x, y in zip(a.graphs, c.graphs))
    assert torch.bincount(a.labels).tolist() == [10, 10, 10, 10]
    # Undirected: every edge is stored in both directions; features are one-hot degrees.
    g = a.graphs[0]
    assert g.has_edges_between(*g.edges()[::-1]).all()
    torch.testing.assert_close(g.ndata["feat"].argmax(1), g.in_degrees().clamp_max(a.params["max_degree"]))
    # Cached: a second construction loads the same graphs from disk.
    again = HierarchicalCommunityDataset(num_graphs=40, seed=3, save_dir=str(tmp_path / "a"))
    assert torch.equal(again.labels, a.labels)


def test_super_graph_patterns():
    assert _super_edges("path", 4) == [(0, 1), (1, 2), (2, 3)]
    assert _super_edges("cycle", 4) == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert _super_edges("star", 4) == [(0, 1), (0, 2), (0, 3)]
    assert _super_edges("binary-tree", 5) == [(0, 1), (0, 2), (1, 3), (1, 4)]
    assert len(PATTERNS) == 4


def test_load_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'NOPE'; available: synthetic"):
        load_dataset("NOPE", str(tmp_path))
    # A data directory that does not exist is created, as DGL, ogb and PyG create their roots;
    # not for a name that is refused.
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("NOPE", str(tmp_path / "refused"))
    assert not (tmp_path / "refused").exists()
    assert len(load_dataset("synthetic", str(tmp_path / "missing" / "data"))) == 1000


@pytest.mark.parametrize(
    "given, official",
    [
        ("MUTAG", "MUTAG"), ("mutag", "MUTAG"), ("Mutag", "MUTAG"), ("mutagenicity", "Mutagenicity"),
        ("enzymes", "ENZYMES"), ("proteins_full", "PROTEINS_full"), ("PROTEINS-FULL", "PROTEINS_full"),
        ("imdb_binary", "IMDB-BINARY"), ("ogbg_molhiv", "ogbg-molhiv"), ("OGBG-MOLHIV", "ogbg-molhiv"),
        ("Reddit-Threads", "reddit_threads"), ("syntheticnew", "SYNTHETICnew"),
        # Exact matches first: the built-in dataset and the TU dataset differ only by case.
        ("synthetic", "synthetic"), ("SYNTHETIC", "SYNTHETIC"),
    ],
)
def test_dataset_names_resolve_to_the_official_spelling(given, official):
    assert resolve_dataset_name(given) == official


@pytest.mark.parametrize(
    "given, message",
    [
        ("mutagg", r"^unknown dataset 'mutagg'; did you mean MUTAG\? \(available: synthetic, AIDS, .*, ogbg-ppa\)$"),
        ("MUTAG_", r"^unknown dataset 'MUTAG_'; did you mean MUTAG\? \(available: "),
        ("enzyme", r"^unknown dataset 'enzyme'; did you mean ENZYMES\? \("),
        ("proteins-ful", r"^unknown dataset 'proteins-ful'; did you mean PROTEINS_full or PROTEINS\? \("),
        ("Synthetic", r"^dataset name 'Synthetic' is ambiguous; did you mean synthetic or SYNTHETIC\?$"),
        ("NOPE", r"^unknown dataset 'NOPE'; available: synthetic, AIDS, .*, ogbg-ppa$"),
    ],
)
def test_unknown_dataset_names_suggest_the_closest(tmp_path, given, message):
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(given, str(tmp_path / "data"))
    assert "\n" not in str(info.value)
    if "did you mean" not in message:
        assert "did you mean" not in str(info.value)
    assert not (tmp_path / "data").exists()  # refused before anything is created


def test_validation_names_the_problem():
    g = dgl.graph(([0], [1]))
    g.ndata["feat"] = torch.ones(2, 3)
    empty = dgl.graph(([], []), num_nodes=0)
    empty.ndata["feat"] = torch.ones(0, 3)
    bad = dgl.graph(([0], [1]))
    bad.ndata["feat"] = torch.tensor([[1.0, float("nan"), 0.0], [0.0, 0.0, 0.0]])
    with pytest.raises(DatasetError, match="graph 1 has no nodes"):
        GraphClassificationData("x", [g, empty], torch.tensor([0, 1]))
    with pytest.raises(DatasetError, match="graph 1 has NaN or infinite node features"):
        GraphClassificationData("x", [g, bad], torch.tensor([0, 1]))
    with pytest.raises(DatasetError, match="2 graphs but 1 labels"):
        GraphClassificationData("x", [g, g], torch.tensor([0]))
    with pytest.raises(DatasetError, match="has no graphs"):
        GraphClassificationData("x", [], torch.tensor([]))


def test_one_class_is_refused_but_a_subset_may_lack_classes():
    g = dgl.graph(([0], [1]))
    g.ndata["feat"] = torch.ones(2, 3)
    one_class = r"^dataset x has one class \(all 2 graphs have the same label\): nothing to classify$"
    with pytest.raises(DatasetError, match=one_class):
        GraphClassificationData("x", [g, g], torch.tensor([0, 0]))  # one class inferred from the labels
    with pytest.raises(DatasetError, match=one_class):
        GraphClassificationData("x", [g, g], torch.tensor([0, 0]), num_classes=1)
    # The class count decides, not the labels present: a fold of a 3-class dataset may hold one class.
    assert GraphClassificationData("x", [g, g], torch.tensor([2, 2]), num_classes=3).num_classes == 3
    assert GraphClassificationData("x", [g, g], torch.tensor([0, 1])).num_classes == 2


def test_stratified_split_is_disjoint_covering_and_stratified():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    parts = stratified_split(labels, 0.1, 0.2, seed=0)
    joined = torch.cat(list(parts.values()))
    assert sorted(joined.tolist()) == list(range(100))
    assert torch.bincount(labels[parts["valid"]]).tolist() == [5, 3, 2]
    assert torch.bincount(labels[parts["test"]]).tolist() == [10, 6, 4]
    assert torch.equal(parts["test"], stratified_split(labels, 0.1, 0.2, seed=0)["test"])
    assert not torch.equal(parts["test"], stratified_split(labels, 0.1, 0.2, seed=1)["test"])


def test_batches_cover_indices_in_generator_order(tmp_path):
    ds = HierarchicalCommunityDataset(num_graphs=12, seed=0, save_dir=str(tmp_path))
    data = GraphClassificationData("s", ds.graphs, ds.labels)
    idx = torch.arange(12)
    first = [b.labels for b in iterate_batches(data, idx, 5, torch.Generator().manual_seed(7))]
    second = [b.labels for b in iterate_batches(data, idx, 5, torch.Generator().manual_seed(7))]
    assert [len(x) for x in first] == [5, 5, 2]
    assert all(torch.equal(x, y) for x, y in zip(first, second))
    batch = next(iterate_batches(data, idx, 5))
    assert batch.graph.batch_size == 5 and batch.feat.shape[0] == batch.graph.num_nodes()
    assert torch.equal(batch.labels, data.labels[:5])


def test_bucketed_batches_group_similar_sizes_and_respect_the_cap():
    from dgl_diffpool.data.batching import batch_indices

    gen = torch.Generator().manual_seed(0)
    sizes = torch.randint(1, 200, (103,), generator=gen)
    idx = torch.randperm(103, generator=gen)[:90]

    def padded(batches):
        return sum(len(b) * int(sizes[b].max()) for b in batches)

    # Without a generator (evaluation): the exact sort, so size ranges of batches never interleave.
    exact = batch_indices(sizes, idx, 8, bucket=True, max_padded_nodes=600)
    ranges = sorted((int(sizes[b].min()), int(sizes[b].max())) for b in exact)
    assert all(hi <= lo_next for (_, hi), (lo_next, _) in zip(ranges, ranges[1:]))
    # A batch is cut only when the cap or the batch size forces it.
    for b, nxt in zip(exact, exact[1:]):
        assert len(b) == 8 or (len(b) + 1) * int(sizes[nxt].max()) > 600

    epochs = [batch_indices(sizes, idx, 8, torch.Generator().manual_seed(s), bucket=True, max_padded_nodes=600)
              for s in (3, 4)]
    for batches in [exact] + epochs:
        assert sorted(torch.cat(batches).tolist()) == sorted(idx.tolist())
        for b in batches:
            assert len(b) <= 8
            assert len(b) == 1 or len(b) * int(sizes[b].max()) <= 600
    # Training epochs: similar sizes together (far less padding than random batches) ...
    random_batches = batch_indices(sizes, idx, 8, torch.Generator().manual_seed(3))
    assert padded(epochs[0]) < 0.8 * padded(random_batches)
    # ... but the members of a batch change from epoch to epoch, not only the batch order.
    members = [{frozenset(b.tolist()) for b in batches} for batches in epochs]
    assert len(members[0] & members[1]) < len(members[0]) / 2
    again = batch_indices(sizes, idx, 8, torch.Generator().manual_seed(3), bucket=True, max_padded_nodes=600)
    assert all(torch.equal(a, b) for a, b in zip(epochs[0], again))
    # Unbucketed: shuffled chunks of the batch size, cut early by the cap alone.
    plain = batch_indices(sizes, idx, 8, torch.Generator().manual_seed(3))
    shuffled = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(3))]
    assert [b.tolist() for b in plain] == [b.tolist() for b in torch.split(shuffled, 8)]
    capped = batch_indices(sizes, idx, 8, torch.Generator().manual_seed(3), max_padded_nodes=600)
    assert torch.equal(torch.cat(capped), shuffled) and len(capped) > len(plain)
    assert all(len(b) == 1 or len(b) * int(sizes[b].max()) <= 600 for b in capped)
    huge = batch_indices(torch.tensor([5, 900, 5]), torch.arange(3), 8, bucket=True, max_padded_nodes=100)
    assert [b.tolist() for b in huge] == [[0, 2], [1]]  # a graph above the cap goes alone
    with pytest.raises(ValueError, match="max_padded_nodes must be >= 0"):
        batch_indices(sizes, idx, 8, bucket=True, max_padded_nodes=-1)
    with pytest.raises(ValueError, match="size_spread must be >= 1"):
        batch_indices(sizes, idx, 8, bucket=True, size_spread=0.5)


def test_bucketing_changes_speed_not_scores(tmp_path):
    from dgl_diffpool.models import build_model
    from dgl_diffpool.training import evaluate

    ds = HierarchicalCommunityDataset(num_graphs=40, seed=0, save_dir=str(tmp_path))
    data = GraphClassificationData("s", ds.graphs, ds.labels)
    torch.manual_seed(0)
    model = build_model("diffpool", **data.model_shape(), hidden_feats=8, mlp_hidden=8, adaptive_clusters=True)
    model.eval()
    plain = evaluate(model, data, torch.arange(40), 7, "cpu")
    bucketed = evaluate(model, data, torch.arange(40), 7, "cpu", bucket=True, max_padded_nodes=150)
    assert plain.keys() == bucketed.keys()
    # Per-graph quantities do not depend on the batching; the entropy is a mean over a batch's nodes.
    for key in ("acc", "ce", "link"):
        assert plain[key] == pytest.approx(bucketed[key], rel=1e-5, abs=1e-6), key


def _small_data(tmp_path, num_graphs=12):
    ds = HierarchicalCommunityDataset(num_graphs=num_graphs, seed=0, save_dir=str(tmp_path))
    return GraphClassificationData("s", ds.graphs, ds.labels)


def _same_graph(g, h) -> bool:
    """Same nodes, edges (in order) and data: graphs are built from the store on access, so not the same object."""
    return (g.num_nodes() == h.num_nodes() and all(torch.equal(a, b) for a, b in zip(g.edges(), h.edges()))
            and g.ndata.keys() == h.ndata.keys() and all(torch.equal(g.ndata[k], h.ndata[k]) for k in g.ndata)
            and g.edata.keys() == h.edata.keys() and all(torch.equal(g.edata[k], h.edata[k]) for k in g.edata))


def test_dataset_indexes_like_dgl_datasets(tmp_path):
    data = _small_data(tmp_path)
    assert len(data) == len(data.graphs) == 12
    for i in range(12):
        graph, label = data[i]
        assert _same_graph(graph, data.graphs[i])
        assert isinstance(label, torch.Tensor) and label.shape == () and label.dtype == torch.long
        assert int(label) == int(data.labels[i])
    for i in (-1, -5, -12):
        graph, label = data[i]
        assert _same_graph(graph, data.graphs[12 + i]) and int(label) == int(data.labels[12 + i])
    # Integer-like indices, as samplers may give.
    assert _same_graph(data[np.int64(3)][0], data.graphs[3]) and _same_graph(data[torch.tensor(4)][0], data.graphs[4])
    for bad in (12, 13, -13):
        with pytest.raises(IndexError, match=f"^dataset s: graph index {bad} out of range for 12 graphs$"):
            data[bad]
    for bad in (1.0, "0", slice(0, 2)):
        with pytest.raises(TypeError, match="dataset s: graph indices must be integers"):
            data[bad]
    # Iteration (ended by the IndexError) gives every pair once.
    pairs = list(data)
    assert len(pairs) == 12 and all(_same_graph(g, h) for (g, _), h in zip(pairs, data.graphs))
    assert torch.equal(torch.stack([y for _, y in pairs]), data.labels)


def test_graph_data_loader_batches_graphs_and_labels(tmp_path):
    data = _small_data(tmp_path)
    order = [3, 0, 7, 7, 11, 2, 9]
    loader = GraphDataLoader(data, batch_size=5, sampler=order)
    batches = list(loader)
    assert len(batches) == 2
    for (graph, labels), chunk in zip(batches, (order[:5], order[5:])):
        assert graph.batch_size == len(chunk)
        assert torch.equal(labels, data.labels[chunk])
        assert graph.num_nodes() == int(data.num_nodes[chunk].sum())
        assert graph.batch_num_nodes().tolist() == data.num_nodes[chunk].tolist()
        assert graph.num_edges() == sum(data.graphs[i].num_edges() for i in chunk)
        assert torch.equal(graph.ndata["feat"], torch.cat([data.graphs[i].ndata["feat"] for i in chunk]))
        # The project's own batching of the same graphs agrees.
        own = next(iterate_batches(data, torch.tensor(chunk), len(chunk)))
        assert torch.equal(own.labels, labels) and torch.equal(own.feat, graph.ndata["feat"])
    # Shuffled, the batches still cover the dataset once.
    seen = [(g.batch_num_nodes(), y) for g, y in GraphDataLoader(data, batch_size=5, shuffle=True)]
    assert sum(len(y) for _, y in seen) == 12
    assert sorted(torch.cat([y for _, y in seen]).tolist()) == sorted(data.labels.tolist())
    assert int(sum(n.sum() for n, _ in seen)) == int(data.num_nodes.sum())


def test_binary_task_items_carry_a_row_of_targets():
    graphs = []
    for n in (2, 3, 4):
        g = dgl.graph((list(range(n - 1)), list(range(1, n))), num_nodes=n)
        g.ndata["feat"] = torch.ones(n, 2)
        graphs.append(g)
    labels = torch.tensor([[0.0, 1.0], [1.0, float("nan")], [1.0, 0.0]])
    data = GraphClassificationData("b", graphs, labels, task=Task("binary", 2))
    graph, target = data[1]
    assert _same_graph(graph, graphs[1]) and target.shape == (2,) and target[0] == 1 and torch.isnan(target[1])
    graph, targets = next(iter(GraphDataLoader(data, batch_size=3)))
    assert graph.num_nodes() == 9 and targets.shape == (3, 2)
    torch.testing.assert_close(targets, labels, equal_nan=True)  # NaN: a missing target
