"""The dgl-diffpool command line through click's test runner."""
import json
import math
import os

import pytest
import torch
from click.testing import CliRunner

from dgl_diffpool.data import load_dataset
from dgl_diffpool_cli import cli

FAST = ["--epochs", "2", "--hidden", "8", "--mlp-hidden", "8", "--batch-size", "64", "--no-progress"]


@pytest.fixture
def runner():
    return CliRunner()


def _run(runner, *args):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def _one_line_error(result, pattern):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    assert pattern in errors[0], result.output


def test_prep_train_evaluate(runner, tmp_path, data_dir):
    result = _run(runner, "prep", "--data-dir", data_dir)
    assert result.exit_code == 0
    assert "synthetic: 1000 graphs, 4 classes" in result.output
    out = str(tmp_path / "run")
    result = _run(runner, "train", "--data-dir", data_dir, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert f"test accuracy {summary['test_score']:.4f}" in result.output
    assert f"run directory: {out}" in result.output
    assert sorted(f for f in os.listdir(out) if not f.startswith(".")) == [
        "best.pt", "config.json", "curves.png", "last.pt", "metrics.jsonl", "summary.json", "test_predictions.json"]
    result = _run(runner, "evaluate", out, "--split", "test")
    assert result.exit_code == 0, result.output
    assert f"accuracy {summary['test_score']:.4f}" in result.output and "[test, 100 graphs]" in result.output
    result = _run(runner, "evaluate", os.path.join(out, "best.pt"), "--split", "valid")
    assert f"accuracy {summary['val_score']:.4f}" in result.output


def test_train_options_reach_the_model(runner, tmp_path, data_dir):
    out = str(tmp_path / "run")
    args = ["--pool-levels", "2", "--ratio", "0.5", "--conv", "gin", "--no-link-loss", "--fixed-clusters",
            "--no-bucket", "--max-padded-nodes", "0"]
    result = _run(runner, "train", "--data-dir", data_dir, "--out", out, *FAST, *args)
    assert result.exit_code == 0, result.output
    config = json.load(open(os.path.join(out, "config.json")))
    assert (config["pool_levels"], config["ratio"], config["conv"]) == (2, 0.5, "gin")
    assert config["link_loss"] is False and config["adaptive_clusters"] is False
    assert (config["bucket"], config["max_padded_nodes"]) == (False, 0)
    state = torch.load(os.path.join(out, "best.pt"), weights_only=False)["model"]
    assert "dense_pools.0.assign_out.weight" in state
    max_nodes = load_dataset("synthetic", data_dir).max_num_nodes
    assert state["first_pool.assign_out.weight"].shape[0] == math.ceil(0.5 * max_nodes)


def test_resume_from_the_cli(runner, tmp_path, data_dir):
    out = str(tmp_path / "run")
    assert _run(runner, "train", "--data-dir", data_dir, "--out", out, *FAST).exit_code == 0
    result = _run(runner, "train", "--out", out, "--resume", "--epochs", "3", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "of 3" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "NOPE"], "unknown dataset 'NOPE'"),
        (["prep", "NOPE"], "unknown dataset 'NOPE'"),
        (["train", "--ratio", "0"], "Invalid value for '--ratio'"),
        (["train", "--ratio", "1.5"], "Invalid value for '--ratio'"),
        (["train", "--pool-levels", "0"], "Invalid value for '--pool-levels'"),
        (["train", "--resume"], "--resume needs --out"),
        (["evaluate", "/nonexistent.pt"], "does not exist"),
    ],
)
def test_bad_input_gives_one_line(runner, args, message):
    _one_line_error(_run(runner, *args), message)


@pytest.mark.parametrize("name, args, message", [
    ("holdout", ["--val-fraction", "0.001"], "the validation split of synthetic (1000 graphs) holds no graph: "
                                             "raise --val-fraction"),
    ("test", ["--test-fraction", "0.001"], "the test split of synthetic (1000 graphs) holds no graph: "
                                           "raise --test-fraction"),
    ("cv", ["--protocol", "cv", "--folds", "2", "--val-fraction", "0.001"], "the validation split of synthetic"),
    ("select", ["--protocol", "cv", "--folds", "2", "--val-fraction", "0.001", "--select", "default"],
     "the validation split of synthetic"),
])
def test_a_split_without_graphs_gives_one_line(runner, tmp_path, data_dir, name, args, message):
    # 4 classes of 250 graphs: 0.1% of a class rounds to no graph, in the hold-out split and in
    # the inner split of each outer fold.
    out = tmp_path / name
    _one_line_error(_run(runner, "train", "--data-dir", data_dir, *FAST, *args, "--out", str(out)), message)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda(runner, tmp_path, data_dir):
    result = _run(runner, "train", "--data-dir", data_dir, "--device", "cuda", "--out", str(tmp_path / "r"))
    _one_line_error(result, "no CUDA device is available")
    assert not os.path.exists(tmp_path / "r")


def test_bad_checkpoints_give_one_line(runner, tmp_path, data_dir):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"garbage")
    _one_line_error(_run(runner, "evaluate", str(junk)), "is unreadable")
    out = str(tmp_path / "run")
    assert _run(runner, "train", "--data-dir", data_dir, "--out", out, *FAST).exit_code == 0
    _one_line_error(_run(runner, "train", "--out", out, "--resume", "--lr", "0.5"),
                    "holds a run with another configuration (lr: 0.001 != 0.5)")
    _one_line_error(_run(runner, "train", "--data-dir", data_dir, "--out", out, *FAST), "already holds a run")
    # A checkpoint whose weights belong to another configuration.
    payload = torch.load(os.path.join(out, "best.pt"), weights_only=False)
    payload["config"]["gnn_layers"] = 2
    torch.save(payload, tmp_path / "other.pt")
    _one_line_error(_run(runner, "evaluate", str(tmp_path / "other.pt")), "does not match its model configuration")


def test_module_entry_point_help():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "dgl_diffpool_cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "train" in proc.stdout and "evaluate" in proc.stdout


def test_cross_validation_from_the_cli(runner, tmp_path, data_dir):
    out = str(tmp_path / "cv")
    result = _run(runner, "train", "--data-dir", data_dir, "--out", out, "--protocol", "cv", "--folds", "2", *FAST)
    assert result.exit_code == 0, result.output
    summary = json.load(open(os.path.join(out, "summary.json")))
    mean, std = 100 * summary["test_score_mean"], 100 * summary["test_score_std"]
    assert f"test accuracy {mean:.2f} +- {std:.2f}" in result.output
    # Each fold's line comes when it finishes, after its epochs and before the next fold's, with the mean so far.
    lines = result.output.splitlines()
    scores = [row["test_score"] for row in summary["per_fold"]]
    for i, row in enumerate(summary["per_fold"]):
        head = (f"fold {i + 1}/2: test accuracy {row['test_score']:.4f} (fold-{i}, "
                f"selected epoch {row['best_epoch'] + 1}")
        done = [k for k, line in enumerate(lines) if line.startswith(head)]
        assert len(done) == 1, result.output
        mean = 100 * sum(scores[:i + 1]) / (i + 1)
        assert lines[done[0]].endswith(f"mean of {i + 1} fold{'s' if i else ''} so far {mean:.2f}")
        epochs = [k for k, line in enumerate(lines) if line.startswith(f"fold {i + 1}/2: epoch ")]
        assert len(epochs) == 2 and max(epochs) < done[0]
    first_done = next(k for k, line in enumerate(lines) if line.startswith("fold 1/2: test"))
    assert first_done < min(k for k, line in enumerate(lines) if line.startswith("fold 2/2: epoch 1/2"))
    assert "\r" not in result.output
    one = str(tmp_path / "one")
    result = _run(runner, "train", "--data-dir", data_dir, "--out", one, "--protocol", "cv", "--folds", "2",
                  "--fold", "1", "--folds-file", os.path.join(out, "folds.json"), *FAST, "--log-every", "0")
    assert result.exit_code == 0, result.output
    assert "epoch" not in result.output.replace("selected epoch", "") and "fold 2/2: test accuracy" in result.output
    folds = [json.load(open(os.path.join(d, "folds.json")))["folds"] for d in (one, out)]
    assert folds[0] == folds[1]
    _one_line_error(_run(runner, "train", "--fold", "1"), "--fold, --folds-file and --select need --protocol cv")


def test_evaluate_a_cross_validation_run(runner, tmp_path, data_dir):
    out = str(tmp_path / "cv")
    assert _run(runner, "train", "--data-dir", data_dir, "--out", out, "--protocol", "cv", "--folds", "2",
                *FAST).exit_code == 0
    summary = json.load(open(os.path.join(out, "summary.json")))
    for row in summary["per_fold"]:
        result = _run(runner, "evaluate", out, "--fold", str(row["fold"]))
        assert result.exit_code == 0, result.output
        assert f"fold {row['fold']} [test, " in result.output and f"accuracy {row['test_score']:.4f}" in result.output
    result = _run(runner, "evaluate", out)  # every fold, then the mean, as the run reported them
    assert result.exit_code == 0, result.output
    for row in summary["per_fold"]:
        assert f"fold {row['fold']} [test, 500 graphs]: accuracy {row['test_score']:.4f}" in result.output
    assert (f"mean over 2 folds: accuracy {100 * summary['test_score_mean']:.2f} +- "
            f"{100 * summary['test_score_std']:.2f}") in result.output
    _one_line_error(_run(runner, "evaluate", out, "--fold", "7"), "has no fold 7 (its folds: 0, 1)")
    _one_line_error(_run(runner, "evaluate", os.path.join(out, "fold-0", "best.pt"), "--fold", "0"),
                    "--fold applies to a cross-validation run directory")
    _one_line_error(_run(runner, "evaluate", out, "--split", "bogus"), "Invalid value for '--split'")
    assert not os.path.exists(os.path.join(out, "fold-0", "best.pt", "fold-0"))


def test_a_run_is_evaluated_from_any_directory(runner, tmp_path, data_dir, monkeypatch):
    # The run records absolute data paths and the protocol `auto` stood for; the data can be moved.
    monkeypatch.chdir(tmp_path)
    result = _run(runner, "train", "--data-dir", "data", "--out", "run", *FAST, "--no-plot")
    assert result.exit_code == 0, result.output
    config = json.load(open(tmp_path / "run" / "config.json"))
    assert config["data_dir"] == str(tmp_path / "data") and config["protocol"] == "holdout"
    assert torch.load(tmp_path / "run" / "best.pt")["config"]["data_dir"] == str(tmp_path / "data")
    summary = json.load(open(tmp_path / "run" / "summary.json"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = _run(runner, "evaluate", str(tmp_path / "run"))
    assert result.exit_code == 0 and f"accuracy {summary['test_score']:.4f}" in result.output, result.output
    os.rename(tmp_path / "data", tmp_path / "moved")
    result = _run(runner, "evaluate", str(tmp_path / "run"), "--data-dir", str(tmp_path / "moved"))
    assert result.exit_code == 0 and f"accuracy {summary['test_score']:.4f}" in result.output, result.output
    assert not os.path.exists(tmp_path / "data")  # nothing was prepared where the run first found its data


def test_log_lines_tensorboard_test_scores_and_file_modes(runner, tmp_path, data_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    result = _run(runner, "train", "--data-dir", data_dir, "--out", str(out), *FAST[:-1], "--epochs", "4",
                  "--log-every", "3", "--tensorboard", "--no-plot")  # CliRunner's output is not a terminal
    assert result.exit_code == 0, result.output
    epochs = [line.split(":")[0] for line in result.output.splitlines() if line.startswith("epoch ")]
    assert epochs == ["epoch 3/4", "epoch 4/4"] and "\r" not in result.output
    summary = json.load(open(out / "summary.json"))
    last = next(line for line in result.output.splitlines() if line.startswith("epoch 4/4"))
    assert f"(selected {summary['val_score']:.4f} at epoch {summary['best_epoch'] + 1})" in last
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    (test,) = events.Scalars("acc/test")
    assert test.step == summary["best_epoch"] and test.value == pytest.approx(summary["test_score"])
    assert len(events.Scalars("acc/val")) == 4
    modes = {name: os.stat(out / name).st_mode & 0o777 for name in ("config.json", "best.pt", "last.pt")}
    assert len(set(modes.values())) == 1, modes


def test_help_needs_neither_torch_nor_dgl():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from dgl_diffpool_cli import cli; "
            "r = CliRunner().invoke(cli, ['train', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'dgl', 'ogb', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_help_groups_options_and_lists_datasets(runner):
    result = _run(runner, "train", "--help")
    titles = [line.rstrip(":") for line in result.output.splitlines() if line and not line.startswith(" ")
              and line.endswith(":")]
    assert titles == ["Data", "Model", "Pooling", "Optimisation", "Protocol", "Model selection", "Output",
                      "Other options"]
    assert "[default: 32;" in result.output or "[default: 64;" in result.output
    result = _run(runner, "prep", "--help")
    text = " ".join(result.output.split())
    assert "NAME is the built-in synthetic set (the default)" in text
    assert all(name in text for name in ("MUTAG", "PROTEINS_full", "reddit_threads", "ogbg-molhiv", "ogbg-ppa"))
    from dgl_diffpool import __version__

    assert _run(runner, "--version").output.strip() == f"dgl-diffpool, version {__version__}"


def test_seeds_train_on_the_same_graphs_that_evaluate_scores(runner, tmp_path, data_dir):
    out = str(tmp_path / "seeds")
    result = _run(runner, "train", "--data-dir", data_dir, "--seeds", "2", "--out", out, *FAST, "--no-plot")
    assert result.exit_code == 0, result.output
    assert "2 of 2 seeds" in result.output
    for row in json.load(open(os.path.join(out, "summary.json")))["per_seed"]:
        seed_dir = os.path.join(out, f"seed-{row['seed']}")
        assert json.load(open(os.path.join(seed_dir, "config.json")))["data_seed"] == 0
        result = _run(runner, "evaluate", seed_dir, "--split", "test")
        assert result.exit_code == 0, result.output
        assert f"accuracy {row['test_score']:.4f}" in result.output
