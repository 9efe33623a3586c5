"""The benchmark scripts run end to end on small inputs (their numbers are reported, not asserted)."""
import os
import sqlite3
import sys
import tarfile
import time

import dgl
import networkx as nx
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

pool_scaling = pytest.importorskip("pool_scaling")
train_speed = pytest.importorskip("train_speed")
import bridge_task  # noqa: E402  (no optional dependency: an import error should fail, not skip)
import pack_run  # noqa: E402


@pytest.mark.parametrize("impl", ["sparse", "dense"])
def test_pool_scaling_worker(impl):
    row = pool_scaling.worker(impl, 300, 16, repeats=1)
    assert row["nodes"] == 300 and row["edges"] == 3000 and row["seconds"] > 0 and row["peak_growth_mb"] >= 0


@pytest.mark.parametrize("variant", ["pyg-dense", "ours-fixed", "ours-fast", "sage-mean"])
def test_train_speed_worker_trains_one_epoch(variant, data_dir):
    row = train_speed.worker(variant, "synthetic", data_dir, None, warmup=1, max_padded=400, min_seconds=0.0)
    assert row["graphs"] == 1000 and row["epochs"] == 1 and row["seconds"] > 0
    assert row["peak_rss_mb"] > row["training_peak_mb"] >= 0
    if variant in ("ours-fast", "sage-mean"):
        assert row["batches"] > 50  # the cap split the batches of 20 (graphs of 25 to 64 nodes)
    else:
        assert row["batches"] == 50


def test_speed_table_reports_ratios_against_pyg():
    rows = [dict(variant="pyg-dense", dataset="X", seconds=10.0, graphs_per_s=1.0, peak_rss_mb=1000.0,
                 training_peak_mb=500.0),
            dict(variant="ours-fast", dataset="X", seconds=2.0, graphs_per_s=5.0, peak_rss_mb=250.0,
                 training_peak_mb=50.0),
            dict(variant="ours-fixed", dataset="X", error="MemoryError")]
    text = train_speed.table(rows)
    assert "| X | ours-fast | 2.00 | 5.0 | 250 | 50 | 5.00x | 4.00x lower |" in text
    assert "| X | ours-fixed | failed: MemoryError |" in text


def test_bridge_task_hides_its_class_from_every_3_hop_neighbourhood():
    data = bridge_task.dataset(graphs=30, seed=3, bridge_length=7, community_size=(4, 7), p_in=0.9,
                               degree_features=False)
    assert sorted(data.labels.tolist()) == [0] * 15 + [1] * 15
    for g, label in zip(data.graphs, data.labels.tolist()):
        kind, community = g.ndata["feat"].argmax(1), g.ndata["community"]
        assert (kind == 0).sum() > 0 and (kind == 1).sum() > 0
        nxg = dgl.to_networkx(g).to_undirected()
        cliques = community[kind != 2].unique().tolist()
        for c in cliques:  # any two cliques, of the same kind or not, are 7 hops apart or more
            hops = nx.multi_source_dijkstra_path_length(nxg, torch.nonzero(community == c).flatten().tolist())
            assert min(hops[v] for v in torch.nonzero((community != c) & (kind != 2)).flatten().tolist()) == 7
        src, dst = g.edges()
        mixed = []
        for group in community[kind == 2].unique().tolist():  # each path: the kinds of the cliques it touches
            ends = dst[(community[src] == group) & (kind[dst] != 2)]
            mixed.append(len(kind[ends].unique()) == 2)
        assert len(mixed) == len(cliques) and all(mixed) == (label == 0)


def _write_files(folder, files):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def _extracted(archives, into):
    for archive in archives:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    return {str(path.relative_to(into)): path.read_bytes() for path in into.rglob("*") if path.is_file()}


def test_pack_run_leaves_out_what_a_kill_left_unfinished(tmp_path):
    run = tmp_path / "run"
    files = {
        "config.json": "{}", "selection.json": "{}", ".lock": "",
        "fold-0/candidate-0/config.json": "{}", "fold-0/candidate-0/metrics.jsonl": "{}\n",
        "fold-0/candidate-0/summary.json": "{}", "fold-0/candidate-0/best.pt": "x",
        "fold-0/candidate-0/.summary.json.k2j9.tmp": "{",  # killed while rewriting a finished summary
        # Killed during its first metrics.jsonl write: a checkpoint, no metrics, no summary.
        "fold-0/candidate-1/config.json": "{}", "fold-0/candidate-1/last.pt": "x",
        "fold-0/candidate-1/.metrics.jsonl.uex0d_qt.tmp": "{",
        "fold-0/final-0/config.json": "{}", "fold-0/final-0/metrics.jsonl": "{}\n",  # killed later on
        # Pruned: it ended without a summary and will not be resumed; its curve stays.
        "fold-0/candidate-2/config.json": "{}", "fold-0/candidate-2/last.pt": "x",
        "fold-0/candidate-2/metrics.jsonl": "{}\n", "fold-0/candidate-2/stopped.json": '{"stopped": "pruned"}',
        "selection.db-journal": "a commit under way",
    }
    _write_files(run, files)
    with sqlite3.connect(run / "selection.db") as db:
        db.execute("CREATE TABLE trials (id INTEGER)")
    archive = str(tmp_path / "run.tar.gz")
    assert pack_run.pack(str(run), archive) == (9, 2)
    with tarfile.open(archive) as tar:
        packed = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert packed == ["run/config.json", "run/fold-0/candidate-0/config.json", "run/fold-0/candidate-0/metrics.jsonl",
                      "run/fold-0/candidate-0/summary.json", "run/fold-0/candidate-2/config.json",
                      "run/fold-0/candidate-2/metrics.jsonl", "run/fold-0/candidate-2/stopped.json",
                      "run/selection.db", "run/selection.json"]


def test_pack_run_per_pair_gives_what_one_archive_gives_and_the_same_bytes_for_an_unchanged_pair(tmp_path):
    bench = tmp_path / "bench"
    _write_files(bench, {
        "bench.json": "{}", "results.json": '{"pairs": []}', "table.md": "|", "D/folds.json": "[]",
        "D/m1/pair.json": "{}", "D/m1/fold-0/final-0/metrics.jsonl": "{}\n", "D/m1/fold-0/final-0/summary.json": "{}",
        "D/m1/fold-0/final-0/best.pt": "x", "D/m-2/fold-0/final-0/metrics.jsonl": "{}\n",  # running
        "D/m-2/fold-0/final-1/config.json": "{}",
    })
    with sqlite3.connect(bench / "D" / "m1" / "selection.db") as db:
        db.execute("CREATE TABLE trials (id INTEGER)")
    out = tmp_path / "out"
    assert pack_run.main([str(bench), str(out), "--per-pair"]) == 0
    archives = sorted(os.listdir(out))
    assert archives == ["D-m-2.tar.gz", "D-m1.tar.gz", "bench.tar.gz"]
    with tarfile.open(out / "D-m1.tar.gz") as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == [
            "bench/D/m1/fold-0/final-0/metrics.jsonl", "bench/D/m1/fold-0/final-0/summary.json",
            "bench/D/m1/pair.json", "bench/D/m1/selection.db"]
    with tarfile.open(out / "bench.tar.gz") as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == [
            "bench/D/folds.json", "bench/bench.json", "bench/results.json", "bench/table.md"]
    assert pack_run.pack(str(bench), str(tmp_path / "one.tar.gz")) == (9, 1)
    assert _extracted([out / a for a in archives], tmp_path / "x") == _extracted([tmp_path / "one.tar.gz"],
                                                                                tmp_path / "y")
    first = {a: (out / a).read_bytes() for a in archives}
    time.sleep(1.1)  # a later second: no time of packing may reach the bytes
    _write_files(bench, {"D/m-2/fold-0/final-0/summary.json": "{}"})
    assert pack_run.main([str(bench), str(out), "--per-pair", "--replace"]) == 0
    again = {a: (out / a).read_bytes() for a in archives}
    assert [a for a in archives if again[a] != first[a]] == ["D-m-2.tar.gz"]


def test_pack_run_bad_input_gives_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    assert pack_run.main([str(run), str(tmp_path / "missing" / "a.tar.gz")]) == 2
    assert capsys.readouterr().err == f"Error: the folder of {tmp_path / 'missing' / 'a.tar.gz'} does not exist\n"
    (run / "selection.db").write_text("not a database")
    assert pack_run.main([str(run), str(tmp_path / "a.tar.gz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: cannot copy a selection database: {run / 'selection.db'}: ") and err.count("\n") == 1
    assert os.listdir(tmp_path) == ["run"]  # no archive, no partial one
    assert pack_run.main([str(run), str(tmp_path / "out"), "--per-pair"]) == 2
    assert capsys.readouterr().err == f"Error: {run} is not a bench folder (no bench.json); --per-pair packs a bench\n"
    (run / "bench.json").write_text("{}")
    (run / "selection.db").unlink()
    assert pack_run.main([str(run), str(tmp_path / "out"), "--per-pair"]) == 0
    capsys.readouterr()
    assert pack_run.main([str(run), str(tmp_path / "out"), "--per-pair"]) == 2  # never replaced unasked
    assert capsys.readouterr().err == f"Error: {tmp_path / 'out'} holds archives; pass --replace to replace them\n"
    for inside in ([str(run / "a.tar.gz")], [str(run / "packed"), "--per-pair"]):  # it would swallow itself
        assert pack_run.main([str(run), *inside, "--replace"]) == 2
        assert capsys.readouterr().err == f"Error: {inside[0]} is inside {run}, which it would pack into itself\n"
    assert sorted(os.listdir(run)) == ["bench.json"]
    (run / "X-s2v" / "diffpool").mkdir(parents=True)  # X-s2v-diffpool.tar.gz, and X's s2v-diffpool's too
    (run / "X" / "s2v-diffpool").mkdir(parents=True)
    assert pack_run.main([str(run), str(tmp_path / "new"), "--per-pair"]) == 2
    assert capsys.readouterr().err == ("Error: two folders would share the archive X-s2v-diffpool.tar.gz; "
                                       "pack them one by one\n")
    assert not (tmp_path / "new").exists()
