"""The U-Net colorizer through the command line: presets, training, exact resume, NaN stop, evaluate, export.

A tiny U-Net (widths 4-8, registered as the preset 'unet-tiny' for these
tests only) trains on 48 images and is scored on the first 64 validation and
100 test images of the default data (``load_split`` is cut for these tests), so that each run takes a second or two.
"""
import json
import os

import numpy as np
import pytest

import minimlp
from minimlp import nn
from minimlp.colorize import cli, evaluate_images, load_colorizer
from minimlp.colorize.cli import commands
from minimlp.colorize.experiments import run, ship as shipping
from minimlp.colorize.experiments.ship import ship
from minimlp.colorize.models import architectures, presets, store
from minimlp.colorize.running import training
from minimlp.colorize.running.training import train_run
from minimlp.data import Split, load_default
from minimlp.train import TrainingDiverged

TINY = ["--model", "unet-tiny", "--train-size", "48", "--batch-size", "16", "--device", "cpu", "--quiet"]


def small_split(*args, **kwargs):
    split = load_default()
    return Split(split.train, split.valid.subset(range(64)), split.test.subset(range(100)))


@pytest.fixture(scope="module", autouse=True)
def tiny_preset():
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(presets.PRESETS, "unet-tiny", {**presets.PRESETS["unet-small"],
                                                  "model": {"arch": "unet", "widths": [4, 8], "out_channels": 2}})
        for module in (training, run, shipping, commands):
            mp.setattr(module, "load_split", small_split)
        yield


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_preset):
    out = str(tmp_path_factory.mktemp("unet") / "run")
    assert cli.main(["train", "--epochs", "2", "--out", out] + TINY) == 0
    return out


def test_build_model_dispatches_on_arch_and_old_configs_stay_mlps():
    old = architectures.build_model({"model_kwargs": {"hidden": [8], "out_features": 2048}})
    assert isinstance(old[0], nn.Linear) and old[0].weight.shape == (8, 1024)
    minimlp.manual_seed(0)
    flat = architectures.build_model({"model_kwargs": {"arch": "unet", "widths": [4, 8], "out_channels": 5}}).eval()
    x = np.random.default_rng(0).uniform(-1, 1, (3, 1024)).astype(np.float32)
    y = flat(x)
    assert y.shape == (3, 5 * 1024)
    # the wrapper is only reshapes: the inner U-Net on (N, 1, 32, 32) gives the same numbers, channel-planar
    np.testing.assert_array_equal(y.reshape(3, 5, 32, 32), flat[1](x.reshape(3, 1, 32, 32)))
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        architectures.build_model({"model_kwargs": {"arch": "resnet"}})


def test_unet_presets_carry_the_recipe_of_the_torch_twin():
    for name, widths in (("unet", [32, 64, 128]), ("unet-small", [16, 32, 64])):
        p = presets.preset(name)
        assert p["task"] == "chroma" and p["model"] == {"arch": "unet", "widths": widths, "out_channels": 2}
        assert p["training"] == {"optimizer": "adamw", "lr": 2e-3, "batch_size": 64, "epochs": 20,
                                 "weight_decay": 1e-2, "schedule": "onecycle", "split": "full", "hflip": True}
    net = architectures.build_model({"model_kwargs": presets.PRESETS["unet"]["model"]})
    # blocks 1→32→32, 32→64→64, 64→128→128, 128→64→64, 64→32→32, two ConvT, a 1x1 head: torch_unet's count
    assert sum(p.data.size for p in net.parameters()) == 467266


def test_train_a_tiny_unet_writes_every_file_and_evaluates_as_computed(tiny_run, capsys):
    for name in ("best.npz", "last.npz", "history.csv", "config.json", "metrics.json", "loss_curve.png",
                 "samples_test.png"):
        assert os.path.exists(os.path.join(tiny_run, name)), name
    config = json.load(open(os.path.join(tiny_run, "config.json")))
    assert config["model_kwargs"]["arch"] == "unet" and config["command"].startswith("minimlp-colorize train")
    assert cli.main(["evaluate", "--checkpoint", tiny_run, "--json", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    model, config = load_colorizer(tiny_run)
    images = small_split().test.images
    assert printed["n_images"] == 100
    gray = (np.asarray([0.299, 0.587, 0.114]) @ images.reshape(-1, 3).T.astype(np.float64)).reshape(100, 32, 32)
    gray = (gray / 127.5 - 1).astype(np.float32)
    uv = model[1](gray[:, None]).astype(np.float64)          # (N, 2, 32, 32) chroma planes
    wr, wg, wb = 0.299, 0.587, 0.114   # BT.601 YUV with U max 0.436, V max 0.615, inverted
    to_yuv = np.array([[wr, wg, wb], [-0.436 * wr / (1 - wb), -0.436 * wg / (1 - wb), 0.436],
                       [0.615, -0.615 * wg / (1 - wr), -0.615 * wb / (1 - wr)]])
    yuv = np.concatenate([gray[:, None].astype(np.float64), uv], axis=1)
    rgb = np.einsum("ij,njhw->nihw", np.linalg.inv(to_yuv), yuv)
    truth = images.transpose(0, 3, 1, 2) / 127.5 - 1
    assert printed["test_mse"] == pytest.approx(np.mean((np.clip(rgb, -1, 1) - truth) ** 2), rel=1e-4)
    assert printed["test_mse"] == pytest.approx(evaluate_images(model, "chroma", images)["test_mse"], rel=1e-12)


def test_a_unet_run_killed_after_epoch_1_resumes_to_the_uninterrupted_weights(tmp_path):
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    assert cli.main(["train", "--epochs", "2", "--out", whole] + TINY) == 0
    config = json.load(open(os.path.join(whole, "config.json")))

    def kill(epoch, row, model):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(config, parts, device="cpu", quiet=True, callbacks=[kill])
    assert cli.main(["train", "--out", parts, "--resume", "--device", "cpu", "--quiet"]) == 0
    a = minimlp.load(os.path.join(whole, "last.npz"))
    b = minimlp.load(os.path.join(parts, "last.npz"))
    assert any("running_var" in key for key in a["model"])   # BatchNorm2d buffers are compared too
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key])
    assert [r["valid_loss"] for r in a["history"]] == [r["valid_loss"] for r in b["history"]]
    assert [r["lr"] for r in a["history"]] == [r["lr"] for r in b["history"]]


def test_a_one_cycle_run_cannot_be_stretched_by_resume(tiny_run, capsys):
    assert cli.main(["train", "--epochs", "5", "--out", tiny_run, "--resume", "--device", "cpu", "--quiet"]) == 2
    assert "one-cycle schedule spans its 2 epochs and cannot be stretched" in capsys.readouterr().err


def test_a_batch_of_one_image_trains_a_unet(tmp_path, capsys):
    # 17 images in batches of 16 leave one: an MLP's BatchNorm1d needs it dropped, the U-Net's BatchNorm2d does not
    out = str(tmp_path / "one")
    assert cli.main(["train", "--epochs", "1", "--out", out, "--model", "unet-tiny", "--train-size", "17",
                     "--batch-size", "16", "--device", "cpu", "--quiet"]) == 0
    assert "last batch of 1" not in capsys.readouterr().err
    # two steps were taken in the epoch (16 images, then 1): the one-cycle schedule counted both
    assert minimlp.load(os.path.join(out, "last.npz"))["scheduler"]["last_epoch"] == 2


def test_a_nan_weight_stops_a_unet_run_and_keeps_the_last_good_checkpoint(tmp_path):
    config = {"model": "unet-tiny", "task": "chroma", "model_kwargs": {"arch": "unet", "widths": [4, 8]},
              "training": dict(presets.PRESETS["unet-small"]["training"], epochs=3, batch_size=16, split="paper"),
              "data": "default", "train_size": 48, "seed": 0}

    def poison(epoch, row, model):
        if epoch == 1:
            model[1][0][0].weight.data[0, 0, 1, 1] = np.nan

    with pytest.raises(TrainingDiverged, match="epoch 2, step 1"):
        train_run(config, str(tmp_path), device="cpu", quiet=True, callbacks=[poison])
    assert minimlp.load(str(tmp_path / "last.npz"))["epoch"] == 1


def test_export_ships_float16_conv_weights_with_provenance_and_serves_it_by_name(tiny_run, tmp_path, monkeypatch,
                                                                                   capsys):
    record = ship(tiny_run, "unet-45k", str(tmp_path))
    state = minimlp.load(str(tmp_path / "unet-45k.npz"))
    kernels = [v for k, v in state["model"].items() if np.asarray(v).ndim == 4]
    assert kernels and all(v.dtype == np.float16 for v in kernels)
    assert all(v.dtype != np.float16 for v in state["model"].values() if np.asarray(v).ndim < 2)
    stored = json.load(open(tmp_path / "unet-45k.json"))
    assert stored == json.loads(json.dumps(record))
    history = minimlp.load(os.path.join(tiny_run, "last.npz"))["history"]
    assert stored["training_seconds"] == pytest.approx(sum(r["seconds"] for r in history))
    assert stored["command"].startswith("minimlp-colorize train --epochs 2")
    assert stored["config"]["model_kwargs"]["arch"] == "unet" and stored["versions"]["numpy"] == np.__version__
    assert stored["test_mse"] == pytest.approx(stored["float32_test_mse"], rel=1e-3)
    # a temperature means nothing to an MSE model: one line, no file
    assert cli.main(["ship", tiny_run, "wrong", "--dir", str(tmp_path), "--temperature", "1"]) == 2
    assert not (tmp_path / "wrong.npz").exists()
    assert "needs a chroma-bins (vivid) model" in capsys.readouterr().err
    # installed beside the MLP, the U-Net becomes `pretrained`; the MLP stays reachable by name
    (tmp_path / "chroma-mlp-45k.npz").symlink_to(store.PRETRAINED_DIR / "chroma-mlp-45k.npz")
    monkeypatch.setattr(store, "PRETRAINED_DIR", tmp_path)
    assert store.checkpoint_file("pretrained") == str(tmp_path / "unet-45k.npz")
    assert store.checkpoint_file("pretrained:chroma-mlp") == str(tmp_path / "chroma-mlp-45k.npz")
    assert store.checkpoint_file("pretrained:unet") == str(tmp_path / "unet-45k.npz")


def test_a_unet_study_row_resolves_to_its_own_settings_and_run_one_scores_it(tmp_path):
    from minimlp.colorize.experiments.run import run_one
    from minimlp.colorize.experiments.studies import _row, resolve
    config = resolve(_row("beat", "", "unet-tiny"), epochs=1)
    # the MLP's defaults (activation, batchnorm, ...) are not merged into a convolutional preset's settings
    assert config["model_kwargs"] == {"arch": "unet", "widths": [4, 8], "out_channels": 2}
    folder = str(tmp_path / "run")
    scores = run_one({**config, "train_size": 48, "seed": 0}, folder)
    model, _ = load_colorizer(folder)
    split = small_split()
    assert scores["epochs"] == 1
    assert scores["test"] == pytest.approx(evaluate_images(model, "chroma", split.test.images)["test_mse"], rel=1e-9)
    assert scores["train"] == pytest.approx(
        evaluate_images(model, "chroma", split.train.images[:48])["test_mse"], rel=1e-9)
