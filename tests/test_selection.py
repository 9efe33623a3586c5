"""Model selection inside every fold (Errica et al.): spaces, the protocol, workers, resume."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner

from dgl_diffpool.data import GraphClassificationData, load_dataset
from dgl_diffpool.errors import ConfigError, RunFolderError
from dgl_diffpool.training import RunConfig
from dgl_diffpool.training import selection
from dgl_diffpool.training.checkpoint import load_checkpoint, model_from_checkpoint
from dgl_diffpool.training.cross_validation import make_folds
from dgl_diffpool.training.space import SearchSpace, load_space
from dgl_diffpool_cli import cli
from procfs import processes

TINY = dict(protocol="cv", folds=2, epochs=2, hidden=8, mlp_hidden=8, batch_size=64)
SPACE = SearchSpace({"lr": [0.001, 0.01]})
ARGS = ["--protocol", "cv", "--folds", "2", "--epochs", "2", "--hidden", "8", "--mlp-hidden", "8",
        "--batch-size", "64", "--no-progress", "--no-plot", "--final-runs", "2"]


def _space_file(tmp_path, text="lr: [0.001, 0.01]\n"):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return str(path)


def _curves(folder):
    with open(os.path.join(folder, "metrics.jsonl")) as fh:
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in fh]


def test_grid_and_sampled_spaces(tmp_path):
    grid = SearchSpace({"lr": [0.1, 0.01], "hidden": [8, 16, 32]})
    assert grid.candidates() == [{"lr": 0.1, "hidden": 8}, {"lr": 0.1, "hidden": 16}, {"lr": 0.1, "hidden": 32},
                                 {"lr": 0.01, "hidden": 8}, {"lr": 0.01, "hidden": 16}, {"lr": 0.01, "hidden": 32}]
    sampled = SearchSpace(grid.options, samples=4)
    draws = sampled.candidates(seed=3)
    assert len(draws) == 4 and all(d in grid.candidates() for d in draws)
    assert len({tuple(d.items()) for d in draws}) == 4
    assert draws == sampled.candidates(seed=3) and draws != sampled.candidates(seed=4)
    assert SearchSpace(grid.options, samples=10).candidates() == grid.candidates()
    space = load_space(_space_file(tmp_path, "batch-size: [8, 16]\ndropout: [0, 0.5]\nsamples: 3\n"), "diffpool")
    assert space.options == {"batch_size": [8, 16], "dropout": [0, 0.5]} and space.samples == 3


def test_sampled_spaces_never_list_the_grid():
    # 10^12 combinations: listing them would not finish.
    huge = SearchSpace({f"o{i}": list(range(10)) for i in range(12)}, samples=5)
    draws = huge.candidates(seed=7)
    assert len(draws) == 5 and len({tuple(d.values()) for d in draws}) == 5
    assert all(set(d) == set(huge.options) and all(0 <= v < 10 for v in d.values()) for d in draws)
    assert draws == huge.candidates(seed=7)
    # Grid positions decode to the grid's order: a sample of all of it is the grid itself.
    small = SearchSpace({"a": [1, 2, 3], "b": ["x", "y"]})
    five = SearchSpace(small.options, samples=5).candidates(seed=1)
    assert len(five) == 5 and five == [c for c in small.candidates() if c in five]


def test_options_a_model_prepares_its_data_with_cannot_be_selected(tmp_path):
    for model, text in (("diffpool-det", "ratio: [0.1, 0.25]\n"), ("diffpool-det", "pool-levels: [1, 2]\n"),
                        ("patchy-san", "patchy-field: [5, 10]\n")):
        with pytest.raises(ConfigError, match=f"cannot be selected for {model}: the dataset is prepared"):
            load_space(_space_file(tmp_path, text), model)
    assert load_space(_space_file(tmp_path, "ratio: [0.1, 0.25]\n"), "diffpool").options == {"ratio": [0.1, 0.25]}


def test_selection_options_without_a_selection_are_refused(tmp_path, data_dir):
    for extra in (["--jobs", "2"], ["--final-runs", "2", "--prune"]):
        out = str(tmp_path / "run")
        result = CliRunner().invoke(cli, ["train", "--data-dir", data_dir, "--protocol", "cv", "--folds", "2",
                                          "--epochs", "1", "--out", out, *extra])
        assert result.exit_code == 2 and "to a selection: add --select" in result.output, result.output
        assert not os.path.exists(out)


def test_default_spaces_exist_for_every_model():
    from dgl_diffpool.training.bench import BENCH_MODELS
    from dgl_diffpool.training.kernel_svm import KERNELS

    for model in BENCH_MODELS:
        space = load_space("default", model, kernel=model in KERNELS)
        assert space.candidates(), model
    kernel = load_space("default", "wl-kernel", kernel=True)
    assert kernel.options == {"C": [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]}


@pytest.mark.parametrize(
    "text, message",
    [
        ("colour: [1, 2]\n", "'colour' is not a train option"),
        ("dataset: [MUTAG]\n", "'dataset' cannot be selected"),
        ("lr: []\n", "lr needs a non-empty list of values"),
        ("lr: 0.1\n", "lr needs a non-empty list of values"),
        ("hidden: [8, sixteen]\n", "hidden takes int values, got 'sixteen'"),
        ("batch_norm: [1, 0]\n", "batch_norm takes bool values, got 1"),
        ("lr: [0.1, -1]\n", "learning rate must be a finite number > 0, got -1"),
        ("samples: 0\nlr: [0.1]\n", "samples must be a whole number >= 1"),
        ("lr: [0.1\n", "is not valid YAML"),
        ("- lr\n", "a search space is a mapping"),
    ],
)
def test_bad_spaces_give_one_line(tmp_path, data_dir, text, message):
    path = _space_file(tmp_path, text)
    with pytest.raises(ConfigError, match="^" + str(tmp_path).replace("/", ".")):
        load_space(path, "diffpool")
    out = str(tmp_path / "run")
    result = CliRunner().invoke(cli, ["train", "--data-dir", data_dir, *ARGS, "--select", path, "--out", out])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert not os.path.exists(out)


def test_selection_never_sees_the_test_fold(tmp_path, data_dir, monkeypatch):
    """Test-fold labels and features corrupted: the same candidates' scores, choices and curves."""
    data = load_dataset("synthetic", data_dir)
    config = RunConfig(data_dir=data_dir, **TINY)
    folds = make_folds(config, data)
    labels = data.labels.clone()
    graphs = [g.clone() for g in data.graphs]
    for fold in folds[:1]:
        labels[fold] = (labels[fold] + 1) % data.num_classes
        for i in fold.tolist():
            graphs[i].ndata["feat"] = torch.rand_like(graphs[i].ndata["feat"]) * 100
    corrupt = GraphClassificationData(data.name, graphs, labels, data.num_classes)

    folds_file = tmp_path / "folds.json"  # the outer folds are stratified by every label: fix them
    folds_file.write_text(json.dumps({"dataset": data.name, "folds": [f.tolist() for f in folds]}))
    runs = {}
    for name, dataset in (("clean", data), ("corrupt", corrupt)):
        monkeypatch.setattr(selection, "load_config_dataset", lambda c, d=dataset: d)
        out = str(tmp_path / name)
        runs[name] = (out, selection.select_and_assess(config, SPACE, out, final_runs=1, folds_file=str(folds_file),
                                                       echo=lambda _: None))
    (clean_dir, clean), (corrupt_dir, dirty) = runs["clean"], runs["corrupt"]
    fold = clean["per_fold"][0], dirty["per_fold"][0]
    assert fold[0]["candidates"] == fold[1]["candidates"] and fold[0]["chosen"] == fold[1]["chosen"]
    assert fold[0]["final_val_scores"] == fold[1]["final_val_scores"]
    test_losses = [json.load(open(os.path.join(d, "fold-0", "final-0", "summary.json")))["test_loss"]
                   for d in (clean_dir, corrupt_dir)]
    assert test_losses[0] != test_losses[1]  # the corruption did reach the test fold
    for sub in ("candidate-0", "candidate-1", "final-0"):
        assert _curves(os.path.join(clean_dir, "fold-0", sub)) == _curves(os.path.join(corrupt_dir, "fold-0", sub))
    inner = json.load(open(os.path.join(clean_dir, "folds.json")))["inner_valid"]
    assert not set(inner[0]) & set(folds[0].tolist())


def test_protocol_and_summary(tmp_path, data_dir):
    config = RunConfig(data_dir=data_dir, **TINY)
    out = str(tmp_path / "run")
    summary = selection.select_and_assess(config, SPACE, out, final_runs=2, echo=lambda _: None)
    assert json.load(open(os.path.join(out, "summary.json"))) == json.loads(json.dumps(summary))
    for row in summary["per_fold"]:
        vals = [c["val_score"] for c in row["candidates"]]
        assert row["chosen"] == SPACE.candidates()[vals.index(max(vals))]
        for j, c in enumerate(row["candidates"]):
            run = json.load(open(os.path.join(out, f"fold-{row['fold']}", f"candidate-{j}", "summary.json")))
            assert run["val_score"] == c["val_score"] and run["test_score"] is None  # never tested
        finals = [json.load(open(os.path.join(out, f"fold-{row['fold']}", f"final-{r}", "summary.json")))
                  for r in range(2)]
        assert [f["test_score"] for f in finals] == row["final_test_scores"]
        assert row["test_score"] == pytest.approx(sum(row["final_test_scores"]) / 2)
        seeds = [json.load(open(os.path.join(out, f"fold-{row['fold']}", f"final-{r}", "config.json")))["seed"]
                 for r in range(2)]
        chosen = json.load(open(os.path.join(out, f"fold-{row['fold']}", f"candidate-{row['chosen_index']}",
                                             "config.json")))["seed"]
        assert len({chosen, *seeds}) == 3  # final runs train from scratch, from other seeds
    means = [r["test_score"] for r in summary["per_fold"]]
    assert summary["test_score_mean"] == pytest.approx(sum(means) / 2)
    # The ensemble: each final run's saved test probabilities are its best model's, one graph at a
    # time; their average's accuracy is the fold's ensemble score.
    data = load_dataset("synthetic", data_dir)
    folds = json.load(open(os.path.join(out, "folds.json")))["folds"]
    for row in summary["per_fold"]:
        probs = []
        for r in range(2):
            folder = os.path.join(out, f"fold-{row['fold']}", f"final-{r}")
            saved = json.load(open(os.path.join(folder, "test_predictions.json")))
            assert saved["indices"] == folds[row["fold"]]
            model, _ = model_from_checkpoint(load_checkpoint(os.path.join(folder, "best.pt")))
            model.eval()
            with torch.no_grad():
                alone = torch.cat([torch.softmax(model(g, g.ndata["feat"]).logits, -1)
                                   for g in (data.graphs[i] for i in saved["indices"])])
            torch.testing.assert_close(torch.tensor(saved["probabilities"]), alone, atol=1e-5, rtol=1e-4)
            labels = data.labels[saved["indices"]]
            assert (alone.argmax(1) == labels).double().mean().item() == pytest.approx(row["final_test_scores"][r])
            probs.append(alone)
        ensemble = ((probs[0] + probs[1]).argmax(1) == labels).double().mean().item()
        assert row["ensemble_test_score"] == pytest.approx(ensemble)
    assert summary["ensemble_mean"] == pytest.approx(sum(r["ensemble_test_score"] for r in summary["per_fold"]) / 2)
    assert summary["single_run_mean"] == pytest.approx(sum(r["final_test_scores"][0] for r in summary["per_fold"]) / 2)


def _select(args, data_dir, out, extra=(), popen=False):
    cmd = [sys.executable, "-m", "dgl_diffpool_cli", "train", "--data-dir", data_dir, *ARGS, *args, "--out", out,
           *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if popen:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _results(out):
    summary = json.load(open(os.path.join(out, "summary.json")))
    curves = {os.path.relpath(root, out): _curves(root) for root, _, files in os.walk(out) if "metrics.jsonl" in files}
    return summary, curves


def test_a_resumed_selection_keeps_its_storage_pruning_and_folds(tmp_path, data_dir):
    space, out = _space_file(tmp_path, "lr: [0.01]\n"), str(tmp_path / "run")
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    first = _select(["--select", space, "--storage", url], data_dir, out)
    assert first.returncode == 0, first.stdout + first.stderr
    assert json.load(open(os.path.join(out, "selection.json")))["storage"] == url
    assert not os.path.exists(os.path.join(out, "selection.db"))
    # Without --storage a resume would start empty studies in the run folder: refused.
    bare = _select(["--resume"], data_dir, out)
    assert bare.returncode == 2 and f"this selection's studies are in {url}: give --storage again" in bare.stderr
    assert not os.path.exists(os.path.join(out, "selection.db"))
    pruned = _select(["--resume", "--storage", url, "--prune"], data_dir, out)
    assert pruned.returncode == 1 and "another search space, number of final runs, storage or pruning" in pruned.stderr
    other = tmp_path / "other-folds.json"
    other.write_text(json.dumps({"dataset": "synthetic", "folds": [list(range(1, 1000, 2)), list(range(0, 1000, 2))]}))
    moved = _select(["--resume", "--storage", url, "--folds-file", str(other)], data_dir, out)
    assert moved.returncode == 1 and "holds other folds than --folds-file" in moved.stderr, moved.stderr
    again = _select(["--resume", "--storage", url], data_dir, out)
    assert again.returncode == 0, again.stderr
    # `evaluate` of a selection scores each fold by its final runs, as the selection did.
    from click.testing import CliRunner
    from dgl_diffpool_cli import cli

    scored = CliRunner().invoke(cli, ["evaluate", out], catch_exceptions=False)
    assert scored.exit_code == 0, scored.output
    summary = json.load(open(os.path.join(out, "summary.json")))
    for row in summary["per_fold"]:
        runs = len(row["final_test_scores"])
        assert f"fold {row['fold']} [test, " in scored.output and (
            f"mean of {runs} final runs]: accuracy {row['test_score']:.4f}" in scored.output), scored.output
    # A database URL is recorded without its password.
    plan = selection.Plan(RunConfig(), SPACE, 1, out, "postgresql://user:secret@host/db")
    assert plan.to_dict()["storage"] == "postgresql://user:***@host/db"


def _kill_during_a_training(space, data_dir, out):
    """A two-worker selection, killed (with its workers) while fold 0's candidate 1 trains, both
    fold 0 candidates past their first epoch."""
    proc = _select(["--select", space, "--jobs", "2"], data_dir, out, popen=True)
    deadline = time.monotonic() + 300
    while not all(os.path.exists(os.path.join(out, "fold-0", f"candidate-{i}", "last.pt")) for i in (0, 1)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_two_workers_give_the_results_of_one_and_a_killed_selection_resumes(tmp_path, data_dir):
    space = _space_file(tmp_path)
    one, two, cut = (str(tmp_path / name) for name in ("one", "two", "cut"))  # cut: killed, then resumed
    # Two workers, here one per listed device, as on a machine with two GPUs.
    for out, workers in ((one, ["--jobs", "1"]), (two, ["--device", "cpu,cpu"])):
        proc = _select(["--select", space, *workers], data_dir, out)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "[8/8]" in proc.stdout
    assert _results(one) == _results(two)

    _kill_during_a_training(space, data_dir, cut)
    assert not os.path.exists(os.path.join(cut, "summary.json"))
    begun = {os.path.relpath(root, cut) for root, _, files in os.walk(cut) if "last.pt" in files}
    resumed = _select(["--resume", "--jobs", "1"], data_dir, cut)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _results(cut) == _results(one)
    # A training resumed part-way says nothing of how long a whole one takes: no ETA until one has run whole.
    lines = [(os.path.join(f"fold-{fold}", ("final-" if kind == "final run" else "candidate-") + index), eta)
             for fold, kind, index, eta in re.findall(r"\] fold (\d+) (candidate|final run) (\d+) .*; (ETA .*)",
                                                      resumed.stdout)]
    assert lines[0][0] in begun and {folder for folder, _ in lines} - begun, (begun, lines)
    whole = False
    for folder, eta in lines:
        whole = whole or folder not in begun
        assert (eta != "ETA after a training run whole") == whole, lines


def test_a_packed_selection_resumes_on_another_machine_to_the_uninterrupted_results(tmp_path, data_dir):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    import tarfile

    import optuna
    import pack_run

    space = _space_file(tmp_path)
    one, cut = str(tmp_path / "one"), str(tmp_path / "cut")
    proc = _select(["--select", space, "--jobs", "1"], data_dir, one)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _kill_during_a_training(space, data_dir, cut)
    archive = str(tmp_path / "cut.tar.gz")
    assert pack_run.main([cut, archive]) == 0
    assert pack_run.main([cut, archive]) == 2  # never replaced unasked
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "moved", filter="data")
    assert "cut/selection.db" in names and "cut/folds.json" in names
    assert not [n for n in names if n.endswith(".pt") or n.endswith(".lock")]
    assert not [n for n in names if n.startswith("cut/fold-0/candidate-1")]  # unfinished: trained again
    moved = str(tmp_path / "moved" / "cut")
    # On the new machine the killed worker's number belongs to another, later process (same host name),
    # started later than the start times' resolution (a second).
    time.sleep(2.0)
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{moved}/selection.db")
        running = [(s.study_name, t._trial_id) for s in optuna.get_all_study_summaries(storage)
                   for t in optuna.load_study(study_name=s.study_name, storage=storage).trials
                   if t.state == optuna.trial.TrialState.RUNNING]
        assert "fold-0" in {name for name, _ in running}
        for _, trial_id in running:
            storage.set_trial_user_attr(trial_id, "worker", f"{socket.gethostname()}:{later.pid}")
        storage.engine.dispose()
        resumed = _select(["--resume", "--jobs", "1"], data_dir, moved)
    finally:
        later.kill()
        later.wait()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _results(moved) == _results(one)


def _live_processes_of_group(group: int, grace: float = 2.0) -> list[int]:
    """Processes of a process group that are not zombies, after up to ``grace`` seconds to exit
    (a zombie only waits to be reaped, which a container's init may never do)."""
    deadline = time.monotonic() + grace
    while True:
        live = [p.pid for p in processes() if p.pgrp == group and p.state != "Z"]
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


def test_sigterm_stops_every_worker_and_its_batch_loader(tmp_path, data_dir):
    out = str(tmp_path / "run")
    # Batches of 3: enough batches per epoch for the loader worker processes to start.
    # Killed in the second of ARGS' two epochs (a resume may not change the budget: it stays short).
    budget = ["--batch-size", "3"]
    proc = _select(["--select", _space_file(tmp_path), "--jobs", "2"], data_dir, out, popen=True, extra=budget)
    deadline = time.monotonic() + 300
    while not os.path.exists(os.path.join(out, "fold-0", "candidate-1", "last.pt")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)  # the main process only, as a scheduler's kill does
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert f"Error: interrupted; continue with: dgl-diffpool train --out {out} --resume" in output
    assert "leaked" not in output and "Traceback" not in output, output
    assert _live_processes_of_group(proc.pid) == [], "worker or loader processes outlived the run"
    resumed = _select(["--resume", "--jobs", "1"], data_dir, out, extra=budget)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rows = json.load(open(os.path.join(out, "summary.json")))["per_fold"]
    assert [len(r["final_test_scores"]) for r in rows] == [2, 2]


def test_bench_gives_every_model_the_same_selection(tmp_path, data_dir):
    from dgl_diffpool.training.kernel_svm import C_GRID, kernel_cross_validate, kernel_matrix

    space = _space_file(tmp_path, "sage-mean:\n  lr: [0.001, 0.01]\nwl-kernel:\n  C: [0.1, 10.0]\n")
    out = str(tmp_path / "bench")
    args = ["bench", "--datasets", "synthetic", "--models", "sage-mean,wl-kernel,sp-kernel", "--data-dir", data_dir,
            "--folds", "2", "--epochs", "2", "--hidden", "8", "--mlp-hidden", "8", "--batch-size", "64",
            "--no-progress", "--select", space, "--final-runs", "2", "--out", out]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    sage = json.load(open(os.path.join(out, "synthetic", "sage-mean", "summary.json")))
    assert sage["candidates"] == [{"lr": 0.001}, {"lr": 0.01}] and len(sage["per_fold"][0]["final_test_scores"]) == 2
    wl = json.load(open(os.path.join(out, "synthetic", "wl-kernel", "summary.json")))
    assert {row["C"] for row in wl["per_fold"]} <= {0.1, 10.0}
    sp = json.load(open(os.path.join(out, "synthetic", "sp-kernel", "summary.json")))  # not in the file: its default
    assert {row["C"] for row in sp["per_fold"]} <= set(C_GRID)
    # The kernels' C is chosen on the GNNs' inner validation split.
    from dgl_diffpool.data.splits import fold_split

    saved = json.load(open(os.path.join(out, "synthetic", "sage-mean", "folds.json")))
    data = load_dataset("synthetic", data_dir)
    for i, fold in enumerate(saved["folds"]):  # kernel_cross_validate's split of fold i
        assert fold_split(data.labels, torch.tensor(fold), 0.1, 0 + i)["valid"].tolist() == saved["inner_valid"][i]
    again = kernel_cross_validate(kernel_matrix("wl-kernel", data), data.labels,
                                  [torch.tensor(f) for f in saved["folds"]], 0.1, 0, (0.1, 10.0))
    assert again["per_fold"] == wl["per_fold"]
    rerun = CliRunner().invoke(cli, [*args[:-4], "--final-runs", "3", "--out", out])
    assert rerun.exit_code == 1 and "holds a bench with other settings (final_runs: 2 != 3)" in rerun.output
    pruned = CliRunner().invoke(cli, [*args, "--prune"])  # the median pruner changes which candidate wins
    assert pruned.exit_code == 1 and "holds a bench with other settings (prune: False != True)" in pruned.output
    settings_file = os.path.join(out, "bench.json")
    settings = json.load(open(settings_file))
    del settings["prune"]  # a bench from before the setting was recorded ran without pruning
    with open(settings_file, "w") as fh:
        json.dump(settings, fh)
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert "prune: False != True" in CliRunner().invoke(cli, [*args, "--prune"]).output


def test_workers_claim_and_put_back_trials_one_at_a_time(tmp_path, data_dir, monkeypatch):
    # SQLite ignores the row locks of Optuna's state changes: without a lock of their own, two
    # workers could pop the same waiting trial. Every claim and put-back holds the run's lock.
    from dgl_diffpool.training.rundir import SETUP_LOCK_FILE, folder_lock

    out, held = str(tmp_path / "run"), []

    def check(method):
        def wrapped(self):
            try:
                with folder_lock(out, name=SETUP_LOCK_FILE):  # another open file: refused if held
                    held.append(False)
            except RunFolderError:
                held.append(True)
            return method(self)
        return wrapped

    for name in ("_claim", "_requeue_stale"):
        monkeypatch.setattr(selection._Worker, name, check(getattr(selection._Worker, name)))
    config = RunConfig(data_dir=data_dir, **{**TINY, "epochs": 1})
    selection.select_and_assess(config, SearchSpace({"lr": [0.01]}), out, final_runs=1, echo=lambda _: None)
    assert len(held) >= 5 and all(held)  # 4 trainings claimed, the put-back at the start, the last look


def test_a_training_put_back_as_it_finishes_is_recorded_once(tmp_path, data_dir, monkeypatch):
    # Another machine's worker may find a training's folder unlocked after it finished and before
    # its result is recorded, and put it back: the worker must not fail, and its copy records the
    # same result.
    from optuna.trial import TrialState

    config, space = RunConfig(data_dir=data_dir, **{**TINY, "epochs": 1}), SearchSpace({"lr": [0.01]})
    clean = selection.select_and_assess(config, space, str(tmp_path / "clean"), final_runs=1, echo=lambda _: None)
    tell, put_back, lines = selection._Worker._tell, [], []

    def put_back_first(self, study, trial, *args, **kwargs):
        if not put_back:  # as _requeue_stale does
            key = selection._key(trial)
            self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            study.enqueue_trial({}, user_attrs={key: trial.user_attrs[key]})
            put_back.append(trial.number)
        return tell(self, study, trial, *args, **kwargs)

    monkeypatch.setattr(selection._Worker, "_tell", put_back_first)
    out = str(tmp_path / "run")
    summary = selection.select_and_assess(config, space, out, final_runs=1, echo=lines.append)
    assert summary == clean
    assert sum("finished, but put back meanwhile" in line for line in lines) == 1
    assert sum("[4/4]" in line for line in lines) == 1


def test_a_selection_cut_short_anywhere_resumes_to_the_same_results(tmp_path, data_dir, monkeypatch):
    # A kill while the studies are being set up, or after a dead worker's training was failed and
    # before it was put back, leaves a training that no trial holds; an interrupt from Python leaves
    # a training claimed by the very process that resumes. Each is trained again exactly once,
    # instead of being waited for forever.
    import types

    import optuna
    from optuna.trial import TrialState

    config, space = RunConfig(data_dir=data_dir, **{**TINY, "epochs": 1}), SearchSpace({"lr": [0.001, 0.01]})
    clean = selection.select_and_assess(config, space, str(tmp_path / "clean"), final_runs=1, echo=lambda _: None)
    enqueue, failed = optuna.study.Study.enqueue_trial, []

    def cut_at_the_second(self, *args, **kwargs):
        if self.study_name == "fold-0" and kwargs["user_attrs"] == {"candidate": 1}:
            raise KeyboardInterrupt
        return enqueue(self, *args, **kwargs)

    def fail_and_die(self, study, trial, fold, final):  # the first half of a put-back, then the kill
        self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        failed.append((study.study_name, trial.user_attrs["candidate"], trial.user_attrs["worker"]))
        raise KeyboardInterrupt

    def interrupt(*args, **kwargs):  # Ctrl-C in a notebook: the trial stays claimed by this process
        raise KeyboardInterrupt

    def never_wait(seconds):
        raise AssertionError("a worker waits for a training that no trial holds")

    cuts = {"setup": (optuna.study.Study, "enqueue_trial", cut_at_the_second),
            "put-back": (selection._Worker, "_train", fail_and_die), "interrupted": (selection, "train", interrupt)}
    for name, (where, attribute, cut) in cuts.items():
        out = str(tmp_path / name)
        with monkeypatch.context() as patched:
            patched.setattr(where, attribute, cut)
            with pytest.raises(KeyboardInterrupt):
                selection.select_and_assess(config, space, out, final_runs=1, echo=lambda _: None)
        storage = selection._storage(selection.default_storage(out))
        fold_0 = optuna.load_study(study_name="fold-0", storage=storage)
        states = [(t.user_attrs["candidate"], t.state) for t in fold_0.get_trials()]
        if name == "setup":
            assert states == [(0, TrialState.WAITING)]
        elif name == "put-back":
            assert failed == [("fold-0", 0, f"{socket.gethostname()}:{os.getpid()}")]
            assert states == [(0, TrialState.FAIL), (1, TrialState.WAITING)]
            # A worker that finds it so mid-run (no resume) puts it back, once.
            worker = selection._Worker(selection.Plan(config, space, 1, out, selection.default_storage(out)),
                                       lambda _: None, False, 1)
            worker._requeue_stale()
            worker._requeue_stale()
            waiting = fold_0.get_trials(states=(TrialState.WAITING,))
            assert sorted(t.user_attrs["candidate"] for t in waiting) == [0, 1]
        else:
            assert states == [(0, TrialState.RUNNING), (1, TrialState.WAITING)]
        with monkeypatch.context() as patched:
            patched.setattr(selection, "time", types.SimpleNamespace(sleep=never_wait, monotonic=time.monotonic))
            assert selection.select_and_assess(config, space, out, final_runs=1, resume=True,
                                               echo=lambda _: None) == clean
        for study in optuna.get_all_study_names(storage):  # every training recorded once, none left over
            trials = optuna.load_study(study_name=study, storage=storage).get_trials()
            done = sorted(selection._key(t) + str(t.user_attrs[selection._key(t)])
                          for t in trials if t.state == TrialState.COMPLETE)
            assert done == (["candidate0", "candidate1"] if study.startswith("fold-") and "final" not in study
                            else ["repeat0"]), (name, study)
            assert not [t for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)], (name, study)


def test_the_pruner_stops_a_trailing_candidate(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(selection, "PRUNE_AFTER_EPOCHS", 2)
    config = RunConfig(data_dir=data_dir, model="sage-mean", **{**TINY, "epochs": 4, "hidden": 16, "batch_size": 32})
    space = SearchSpace({"lr": [0.01, 0.02, 1e-7]})  # the last one cannot learn in a few epochs
    out = str(tmp_path / "run")
    lines = []
    summary = selection.select_and_assess(config, space, out, final_runs=1, echo=lines.append, prune=True)
    for row in summary["per_fold"]:
        assert [c["state"] for c in row["candidates"]] == ["complete", "complete", "pruned"]
        assert row["chosen"] != {"lr": 1e-7}
        curve = _curves(os.path.join(out, f"fold-{row['fold']}", "candidate-2"))
        assert len(curve) == selection.PRUNE_AFTER_EPOCHS + 1  # stopped at the first epoch it may be
        assert row["candidates"][2]["val_score"] == curve[-1]["val_acc"]
        folder = os.path.join(out, f"fold-{row['fold']}", "candidate-{}")
        # Ended for good without a summary: marked, so that packing the run keeps its curve.
        assert json.load(open(os.path.join(folder.format(2), "stopped.json"))) == {"stopped": "pruned"}
        assert not os.path.exists(os.path.join(folder.format(0), "stopped.json"))
    assert sum("candidate 2 (lr=1e-07): pruned" in line for line in lines) == 2


def test_a_diverging_candidate_loses_without_stopping_the_selection(tmp_path, data_dir):
    config = RunConfig(data_dir=data_dir, **{**TINY, "epochs": 1})
    out, lines = str(tmp_path / "run"), []
    summary = selection.select_and_assess(config, SearchSpace({"lr": [1e30, 0.01]}), out, final_runs=1,
                                          echo=lines.append)
    for row in summary["per_fold"]:
        assert row["chosen_index"] == 1 and [c["state"] for c in row["candidates"]] == ["fail", "complete"]
        # It diverged in its first epoch: no checkpoint, so its folder is gone, and only its own.
        assert sorted(os.listdir(os.path.join(out, f"fold-{row['fold']}"))) == ["candidate-1", "final-0"]
    assert sum("candidate 0 (lr=1e+30): epoch 1: the training loss is nan" in line for line in lines) == 2


def test_a_selection_and_a_plain_cross_validation_never_share_a_folder(tmp_path, data_dir):
    plain, chosen = str(tmp_path / "plain"), str(tmp_path / "selection")
    space = _space_file(tmp_path)
    runner = CliRunner()
    assert ARGS[-2:] == ["--final-runs", "2"]  # a selection's option: refused without --select
    plain_args = ["train", "--data-dir", data_dir, *ARGS[:-2], "--epochs", "1", "--out", plain]
    assert runner.invoke(cli, plain_args).exit_code == 0
    result = runner.invoke(cli, ["train", "--out", plain, "--resume", "--select", space])
    assert result.exit_code == 1 and "holds a cross-validation without model selection" in result.output
    args = ["train", "--data-dir", data_dir, *ARGS, "--epochs", "1", "--select", space, "--out", chosen]
    assert runner.invoke(cli, args).exit_code == 0
    result = runner.invoke(cli, ["train", "--out", chosen, "--resume", "--fold", "0"])
    assert result.exit_code == 2 and "a selection runs every fold" in result.output
    # A flag for an option the recorded space selects would be overridden by every candidate.
    result = runner.invoke(cli, ["train", "--out", chosen, "--resume", "--lr", "0.5"])
    assert result.exit_code == 2 and "--lr would do nothing: the search space selects lr among 0.001, 0.01" \
        in result.output, result.output
    # A selection's trainings share one budget: a resume may not change it.
    result = runner.invoke(cli, ["train", "--out", chosen, "--resume", "--epochs", "2"])
    assert result.exit_code == 1 and "holds a selection trained with --epochs 1, not 2" in result.output
    other = _space_file(tmp_path, "lr: [0.1]\n")
    result = runner.invoke(cli, ["train", "--out", chosen, "--resume", "--select", other])
    assert result.exit_code == 1 and "holds a selection with another search space" in result.output
    result = runner.invoke(cli, ["train", "--out", chosen, "--resume", "--no-progress"])  # the saved space
    assert result.exit_code == 0 and "2 folds with selection" in result.output, result.output


def test_a_selection_repeated_over_seeds_resumes_as_a_selection(tmp_path, data_dir):
    import shutil

    out, path = str(tmp_path / "seeds"), _space_file(tmp_path)
    args = ["train", "--data-dir", data_dir, *ARGS[:-2], "--epochs", "1", "--final-runs", "1", "--seeds", "2",
            "--out", out]
    first = CliRunner().invoke(cli, [*args, "--select", path])
    assert first.exit_code == 0, first.output
    assert "diffpool on synthetic, 2 2-fold cross-validations with selection: test accuracy" in first.output
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["selection"] and [r["seed"] for r in summary["per_seed"]] == [0, 1]
    for row in summary["per_seed"]:
        seed = json.load(open(os.path.join(out, f"seed-{row['seed']}", "summary.json")))
        assert row["test_score_mean"] == seed["test_score_mean"] and seed["final_runs"] == 1
        assert row["single_run_mean"] == seed["single_run_mean"]
    assert summary["single_run_mean"] == pytest.approx(sum(r["single_run_mean"] for r in summary["per_seed"]) / 2)

    # A resume without --select continues the selection it recorded, seed by seed, to the same scores.
    shutil.rmtree(os.path.join(out, "seed-1"))
    again = CliRunner().invoke(cli, ["train", "--out", out, "--resume", "--no-progress", "--no-plot"])
    assert again.exit_code == 0, again.output
    assert os.path.exists(os.path.join(out, "seed-1", "selection.json"))
    assert json.load(open(os.path.join(out, "summary.json"))) == summary

    other = CliRunner().invoke(cli, ["train", "--out", out, "--resume", "--no-progress", "--no-plot",
                                     "--select", _space_file(tmp_path, "lr: [0.001, 0.02]\n")])
    assert other.exit_code != 0 and other.output.strip().splitlines()[-1] == (
        f"Error: {out} repeats a selection with another search space, number of final runs, storage or pruning")
    one_fold = CliRunner().invoke(cli, ["train", "--data-dir", data_dir, *ARGS[:-2], "--seeds", "2", "--fold", "0",
                                        "--out", str(tmp_path / "f")])
    assert one_fold.exit_code == 2 and "--fold runs one fold of one cross-validation; drop --seeds or --fold" in \
        one_fold.output


@pytest.mark.parametrize("command", ["train", "bench"])
def test_a_flag_the_space_selects_is_refused(tmp_path, data_dir, command):
    out = str(tmp_path / "run")
    args = {"train": ["train", "--protocol", "cv", "--folds", "2", "--no-plot"],
            "bench": ["bench", "--datasets", "synthetic", "--models", "sage-mean,wl-kernel", "--folds", "2"]}[command]
    args += ["--epochs", "1", "--hidden", "8", "--batch-size", "64", "--no-progress"]  # quick, were it not refused
    whose = {"train": "", "bench": " of sage-mean"}[command]
    for space, flag, message in [
        ("default", ["--dropout", "0.5"], f"--dropout would do nothing: the search space{whose} selects dropout "
                                          "among 0.0, 0.2; drop the flag or take the option out of the space"),
        (_space_file(tmp_path, "batch-size: [8, 16]\n"), ["--batch-size", "8"],
         f"--batch-size would do nothing: the search space{whose} selects batch_size among 8, 16"),
    ]:
        result = CliRunner().invoke(cli, [*args, "--data-dir", data_dir, "--select", space, *flag, "--out", out])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not os.path.exists(out)
