"""Issue 31: a training's run folder as a new user meets it. Nothing is written before an error, two trainings
never share a folder, a damaged checkpoint is named as such, and Ctrl-C says what it left.

Every test runs ``minimlp-colorize`` in a subprocess, as a user does, and checks the exit code, the message
and that nothing was written or lost. The numbers in the test names are the issue's items.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from photo_samples import gradient_rgb
from PIL import Image
from test_cli_bad_input import cli, one_error_line, snapshot

from minimlp import backend

TINY = ["--epochs", 1, "--train-size", 32, "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished one-epoch run (best.npz, last.npz, …), to be copied by the tests that damage it."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    result = cli("train", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def _copy(folder, to):
    import shutil
    shutil.copytree(folder, to)
    return to


def test_4_an_epoch_without_a_batch_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    result = cli("train", "--batch-size", 100000, "--train-size", 100, "--drop-last", "--epochs", 1, "--out", out)
    one_error_line(result, "--batch-size 100000: an epoch would hold no batch", "100 training images",
                   "lower --batch-size or drop --drop-last")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flag, value, needle", [("--lr", "inf", "a finite number greater than 0"),
                                                 ("--weight-decay", "inf", "a finite number, 0 or more")])
def test_11_an_infinite_number_is_refused_and_nothing_written(tmp_path, flag, value, needle):
    result = cli("train", *TINY, flag, value, "--out", tmp_path / "run")
    one_error_line(result, f"{flag} {value}: must be {needle}")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", ["train", "colorize"])
@pytest.mark.parametrize("variable, value", [("MINIMLP_NUM_THREADS", "abc"), ("MINIMLP_CPU_KERNELS", "fortran")])
def test_11_a_wrong_environment_variable_is_named_and_nothing_written(tmp_path, variable, value, command):
    """Refused before the command starts, whether or not it would have read the variable (``colorize`` in
    evaluation mode runs no compiled kernel)."""
    photo = tmp_path / "photo.png"
    Image.fromarray(gradient_rgb()).save(photo)
    args = ["train", *TINY, "--out", tmp_path / "run"] if command == "train" else ["colorize", photo, "-o",
                                                                                   tmp_path / "run"]
    result = cli(*args, env={variable: value})
    one_error_line(result, f"minimlp-colorize {command}: error: {variable} must be", repr(value))
    assert os.listdir(tmp_path) == ["photo.png"]


def test_11_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path):
    """A loss that turns NaN in epoch 1: the config.json written at the start goes again, and so does the
    folder the run created; one line names the epoch and step."""
    out = tmp_path / "run"
    result = cli("train", *TINY, "--lr", "1e38", "--out", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr   # NumPy warns of the overflow first
    assert result.stderr.strip().splitlines()[-1].startswith("minimlp-colorize train: error: training diverged at "
                                                              "epoch 1, step ")
    assert os.listdir(tmp_path) == []


def test_7_a_second_training_into_a_busy_folder_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "minimlp.colorize", "train", "--quiet", "--out", str(out)],
                             env={**os.environ, "MINIMLP_DEVICE": "cpu"}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.json").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        config = (out / "config.json").read_bytes()
        second = cli("train", *TINY, "--seed", 1, "--out", out)
        line = one_error_line(second, f"--out {out} is in use by another training (process {first.pid} on ",
                              "minimlp-colorize train --quiet --out", "wait for it to end or choose another --out")
        assert "--seed 1" not in line   # the owner's command line, not the refused one's
        assert (out / "config.json").read_bytes() == config and json.loads(config)["seed"] == 0
        assert first.poll() is None   # the first goes on
    finally:
        first.kill()
        first.wait()


def test_7_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    """A training killed outright (SIGKILL) cannot remove its lock file; the kernel has released its lock, so
    the next training takes the folder and removes the file when it ends."""
    out = tmp_path / "run"
    code = ("import os, signal, sys; from minimlp.train.lock import folder_lock; "
            "lock = folder_lock(sys.argv[1], '--out', 'minimlp-colorize train --out run'); lock.__enter__(); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    dead = subprocess.run([sys.executable, "-c", code, str(out)], check=False)
    assert dead.returncode == -signal.SIGKILL and (out / ".lock").exists()
    result = cli("train", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    assert (out / "last.npz").exists() and not (out / ".lock").exists()


def test_9_a_truncated_best_npz_is_named_and_the_intact_last_npz_offered(tmp_path, tiny_run):
    run = _copy(tiny_run, tmp_path / "run")
    os.truncate(run / "best.npz", 100000)
    before = snapshot(run)
    line = one_error_line(cli("evaluate", "--checkpoint", run), f"{run / 'best.npz'} is truncated or damaged",
                          f"the run's last.npz is intact: pass --checkpoint {run / 'last.npz'}")
    assert "not a zip archive" not in line and "not a .npz file" not in line
    assert cli("evaluate", "--checkpoint", run / "last.npz").returncode == 0
    assert snapshot(run) == before


def test_9_resume_from_a_truncated_last_npz_says_so(tmp_path, tiny_run):
    run = _copy(tiny_run, tmp_path / "run")
    os.truncate(run / "last.npz", 100000)
    before = snapshot(run)
    one_error_line(cli("train", "--out", run, "--resume", "--epochs", 2, "--quiet"),
                   f"--resume: {run / 'last.npz'} is truncated or damaged", "cannot be continued",
                   "another --out", "its best.npz still serves evaluate and colorize")
    assert snapshot(run) == before


def _interrupt_when(process, ready, timeout=120):
    """Send SIGINT (Ctrl-C) to ``process`` as soon as ``ready()`` holds; its (stdout, stderr) when it ends."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    return process.communicate(timeout=120)


def test_6_ctrl_c_in_the_first_epoch_leaves_nothing_and_says_so(tmp_path):
    out = tmp_path / "run"
    train = subprocess.Popen([sys.executable, "-m", "minimlp.colorize", "train", "--quiet", "--out", str(out)],
                             env={**os.environ, "MINIMLP_DEVICE": "cpu"}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    _, err = _interrupt_when(train, lambda: (out / "config.json").exists())
    assert train.returncode == 130, err
    assert err.strip() == ("minimlp-colorize train: interrupted; no epoch had finished, so nothing was kept; run "
                           "the command again to start over")
    assert os.listdir(tmp_path) == []


def test_6_ctrl_c_after_an_epoch_offers_resume(tmp_path):
    out = tmp_path / "run"
    train = subprocess.Popen([sys.executable, "-m", "minimlp.colorize", "train", "--quiet", "--train-size", "64",
                              "--out", str(out)], env={**os.environ, "MINIMLP_DEVICE": "cpu"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = _interrupt_when(train, lambda: (out / "last.npz").exists())
    assert train.returncode == 130, err
    assert err.strip().splitlines()[-1] == ("minimlp-colorize train: interrupted; rerun with --resume to continue "
                                            "from the last finished epoch")
    assert not (out / ".lock").exists()
    resumed = cli("train", "--quiet", "--train-size", 64, "--epochs", 3, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr


def test_6_ctrl_c_during_evaluate_says_nothing_was_written(tmp_path, monkeypatch, capsys):
    """Ctrl-C arrives while the test images are scored (``cli.main``, the interrupt raised where it lands)."""
    from minimlp.colorize import cli as colorize_cli
    from minimlp.colorize.cli import commands

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(commands, "evaluate_images", interrupted)
    monkeypatch.chdir(tmp_path)
    assert colorize_cli.main(["evaluate", "--checkpoint", "pretrained", "--device", "cpu"]) == 130
    assert capsys.readouterr().err == "minimlp-colorize evaluate: interrupted; nothing was written\n"
    assert os.listdir(tmp_path) == []


def test_13_one_epoch_and_the_auto_device_said_once_in_the_run_line(tmp_path):
    """Without --quiet and with stderr a file (not a terminal): no progress bars (no carriage returns), the
    run's first line says '1 epoch' and, for --device auto, which device and why, once."""
    result = cli("train", "--epochs", 1, "--train-size", 32, "--device", "auto", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("training paper-mlp1 on 32 images (default, paper split), 1 epoch, batch 16")
    assert lines[1].startswith("epoch 1/1  train ")
    assert len(lines) == 2
    if not backend.gpu_available():
        assert lines[0].endswith("device cpu (picked by --device auto: " + backend.gpu_unavailable_reason() + ")")
    assert "picked" not in result.stdout and result.stderr.count("picked") == 1


@pytest.mark.parametrize("args", [["evaluate", "--checkpoint", "pretrained", "--json"],
                                  ["evaluate", "--checkpoint", "pretrained", "--data", "missing.tar.gz"],
                                  ["train", "--data", "missing.tar.gz", "--out", "{tmp}/run"]])
def test_13_the_auto_device_is_not_announced_where_it_does_not_matter(tmp_path, args):
    result = cli(*[a.format(tmp=tmp_path) for a in args], "--device", "auto")
    assert "device 'auto'" not in result.stderr and "picked" not in result.stderr, result.stderr
    if "missing.tar.gz" in args:
        one_error_line(result, "missing.tar.gz")
    else:
        assert result.returncode == 0 and result.stderr == ""
