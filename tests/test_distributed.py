"""Data-parallel training under torchrun: 2 processes on loopback with gloo."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from dgl_diffpool.training import load_checkpoint

# BatchNorm statistics are per process and the entropy loss is a mean over each process's
# nodes, so exact agreement with one process is checked without them (see the README).
ARGS = ["--epochs", "4", "--no-batch-norm", "--no-entropy-loss", "--dropout", "0", "--batch-size", "50",
        "--hidden", "8", "--mlp-hidden", "8", "--no-progress", "--no-plot"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(data_dir, out, processes, extra=()):
    cli = ["-m", "dgl_diffpool_cli", "train", "--data-dir", data_dir, "--out", out, *ARGS, *extra]
    if processes == 1:
        return [sys.executable, *cli]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
            "--master_addr=127.0.0.1", f"--master_port={_free_port()}", *cli]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        return [{k: v for k, v in json.loads(line).items() if k not in ("seconds", "train_entropy")} for line in fh]


def _close(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), k


@pytest.fixture(scope="module")
def prepared(data_dir):
    # Prepare the dataset once so that the processes only read the cache.
    _run([sys.executable, "-m", "dgl_diffpool_cli", "prep", "--data-dir", data_dir])
    return data_dir


def test_two_processes_match_one_and_a_killed_run_resumes(tmp_path, prepared):
    one, two, cut = (str(tmp_path / n) for n in ("one", "two", "cut"))
    _run(_command(prepared, one, 1))
    output = _run(_command(prepared, two, 2))
    assert output.count("run directory:") == 1  # only rank 0 reports
    m1, m2 = _metrics(one), _metrics(two)
    assert len(m1) == len(m2) == 4
    for a, b in zip(m1, m2):
        _close(a, b)
    w1 = load_checkpoint(os.path.join(one, "last.pt"))["model"]
    w2 = load_checkpoint(os.path.join(two, "last.pt"))["model"]
    assert w1.keys() == w2.keys()
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-3, atol=1e-5)

    # Kill a 2-process run (torchrun and its workers) once its first checkpoint exists, then resume it.
    proc = subprocess.Popen(_command(prepared, cut, 2), env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not os.path.exists(os.path.join(cut, "last.pt")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    epochs_done = len(_metrics(cut))
    assert epochs_done >= 1 and not os.path.exists(os.path.join(cut, "summary.json"))
    _run(_command(prepared, cut, 2, ["--resume"]))
    resumed = _metrics(cut)
    assert len(resumed) == len(m2)
    for a, b in zip(m2, resumed):
        _close(a, b)
    with open(os.path.join(two, "summary.json")) as fh, open(os.path.join(cut, "summary.json")) as gh:
        s1, s2 = json.load(fh), json.load(gh)
    assert (s1["best_epoch"], s1["test_score"]) == (s2["best_epoch"], s2["test_score"])


def test_a_cross_validation_repeated_over_seeds_under_torchrun(tmp_path, prepared):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    repeated = ["--protocol", "cv", "--folds", "2", "--seeds", "2", "--epochs", "1"]
    _run(_command(prepared, one, 1, repeated))
    output = _run(_command(prepared, two, 2, repeated))
    assert output.count("2 2-fold cross-validations: test accuracy") == output.count("run directory:") == 1
    with open(os.path.join(one, "summary.json")) as fh, open(os.path.join(two, "summary.json")) as gh:
        s1, s2 = json.load(fh), json.load(gh)
    assert [r["seed"] for r in s2["per_seed"]] == [0, 1]
    means = [r["test_score_mean"] for r in s1["per_seed"]]
    assert [r["test_score_mean"] for r in s2["per_seed"]] == pytest.approx(means)


class _Exited(Exception):
    pass


@pytest.fixture
def exits(monkeypatch):
    """``os._exit`` recorded instead of taken, in a process that looks like one of a 2-process run."""
    from dgl_diffpool.training import distributed

    def _exit(code):
        raise _Exited(code)

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(os, "_exit", _exit)
    return distributed


@pytest.mark.parametrize("code, status", [(None, 0), (0, 0), (2, 2)])
def test_a_distributed_process_exits_at_once_with_the_status_it_was_given(exits, code, status):
    with pytest.raises(_Exited) as exited:
        exits.exit_if_distributed(code)
    assert exited.value.args == (status,)


def test_a_distributed_process_given_a_message_prints_it_and_exits_with_1(exits, capsys):
    with pytest.raises(_Exited) as exited:
        exits.exit_if_distributed("no such run")
    assert exited.value.args == (1,)
    assert capsys.readouterr().err == "no such run\n"


def test_the_console_script_ends_a_distributed_process_with_the_command_s_status(exits, monkeypatch):
    from dgl_diffpool_cli import main as cli_main

    # Bad input: click's usage error, status 2.
    monkeypatch.setattr(sys, "argv", ["dgl-diffpool", "train", "--epochs", "0"])
    with pytest.raises(_Exited) as exited:
        cli_main.main()
    assert exited.value.args == (2,)

    monkeypatch.setattr(exits, "world_size", lambda: 1)  # outside a distributed run: the usual SystemExit
    with pytest.raises(SystemExit) as ended:
        cli_main.main()
    assert ended.value.code == 2
