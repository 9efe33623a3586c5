"""Planted communities of the built-in dataset and how well DiffPool's clusters recover them."""
import json
import os

import dgl
import networkx as nx
import pytest
import torch

from dgl_diffpool.data import GraphClassificationData, HierarchicalCommunityDataset, load_dataset
from dgl_diffpool.errors import DiffPoolError
from dgl_diffpool.models import build_model
from dgl_diffpool.models.communities import community_recovery, first_level_clusters
from dgl_diffpool.plotting import draw_assignments
from dgl_diffpool.training import RunConfig, load_checkpoint, model_from_checkpoint, train


def test_synthetic_graphs_carry_their_planted_communities(tmp_path):
    ds = HierarchicalCommunityDataset(num_graphs=20, seed=1, save_dir=str(tmp_path))
    lo, hi = ds.params["community_size"]
    for g in ds.graphs:
        community = g.ndata["community"]
        sizes = torch.bincount(community)
        m = len(sizes)
        assert ds.params["communities"][0] <= m <= ds.params["communities"][1]
        assert ((sizes >= lo) & (sizes <= hi)).all()
        assert torch.equal(community, torch.sort(community).values)  # consecutive node ids
        nxg = dgl.to_networkx(g).to_undirected()
        for c in range(m):  # each community is connected on its own (its ring)
            assert nx.is_connected(nxg.subgraph(torch.nonzero(community == c).flatten().tolist()))
        # Communities are dense and joined by few edges: most edges stay inside one.
        src, dst = g.edges()
        assert (community[src] == community[dst]).float().mean() > 0.8


def _one_cluster_model(data):
    """DiffPool whose assignment logits are the same for every node: everything in cluster 1."""
    model = build_model("diffpool", **data.model_shape(), hidden_feats=8, mlp_hidden=8)
    head = model.first_pool.assign_out
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[1] = 5.0
    return model


def _graph(edges, n, community):
    src, dst = zip(*edges)
    g = dgl.graph((torch.tensor(src + dst), torch.tensor(dst + src)), num_nodes=n)
    g.ndata["feat"] = torch.ones(n, 3)
    g.ndata["community"] = torch.tensor(community)
    return g


def test_community_recovery_on_hand_made_graphs():
    two = _graph([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (2, 3)], 6, [0, 0, 0, 1, 1, 1])
    one = _graph([(0, 1), (1, 2)], 3, [0, 0, 0])
    data = GraphClassificationData("x", [two, one], torch.tensor([0, 1]))
    model = _one_cluster_model(data)
    assert first_level_clusters(model, two).tolist() == [1] * 6
    # One cluster against two communities: chance level (ARI 0, NMI 0); against one: the same partition.
    assert community_recovery(model, [two]) == {"community_ari": 0.0, "community_nmi": 0.0}
    assert community_recovery(model, [one]) == {"community_ari": 1.0, "community_nmi": 1.0}
    assert community_recovery(model, [two, one]) == {"community_ari": 0.5, "community_nmi": 0.5}
    plain = _graph([(0, 1)], 2, [0, 0])
    del plain.ndata["community"]
    with pytest.raises(DiffPoolError, match="no planted communities"):
        community_recovery(model, [plain])
    with pytest.raises(DiffPoolError, match="only DiffPool models"):
        community_recovery(build_model("sage-mean", **data.model_shape(), hidden_feats=8, mlp_hidden=8), [two])


def test_runs_report_community_recovery_of_their_test_graphs(tmp_path, data_dir):
    full = load_dataset("synthetic", data_dir)
    part = GraphClassificationData("synthetic", full.graphs[:100], full.labels[:100])
    base = dict(data_dir=data_dir, epochs=1, hidden=8, mlp_hidden=8, batch_size=64)
    run = str(tmp_path / "diffpool")
    result = train(RunConfig(**base), run, data=part)
    payload = load_checkpoint(os.path.join(run, "best.pt"))
    model, _ = model_from_checkpoint(payload)
    test = [part.graphs[i] for i in payload["splits"]["test"]]
    expected = community_recovery(model, test)
    assert result.community == expected and -1.0 <= expected["community_ari"] <= 1.0
    assert json.load(open(os.path.join(run, "summary.json")))["community"] == expected
    # The picture colours the nodes by the clusters the measure uses.
    colours = draw_assignments(model, part, [0, 1], str(tmp_path / "a.png"))
    assert colours == {i: first_level_clusters(model, part.graphs[i]).tolist() for i in (0, 1)}
    flat = train(RunConfig(**base, model="sage-mean"), str(tmp_path / "flat"), data=part)
    assert flat.community is None
    assert json.load(open(os.path.join(tmp_path, "flat", "summary.json")))["community"] is None
