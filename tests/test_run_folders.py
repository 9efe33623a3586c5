"""Run folders: no run is replaced or mixed, one writer at a time, nothing half-made left behind,
interrupts that can be resumed, diverged runs that stop."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

import dgl_diffpool_cli.main as cli_main
from dgl_diffpool.errors import TrainingError
from dgl_diffpool.training import RunConfig, engine
from dgl_diffpool.training.rundir import folder_lock, run_folder, write_json
from dgl_diffpool_cli import cli

MIRROR = os.environ.get("DGL_DIFFPOOL_MIRROR")
needs_mirror = pytest.mark.skipif(not MIRROR, reason="DGL_DIFFPOOL_MIRROR (the offline dataset mirror) is not set")
FAST = ["--epochs", "1", "--hidden", "8", "--mlp-hidden", "8", "--batch-size", "64", "--no-progress", "--no-plot"]


def _run(*args, env=None):
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def _one_line_error(result, pattern, code=1):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and pattern in errors[0], result.output


def _files(folder):
    """Every file under ``folder`` with its content (what a refused command must not touch)."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), folder)] = fh.read()
    return out


def _metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in fh]


def _cli_process(args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "dgl_diffpool_cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(path, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


# --- results can no longer be lost ---------------------------------------------------------------

def test_a_run_of_another_kind_is_refused(tmp_path, data_dir):
    out = str(tmp_path / "x")
    assert _run("train", "--data-dir", data_dir, "--protocol", "cv", "--folds", "2", *FAST, "--out", out).exit_code == 0
    before = _files(out)
    _one_line_error(_run("train", "--data-dir", data_dir, *FAST, "--out", out), "already holds a run")
    _one_line_error(_run("train", "--data-dir", data_dir, "--seeds", "2", *FAST, "--out", out), "already holds a run")
    assert _files(out) == before


def test_a_second_writer_is_refused_until_the_first_dies(tmp_path, data_dir):
    out = str(tmp_path / "run")
    assert _run("train", "--data-dir", data_dir, *FAST, "--out", out).exit_code == 0
    with folder_lock(out):  # another process writing this folder
        _one_line_error(_run("train", "--out", out, "--resume", "--epochs", "2", "--no-progress", "--no-plot"),
                        f"{out} is being written by another dgl-diffpool process")
    # The lock dies with its process, even on SIGKILL.
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from dgl_diffpool.training.rundir import "
                               "folder_lock\nwith folder_lock(sys.argv[1]):\n print('locked', flush=True)\n "
                               "time.sleep(600)", out], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    _one_line_error(_run("train", "--out", out, "--resume", "--epochs", "2", "--no-progress", "--no-plot"),
                    "being written by another")
    holder.kill()
    holder.wait()
    result = _run("train", "--out", out, "--resume", "--epochs", "2", "--no-progress", "--no-plot")
    assert result.exit_code == 0 and "of 2" in result.output, result.output


def test_default_run_names_are_unique_within_a_second(tmp_path, data_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_main.time, "strftime", lambda fmt: "20261126-010203")
    for _ in range(2):
        assert _run("train", "--data-dir", data_dir, *FAST).exit_code == 0
    names = sorted(os.listdir(tmp_path / "runs"))
    assert names == ["synthetic-diffpool-20261126-010203", "synthetic-diffpool-20261126-010203-2"]
    assert all(os.path.exists(tmp_path / "runs" / n / "summary.json") for n in names)


def test_resume_of_folds_and_seeds_checks_the_configuration_first(tmp_path, data_dir):
    cv = str(tmp_path / "cv")
    assert _run("train", "--data-dir", data_dir, "--protocol", "cv", "--folds", "2", *FAST, "--out", cv).exit_code == 0
    before = _files(cv)
    _one_line_error(_run("train", "--out", cv, "--resume", "--lr", "0.01", "--no-progress", "--no-plot"),
                    "holds a run with another configuration (lr: 0.001 != 0.01)")
    assert _files(cv) == before  # config.json is not rewritten before the check
    # A finished fold trained under another configuration is not mixed into the summary.
    fold_config = os.path.join(cv, "fold-1", "config.json")
    config = json.load(open(fold_config))
    write_json(fold_config, {**config, "hidden": 16})
    _one_line_error(_run("train", "--out", cv, "--resume", "--no-progress", "--no-plot"),
                    "fold-1 holds a run with another configuration (hidden: 16 != 8)")
    seeds = str(tmp_path / "seeds")
    assert _run("train", "--data-dir", data_dir, "--seeds", "2", *FAST, "--out", seeds).exit_code == 0
    _one_line_error(_run("train", "--out", seeds, "--resume", "--dropout", "0.5", "--no-progress", "--no-plot"),
                    "holds a run with another configuration (dropout: 0.0 != 0.5)")


def test_single_folds_add_up_in_one_summary(tmp_path, data_dir):
    out = str(tmp_path / "cv")
    args = ["train", "--data-dir", data_dir, "--protocol", "cv", "--folds", "3", *FAST, "--out", out]
    one = _run(*args, "--fold", "2")
    assert one.exit_code == 0 and "1 of 3 folds" in one.output, one.output
    two = _run(*args, "--fold", "0")
    assert two.exit_code == 0 and "2 of 3 folds" in two.output, two.output
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert (summary["finished"], summary["total"]) == (2, 3)
    scores = {row["fold"]: row["test_score"] for row in summary["per_fold"]}
    assert sorted(scores) == [0, 2]
    for fold, score in scores.items():
        assert json.load(open(os.path.join(out, f"fold-{fold}", "summary.json")))["test_score"] == score
    assert summary["test_score_mean"] == pytest.approx(sum(scores.values()) / 2)
    _one_line_error(_run(*args, "--fold", "2"), "fold-2 has finished already")
    # The remaining fold, by a full resume: every fold in the summary, none retrained.
    trained_before = {f: os.path.getmtime(os.path.join(out, f"fold-{f}", "best.pt")) for f in (0, 2)}
    assert _run("train", "--out", out, "--resume", "--no-progress", "--no-plot").exit_code == 0
    assert json.load(open(os.path.join(out, "summary.json")))["finished"] == 3
    assert {f: os.path.getmtime(os.path.join(out, f"fold-{f}", "best.pt")) for f in (0, 2)} == trained_before


def test_parallel_single_folds_share_a_folder(tmp_path, data_dir):
    out = str(tmp_path / "cv")
    args = ["train", "--data-dir", data_dir, "--protocol", "cv", "--folds", "2", *FAST, "--out", out]
    procs = [_cli_process([*args, "--fold", str(i)]) for i in (0, 1)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["finished"] == 2 and [r["fold"] for r in summary["per_fold"]] == [0, 1]
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_ctrl_c_before_the_first_epoch_resumes(tmp_path, data_dir, monkeypatch):
    full = str(tmp_path / "full")
    assert _run("train", "--data-dir", data_dir, *FAST, "--epochs", "2", "--out", full).exit_code == 0
    out = str(tmp_path / "run")
    real = engine.run_epoch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "run_epoch", interrupted)
    result = _run("train", "--data-dir", data_dir, *FAST, "--epochs", "2", "--out", out)
    _one_line_error(result, f"interrupted; continue with: dgl-diffpool train --out {out} --resume", code=130)
    monkeypatch.setattr(engine, "run_epoch", real)
    result = _run("train", "--out", out, "--resume", "--no-progress", "--no-plot")
    assert result.exit_code == 0, result.output
    assert _metrics(out) == _metrics(full)


def test_sigterm_stops_with_the_resume_hint(tmp_path, data_dir):
    out = str(tmp_path / "run")
    proc = _cli_process(["train", "--data-dir", data_dir, *FAST, "--epochs", "200", "--patience", "200",
                         "--out", out])
    _wait_for(os.path.join(out, "metrics.jsonl"), proc)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert f"Error: interrupted; continue with: dgl-diffpool train --out {out} --resume" in output
    assert "Traceback" not in output
    result = _run("train", "--out", out, "--resume", "--epochs", str(len(_metrics(out)) + 1), "--no-progress",
                  "--no-plot")
    assert result.exit_code == 0, result.output


# --- a run that fails before its first epoch leaves nothing ----------------------------------------

@needs_mirror
@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "NOPE"], "unknown dataset 'NOPE'"),
        (["--dataset", "MUTAG", "--mirror", "/nonexistent/mirror"],
         "mirror directory /nonexistent/mirror does not exist"),
        (["--dataset", "MUTAG", "--features", "attr"], "this dataset has no node attrs"),
        (["--dataset", "MUTAG", "--conv", "gine"], "conv 'gine' needs edge features"),
        (["--dataset", "MUTAG", "--protocol", "official"], "MUTAG has no official split"),
        (["--dataset", "MUTAG", "--protocol", "cv", "--fold", "99"], "fold must be in 0..9, got 99"),
        (["--dataset", "MUTAG", "--protocol", "cv", "--folds", "189"], "--folds 189: MUTAG has only 188 graphs"),
        (["--dataset", "MUTAG", "--protocol", "cv", "--folds", "64"],
         "--folds 64: the smallest class of MUTAG has 63 graphs"),
        (["--pool-levels", "1000"], "pool levels 1000: at ratio 0.25 the largest graph"),
        (["--hidden", "100000"], "cannot build model diffpool with these options"),
        (["--hidden", "99999999999999999999"], "hidden 99999999999999999999 is too large"),
        (["--lr", "inf"], "learning rate must be a finite number > 0, got inf"),
        (["--features", "label"], "the built-in dataset has fixed node features"),
        (["--seeds", "2", "--pool-levels", "1000"], "pool levels 1000"),
    ],
)
def test_failing_before_the_first_epoch_leaves_no_folder(tmp_path, data_dir, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    out = str(tmp_path / "deep" / "run")
    _one_line_error(_run("train", "--data-dir", data_dir, *FAST, *args, "--out", out), message)
    assert not os.path.exists(tmp_path / "deep")
    _one_line_error(_run("train", "--data-dir", data_dir, *FAST, *args), message)  # a default name
    assert not os.path.exists(tmp_path / "runs")


def test_a_bad_folds_file_leaves_no_folder(tmp_path, data_dir):
    bad = tmp_path / "folds.json"
    bad.write_text(json.dumps({"dataset": "MUTAG", "folds": [list(range(500)), list(range(500, 1000))]}))
    out = str(tmp_path / "run")
    args = ["train", "--data-dir", data_dir, "--protocol", "cv", "--folds", "2", *FAST, "--out", out]
    _one_line_error(_run(*args, "--folds-file", str(bad)), "are for dataset MUTAG, not synthetic")
    bad.write_text("{not json")
    _one_line_error(_run(*args, "--folds-file", str(bad)), f"cannot read folds file {bad}")
    assert not os.path.exists(out)


def test_a_folds_file_other_than_the_runs_is_refused(tmp_path, data_dir):
    out = str(tmp_path / "cv")
    args = ["train", "--data-dir", data_dir, "--protocol", "cv", "--folds", "2", *FAST, "--out", out]
    assert _run(*args, "--fold", "0").exit_code == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"dataset": "synthetic", "folds": [list(range(0, 1000, 2)), list(range(1, 1000, 2))]}))
    _one_line_error(_run(*args, "--fold", "1", "--folds-file", str(other)), "holds other folds than --folds-file")


def test_a_diverged_run_stops_with_an_error(tmp_path, data_dir):
    out = str(tmp_path / "run")
    result = _run("train", "--data-dir", data_dir, *FAST, "--epochs", "3", "--lr", "1e30", "--out", out)
    _one_line_error(result, "the training loss is nan: the run diverged")
    assert not os.path.exists(out)  # nothing was checkpointed


def test_a_failed_run_removes_only_what_it_created(tmp_path):
    # Two selection workers: one creates fold-0/ for its candidate, the other trains beside it; the
    # first fails before any checkpoint and must not take its neighbour's folder with its own.
    config, fold = RunConfig(), tmp_path / "sel" / "fold-0"
    with pytest.raises(TrainingError):
        with run_folder(str(fold / "candidate-0"), config):
            neighbour = fold / "candidate-1"
            neighbour.mkdir()
            (neighbour / "last.pt").write_text("another worker's checkpoint")
            raise TrainingError("the training loss is nan")
    assert sorted(os.listdir(tmp_path / "sel")) == ["fold-0"] and os.listdir(fold) == ["candidate-1"]
    assert (fold / "candidate-1" / "last.pt").read_text() == "another worker's checkpoint"
    # Alone, it removes every folder it created, up to the outermost.
    with pytest.raises(TrainingError):
        with run_folder(str(tmp_path / "other" / "fold-0" / "candidate-0"), config):
            raise TrainingError("the training loss is nan")
    assert not os.path.exists(tmp_path / "other")


def test_json_files_stay_strict():
    from dgl_diffpool.training.rundir import _strict

    assert json.loads(json.dumps(_strict({"a": float("nan"), "b": [float("inf"), 1.5], "c": 2}), allow_nan=False)) \
        == {"a": None, "b": [None, 1.5], "c": 2}


# --- bad input that gave a traceback -------------------------------------------------------------

def test_broken_resume_files_give_one_line(tmp_path, data_dir):
    out = str(tmp_path / "run")
    assert _run("train", "--data-dir", data_dir, *FAST, "--out", out).exit_code == 0
    last = os.path.join(out, "last.pt")
    data = open(last, "rb").read()
    with open(last, "wb") as fh:
        fh.write(data[: len(data) // 2])
    _one_line_error(_run("train", "--out", out, "--resume", "--epochs", "2", "--no-progress"),
                    f"checkpoint {last} is unreadable: truncated or corrupt")
    with open(os.path.join(out, "config.json"), "w") as fh:
        fh.write('{"lr": ')
    _one_line_error(_run("train", "--out", out, "--resume", "--epochs", "2", "--no-progress"),
                    "config.json is not valid JSON")
    _one_line_error(_run("train", "--out", str(tmp_path / "nothing"), "--resume"), "no run to resume in")


def test_an_explicit_data_dir_is_created(tmp_path):
    data = tmp_path / "new" / "data"
    result = _run("prep", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    assert os.path.isdir(data / "synthetic")


@needs_mirror
def test_unknown_features_are_refused_before_any_download(tmp_path, monkeypatch):
    from dgl_diffpool.data import tu

    monkeypatch.setattr(tu, "download_tu_zip", lambda *a: pytest.fail("downloaded before checking --features"))
    _one_line_error(_run("prep", "MUTAG", "--data-dir", str(tmp_path), "--mirror", str(tmp_path / "m"),
                         "--features", "colour"), "unknown feature kind 'colour'")
    _one_line_error(_run("train", "--dataset", "MUTAG", "--data-dir", str(tmp_path), "--features", "degree+nope",
                         "--out", str(tmp_path / "r")), "unknown feature kind 'nope'")
    assert not os.path.exists(tmp_path / "r")


def test_bench_refuses_ogb_before_loading_it(tmp_path, monkeypatch):
    from dgl_diffpool.data import registry

    monkeypatch.setattr(registry, "load_ogb", lambda *a, **k: pytest.fail("bench loaded an OGB dataset"))
    result = _run("bench", "--datasets", "MUTAG,ogbg-molhiv", "--models", "sage-mean", "--out", str(tmp_path / "b"))
    _one_line_error(result, "ogbg-molhiv come(s) with an official split")
    assert not os.path.exists(tmp_path / "b")


def _obey_permissions():
    """Drop root's power to override file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH from the
    bounding set, effective from the next exec), so that a read-only folder is read-only as for users."""
    if os.getuid() == 0:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@pytest.mark.parametrize("case", ["out", "out-parent", "resume", "cwd", "data-dir"])
def test_permission_errors_give_one_line(tmp_path_factory, data_dir, case):
    import stat

    root = str(tmp_path_factory.mktemp("perm"))
    try:
        ro = os.path.join(root, "ro")
        os.mkdir(ro)
        data = os.path.join(root, "data")
        os.mkdir(data)
        args = ["train", *FAST]
        cwd = root
        if case == "resume":
            out = os.path.join(ro, "run")
            assert _run("train", "--data-dir", data, *FAST, "--out", out).exit_code == 0
            subprocess.run(["chmod", "-R", "a+rX,a-w", ro], check=True)
            args = ["train", "--out", out, "--resume", "--epochs", "2", "--no-progress", "--no-plot"]
            expected = "Permission denied"
        elif case == "out":  # an existing, empty, read-only --out
            args += ["--data-dir", data, "--out", ro]
            expected = f"Permission denied: {os.path.join(ro, '.lock')}"
        elif case == "out-parent":
            args += ["--data-dir", data, "--out", os.path.join(ro, "run")]
            expected = f"Permission denied: {os.path.join(ro, 'run')}"
        elif case == "cwd":
            cwd = ro  # default data/ and runs/ under a read-only working directory
            expected = "Permission denied"
        else:
            args += ["--data-dir", os.path.join(ro, "data"), "--out", os.path.join(data, "run")]
            expected = f"Permission denied: {os.path.join(ro, 'data')}"
        os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HOME": root, "MPLCONFIGDIR": os.path.join(root, "mpl")}
        proc = subprocess.run([sys.executable, "-m", "dgl_diffpool_cli", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, preexec_fn=_obey_permissions, timeout=300)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1 and "Traceback" not in output, output
        errors = [line for line in output.splitlines() if line.startswith("Error")]
        assert len(errors) == 1 and expected in errors[0], output
    finally:
        subprocess.run(["chmod", "-R", "u+w", root])
