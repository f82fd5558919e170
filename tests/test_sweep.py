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


# ------------------------------------------------------------------ issue 31: what a new user hit

@pytest.mark.parametrize("name", ["unet", "unet-small", "unet-vivid", "unet4-vivid", "unet-vivid-small"])
def test_1_every_unet_preset_plans_runs_that_build(name):
    """MLP settings are added to MLP presets only: each U-Net preset, with and without a grid, builds."""
    from minimlp.colorize.models.architectures import ARCHITECTURES
    from minimlp.colorize.models.presets import MODEL_KEYS
    for grid in ({}, {"lr": [1e-3, 2e-3], "batch_size": [32]}):
        for _, config in plan_sweep([name], grid, [0], epochs=1, train_size=32):
            kwargs = dict(config["model_kwargs"])
            assert not set(MODEL_KEYS) & set(kwargs), kwargs
            ARCHITECTURES[kwargs.pop("arch")](**kwargs)   # where 'activation' was refused


def test_1_a_sweep_of_a_unet_preset_trains(tmp_path):
    out = tmp_path / "sw"
    result = subprocess.run([sys.executable, "-m", "minimlp.colorize", "sweep", "--out", str(out), "--models",
                             "unet-small", "--grid", "lr=2e-3", "--epochs", "1", "--train-size", "32", "--device",
                             "cpu"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "1/1 done, 0 running, 0 failed" in result.stderr and "TypeError" not in result.stderr
    assert "| unet-small_lr-0.002-e1-n32 | 1 |" in (out / "SWEEP.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--grid", "lr=0"], "--grid lr=0: must be a finite number greater than 0"),
    (["--grid", "lr=2e-4,nan"], "--grid lr=nan: must be a finite number greater than 0"),
    (["--grid", "lr=inf"], "--grid lr=inf: must be a finite number greater than 0"),
    (["--grid", "weight_decay=-0.1"], "--grid weight_decay=-0.1: must be a finite number, 0 or more"),
    (["--grid", "batch_size=16,1"], "--grid batch_size=1: paper-mlp1 has BatchNorm, which needs at least 2 images"),
    (["--grid", "dropout=1"], "--grid dropout=1: must be in [0, 1)"),
    (["--train-size", "1"], "--train-size 1: must be at least 2"),
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
])
def test_10_grid_values_meet_trains_own_rules_before_any_run(tmp_path, argv, message):
    """As a user runs it (a subprocess): one line with train's wording, exit 2, and no folder."""
    out = tmp_path / "sweep"
    result = subprocess.run([sys.executable, "-m", "minimlp.colorize", "sweep", "--out", str(out), "--device", "cpu",
                             *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line, = result.stderr.strip().splitlines()
    assert line.startswith(f"minimlp-colorize sweep: error: {message}"), line
    assert not out.exists()


def test_10_a_unet_trains_on_batches_of_one(tmp_path):
    """batch_size=1 is refused for BatchNorm1d only: the U-Net's BatchNorm2d averages over the pixels too."""
    runs = plan_sweep(["unet-small"], parse_grid(["batch_size=1"]), [0], epochs=1, train_size=8)
    from minimlp.colorize.running.rules import check_config
    check_config(runs[0][1])


def test_2_a_sweep_folder_holding_other_settings_is_refused_unless_forced(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    base = ["sweep", "--out", out, "--epochs", "1", "--train-size", "32", "--device", "cpu"]
    assert cli.main(base + ["--grid", "lr=1e-3"]) == 0
    report = open(os.path.join(out, "SWEEP.md"), encoding="utf-8").read()
    capsys.readouterr()
    assert cli.main(base + ["--grid", "lr=2e-4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"minimlp-colorize sweep: error: --out {out} holds a sweep with other settings (sweep.json: 1 "
                   f"runs, 1 of them, e.g. paper-mlp1_lr-0.001-e1-n32-s0, not run by this command): pass --force "
                   f"to replace its report, or choose another --out"], err
    assert open(os.path.join(out, "SWEEP.md"), encoding="utf-8").read() == report
    assert sorted(os.listdir(os.path.join(out, "runs"))) == [".gitignore", "paper-mlp1_lr-0.001-e1-n32-s0"]
    assert cli.main(base + ["--grid", "lr=1e-3"]) == 0   # the same settings: continued (its run reused)
    assert "1 of 1 runs already done" in capsys.readouterr().err
    assert cli.main(base + ["--grid", "lr=1e-3,2e-4", "--force"]) == 0
    assert "| paper-mlp1_lr-0.0002-e1-n32 | 1 |" in open(os.path.join(out, "SWEEP.md"), encoding="utf-8").read()
    assert cli.main(["reproduce", "--out", out, "--quick", "--device", "cpu"]) == 2
    assert f"--out {out} holds a sweep (sweep.json), not a study (reproduce)" in capsys.readouterr().err


def poison_and_sweep(tmp_path, capsys, extra):
    """Sweep two seeds where seed 1's folder holds a ``last.npz`` cut short: that run fails inside training
    (resuming from it); the other is trained and saved; exit 2 with the one-line message; no SWEEP.md."""
    import re
    out = tmp_path / "sweep"
    poisoned = out / "runs" / "paper-mlp1-e1-n64-s1"
    poisoned.mkdir(parents=True)
    (poisoned / "last.npz").write_bytes(b"PK\x03\x04" + bytes(4096))
    assert cli.main(["sweep", "--out", str(out), "--seeds", "0,1", "--epochs", "1", "--train-size", "64",
                     "--device", "cpu"] + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "1/2 done, 0 running, 1 failed, 0 waiting" in err[-2], err
    assert re.fullmatch(r"minimlp-colorize sweep: error: 1 of 2 runs failed \(first: paper-mlp1-e1-n64-s1: "
                        r"DamagedCheckpoint: \S*last\.npz is truncated or damaged .*\); the finished runs are saved, "
                        r"rerun the same command to retry the others", err[-1]), err[-1]
    assert (out / "runs" / "paper-mlp1-e1-n64-s0" / "scores.json").exists()
    assert not (poisoned / "scores.json").exists() and not (out / "SWEEP.md").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_14_a_run_failing_inside_training_is_counted_by_the_local_executor(tmp_path, capsys, jobs):
    poison_and_sweep(tmp_path, capsys, ["--jobs", jobs])
