"""The graph store: batches equal to dgl.batch, memory-mapped round trips, rebuilt old caches,
batches from worker processes equal to those made in-process, and OGB graphs equal to ogb's own."""
import json
import multiprocessing
import os
import sys

import dgl
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dgl_diffpool.data import GraphClassificationData, iterate_batches, load_dataset
from dgl_diffpool.data import batching
from dgl_diffpool.data import store as store_mod
from dgl_diffpool.data.store import GraphStore, open_store, save_store
from dgl_diffpool.errors import DatasetError

from procfs import command_line, processes
from test_data import _same_graph


def _graphs(sizes, seed=0, feat_dtype=torch.float32):
    rng = np.random.default_rng(seed)
    graphs = []
    for n in sizes:
        m = int(rng.integers(0, 3 * n + 1))
        g = dgl.graph((torch.as_tensor(rng.integers(0, n, m)), torch.as_tensor(rng.integers(0, n, m))), num_nodes=n)
        g.ndata["feat"] = (torch.randn(n, 3) if feat_dtype.is_floating_point
                           else torch.as_tensor(rng.integers(0, 100, (n, 2))).to(feat_dtype))
        g.edata["w"] = torch.as_tensor(rng.integers(-5, 5, m)).to(torch.int8)
        graphs.append(g)
    return graphs


def _mapped_file(address: int):
    """The file mapped at ``address`` in this process (from /proc/self/maps), or None."""
    with open("/proc/self/maps") as fh:
        for line in fh:
            fields = line.split()
            low, high = (int(x, 16) for x in fields[0].split("-"))
            if low <= address < high:
                return fields[5] if len(fields) > 5 else None
    return None


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=12), data=st.data())
def test_batches_and_graphs_equal_dgl_batch(sizes, data):
    graphs = _graphs(sizes, seed=len(sizes))
    store = GraphStore.from_graphs(graphs)
    picks = data.draw(st.lists(st.integers(0, len(sizes) - 1), min_size=1, max_size=8))
    batch, want = store.batch(picks), dgl.batch([graphs[i] for i in picks])
    assert all(torch.equal(a, b) for a, b in zip(batch.edges(), want.edges()))
    assert torch.equal(batch.batch_num_nodes(), want.batch_num_nodes())
    assert torch.equal(batch.batch_num_edges(), want.batch_num_edges())
    assert torch.equal(batch.ndata["feat"], want.ndata["feat"])
    assert batch.edata["w"].dtype == torch.int64 and torch.equal(batch.edata["w"], want.edata["w"].long())
    i = data.draw(st.integers(-len(sizes), len(sizes) - 1))
    g = store.graphs()[i]
    assert g.num_nodes() == graphs[i].num_nodes() and torch.equal(g.ndata["feat"], graphs[i].ndata["feat"])
    assert all(torch.equal(a, b) for a, b in zip(g.edges(), graphs[i].edges()))


def test_in_degrees_in_chunks_equal_dgl():
    graphs = _graphs([4, 7, 1, 9, 3])
    store = GraphStore.from_graphs(graphs)
    want = torch.cat([g.in_degrees() for g in graphs])
    assert torch.equal(store.in_degrees(chunk=3), want) and torch.equal(store.in_degrees(), want)


def test_round_trip_is_memory_mapped_and_copy_on_write(tmp_path):
    graphs = _graphs([3, 5, 2], feat_dtype=torch.int16)
    path = str(tmp_path / "x.store")
    save_store(path, GraphStore.from_graphs(graphs), {"labels": torch.tensor([2, 0, 1])}, {"num_classes": 3})
    store, arrays, info = open_store(path)
    assert info == {"num_classes": 3} and arrays["labels"].tolist() == [2, 0, 1]
    assert store.ndata["feat"].dtype == torch.int16  # kept narrow on disk ...
    g = store.graphs()[1]
    assert g.ndata["feat"].dtype == torch.int64 and torch.equal(g.ndata["feat"], graphs[1].ndata["feat"].long())
    assert _mapped_file(store.src.data_ptr()) == os.path.join(path, "src.npy")  # a mapping, not a copy in memory
    store.ndata["feat"][0] = 99  # changes stay in memory
    again, _, _ = open_store(path)
    assert int(again.ndata["feat"][0, 0]) == int(graphs[0].ndata["feat"][0, 0])


def test_other_formats_are_rebuilt_and_damage_is_one_line(tmp_path, monkeypatch):
    path = str(tmp_path / "x.store")
    save_store(path, GraphStore.from_graphs(_graphs([2, 2])), {}, {})
    meta = os.path.join(path, "meta.json")
    with open(meta) as fh:
        content = json.load(fh)
    with open(meta, "w") as fh:
        json.dump({**content, "format": store_mod.STORE_FORMAT - 1}, fh)
    assert open_store(path) is None  # an old layout is never misread
    assert open_store(str(tmp_path / "nothing")) is None
    save_store(path, GraphStore.from_graphs(_graphs([2, 2])), {}, {})  # replaces it
    assert open_store(path) is not None
    with open(os.path.join(path, "src.npy"), "wb") as fh:
        fh.write(b"garbage")
    with pytest.raises(DatasetError, match=r"^cannot read prepared dataset .*x\.store \(.*\); delete it to rebuild$"):
        open_store(path)


def test_a_tu_cache_of_an_older_format_is_rebuilt(tmp_path, monkeypatch):
    from test_tu_datasets import _write_tu

    mirror = tmp_path / "mirror"
    _write_tu(mirror / "tu", name="MUTAG")
    first = load_dataset("MUTAG", str(tmp_path / "data"), mirror=str(mirror))
    monkeypatch.setattr(store_mod, "STORE_FORMAT", store_mod.STORE_FORMAT + 1)
    calls = []
    from dgl_diffpool.data import tu

    real = tu.read_tu
    monkeypatch.setattr(tu, "read_tu", lambda *a: calls.append(a) or real(*a))
    again = load_dataset("MUTAG", str(tmp_path / "data"), mirror=str(mirror))
    assert len(calls) == 1 and all(_same_graph(g, h) for g, h in zip(first.graphs, again.graphs))
    load_dataset("MUTAG", str(tmp_path / "data"), mirror=str(mirror))
    assert len(calls) == 1  # and the rebuilt one is used


def test_store_checks_its_arrays():
    with pytest.raises(DatasetError, match="edge offsets end at 3 for 2 edges"):
        GraphStore(torch.tensor([0, 2]), torch.tensor([0, 3]), torch.zeros(2), torch.zeros(2))
    with pytest.raises(DatasetError, match="node offsets must start at 0 and never fall"):
        GraphStore(torch.tensor([0, 2, 1]), torch.tensor([0, 0, 0]), torch.zeros(0), torch.zeros(0))
    with pytest.raises(DatasetError, match="node data 'feat' has 3 rows for 2 nodes"):
        GraphStore(torch.tensor([0, 2]), torch.tensor([0, 0]), torch.zeros(0), torch.zeros(0),
                   {"feat": torch.zeros(3, 1)})
    store = GraphStore.from_graphs(_graphs([2, 3]))
    store.ndata["feat"][3, 1] = float("nan")
    with pytest.raises(DatasetError, match="^dataset s: graph 1 has NaN or infinite node features$"):
        GraphClassificationData("s", store, torch.tensor([0, 1]))


def _counting(cls):
    _counting.calls = 0

    def make(*args, **kwargs):
        _counting.calls += 1
        return cls(*args, **kwargs)
    return make


@pytest.mark.parametrize("shard", [(0, 1), (1, 2)])
def test_worker_batches_equal_in_process_batches(shard, monkeypatch):
    monkeypatch.setattr(batching, "WORKER_MIN_BATCHES", 2)
    monkeypatch.setattr(batching, "DataLoader", _counting(batching.DataLoader))
    graphs = _graphs([int(n) for n in np.random.default_rng(3).integers(1, 12, 50)])
    data = GraphClassificationData("s", graphs, torch.arange(50) % 3)
    indices = torch.arange(50)

    def batches(workers):
        generator = torch.Generator().manual_seed(7)
        return list(iterate_batches(data, indices, 6, generator, bucket=True, shard=shard, workers=workers))

    here, there = batches(0), batches(2)
    assert len(here) == len(there) > 1 and _counting.calls == 1  # the workers made the second list
    for a, b in zip(here, there):
        assert torch.equal(a.labels, b.labels) and torch.equal(a.feat, b.feat) and a.share == b.share
        assert all(torch.equal(x, y) for x, y in zip(a.graph.edges(), b.graph.edges()))
        assert torch.equal(a.graph.batch_num_nodes(), b.graph.batch_num_nodes())
    with pytest.raises(ValueError, match="workers must be >= 0"):
        next(iterate_batches(data, indices, 6, workers=-1))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="loader workers fork on Linux only")
def test_loader_workers_fork_in_a_process_whose_default_is_spawn(monkeypatch):
    # A selection worker is such a process: spawned loader workers would import torch every pass.
    monkeypatch.setattr(batching, "WORKER_MIN_BATCHES", 2)
    data = GraphClassificationData("s", _graphs([3] * 30), torch.arange(30) % 2)
    before = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("spawn", force=True)
    try:
        passing = iterate_batches(data, torch.arange(30), 4, workers=1)
        next(passing)
        children = [command_line(p.pid) for p in processes() if p.ppid == os.getpid()]
        assert len(list(passing)) == 7
    finally:
        multiprocessing.set_start_method(before, force=True)
    ours = command_line(os.getpid())
    assert ours in children, children  # a forked loader worker runs our command line
    assert not [c for c in children if "multiprocessing.spawn" in c], children


def test_a_short_pass_is_batched_in_process(monkeypatch):
    monkeypatch.setattr(batching, "DataLoader", _counting(batching.DataLoader))
    data = GraphClassificationData("s", _graphs([3] * 30), torch.arange(30) % 2)
    batches = list(iterate_batches(data, torch.arange(30), 4, workers=2))  # 8 batches: workers would cost more
    assert len(batches) == 8 and _counting.calls == 0


def test_a_store_written_meanwhile_is_kept_and_an_old_one_replaced(tmp_path):
    path = str(tmp_path / "x.store")
    save_store(path, GraphStore.from_graphs(_graphs([2, 3])), {"labels": torch.tensor([0, 1])}, {"who": "first"})
    save_store(path, GraphStore.from_graphs(_graphs([2, 3])), {"labels": torch.tensor([0, 1])}, {"who": "second"})
    assert open_store(path)[2] == {"who": "first"}  # complete and current: kept, never deleted under a reader
    meta = os.path.join(path, "meta.json")
    with open(meta) as fh:
        content = json.load(fh)
    with open(meta, "w") as fh:
        json.dump({**content, "format": store_mod.STORE_FORMAT - 1}, fh)
    save_store(path, GraphStore.from_graphs(_graphs([2, 3])), {"labels": torch.tensor([0, 1])}, {"who": "third"})
    assert open_store(path)[2] == {"who": "third"} and sorted(os.listdir(tmp_path)) == ["x.store"]


def _prepare(args):
    data_dir, mirror = args
    data = load_dataset("MUTAG", data_dir, mirror=mirror)
    return len(data), data.labels.tolist(), int(data.store.total_edges)


def test_processes_preparing_one_dataset_at_once_all_succeed(tmp_path):
    # What the ranks of one torchrun job do on a fresh data directory.
    import multiprocessing

    from test_tu_datasets import _write_tu

    mirror = tmp_path / "mirror"
    _write_tu(mirror / "tu", name="MUTAG")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(_prepare, [(str(tmp_path / "data"), str(mirror))] * 4)
    assert all(r == results[0] for r in results)
    assert sorted(os.listdir(tmp_path / "data" / "tu" / "MUTAG")) == ["MUTAG-auto.store", "MUTAG-info.json"]
