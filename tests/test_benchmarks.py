"""The benchmark scripts run end to end on small inputs (their numbers are reported, not asserted)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

pool_scaling = pytest.importorskip("pool_scaling")
train_speed = pytest.importorskip("train_speed")


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
