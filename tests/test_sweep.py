"""``minimlp-colorize sweep`` (local executor) and the user mistakes every executor reports in one line."""
import json
import os
import subprocess
import sys

import pytest

from minimlp.colorize import cli
from minimlp.colorize.experiments.sweep import parse_grid, plan_sweep


def test_the_grid_is_every_combination_and_a_shared_configuration_runs_once():
    grid = parse_grid(["lr=1e-3,2e-4", "batch_size=16,64", "hidden=512,512-256"])
    assert grid == {"lr": [1e-3, 2e-4], "batch_size": [16, 64], "hidden": [[512], [512, 256]]}
    runs = plan_sweep(["paper-mlp1", "paper-ae1", "paper-ae2"], grid, [0, 1], epochs=3)
    # paper-ae1 is paper-mlp1 (1024-512-3072), and hidden=... overrides the preset's widths: paper-ae2 adds nothing
    assert len(runs) == 2 * 2 * 2 * 2
    names = [name for name, _ in runs]
    assert "paper-mlp1_batch_size-16_hidden-512-256_lr-0.001-e3-s1" in names
    config = dict(runs)["paper-mlp1_batch_size-64_hidden-512_lr-0.0002-e3-s0"]
    assert config["training"]["lr"] == 2e-4 and config["training"]["batch_size"] == 64
    assert config["model_kwargs"]["hidden"] == [512] and config["seed"] == 0 and config["training"]["epochs"] == 3


@pytest.mark.parametrize("argv, message", [
    (["--grid", "lr"], "expected KEY=VALUE"),
    (["--grid", "lr=1e-3,,2e-4"], "an empty value"),
    (["--grid", "learning_rate=1e-3"], "unknown option 'learning_rate'"),
    (["--grid", "lr=fast"], "expected a number"),
    (["--grid", "optimizer=adamax"], "choose from sgd"),
    (["--grid", "batch_size=0"], "a positive integer"),
    (["--grid", "lr=1e-3", "lr=2e-4"], "lr given twice"),
    (["--models", "paper-mlp9"], "unknown model 'paper-mlp9'"),
    (["--seeds", "a,b"], "--seeds a,b"),
    (["--grid", "split=full"], "only the paper's split"),
    (["--executor", "local", "--address", "auto"], "options of --executor ray"),
])
def test_a_user_mistake_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "sweep"
    assert cli.main(["sweep", "--out", str(out), "--device", "cpu"] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("minimlp-colorize sweep: error:"), err
    assert not out.exists()


def test_executor_ray_without_ray_installed_is_one_line(tmp_path):
    """A Python where ``import ray`` fails (``sys.modules['ray'] = None``), as in an install without the extra."""
    out = tmp_path / "results"
    code = ("import sys; sys.modules['ray'] = None; from minimlp.colorize import cli; "
            f"sys.exit(cli.main(['reproduce', '--quick', '--out', {str(out)!r}, '--executor', 'ray']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("minimlp-colorize reproduce: error: --executor ray needs Ray: "
                                   "pip install -e '.[cluster]'")
    assert not out.exists()


def test_a_local_sweep_trains_every_combination_and_reuses_finished_runs(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    argv = ["sweep", "--out", out, "--grid", "lr=1e-3,2e-4", "--epochs", "1", "--train-size", "64", "--device", "cpu"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "2/2 done, 0 running, 0 failed, 0 waiting" in err and "ETA" in err
    runs = sorted(d for d in os.listdir(os.path.join(out, "runs")) if not d.startswith("."))   # .gitignore: "*"
    assert runs == ["paper-mlp1_lr-0.0002-e1-n64-s0", "paper-mlp1_lr-0.001-e1-n64-s0"]
    table = open(os.path.join(out, "SWEEP.md"), encoding="utf-8").read()
    assert "| paper-mlp1_lr-0.001-e1-n64 | 1 |" in table and "grid: lr=0.001,0.0002" in table
    scores = json.load(open(os.path.join(out, "sweep.json"), encoding="utf-8"))
    assert set(scores) == set(runs) and all(0 < s["valid"] < 1 for s in scores.values())
    stamp = os.path.getmtime(os.path.join(out, "runs", runs[0], "scores.json"))
    assert cli.main(argv) == 0
    assert "2 of 2 runs already done" in capsys.readouterr().err
    assert os.path.getmtime(os.path.join(out, "runs", runs[0], "scores.json")) == stamp
