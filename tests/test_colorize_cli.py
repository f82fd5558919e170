"""The colorizer's command line end to end on tiny runs of the embedded default data."""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

import minimlp
from minimlp import backend
from minimlp.colorize import cli, evaluate_images, load_colorizer
from minimlp.data import load_default, rgb_to_gray

TINY = ["--train-size", "64", "--batch-size", "16", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "paper")
    assert cli.main(["train", "--epochs", "1", "--out", out] + TINY) == 0
    return out


def test_train_writes_every_output_file_and_they_are_valid(tiny_run):
    for name in ("best.npz", "last.npz", "history.csv", "config.json", "metrics.json", "loss_curve.png",
                 "samples_test.png"):
        assert os.path.exists(os.path.join(tiny_run, name)), name
    for png in ("loss_curve.png", "samples_test.png"):
        with Image.open(os.path.join(tiny_run, png)) as img:
            img.load()
            assert img.size[0] > 100 and img.size[1] > 100
    with open(os.path.join(tiny_run, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and set(rows[0]) == {"epoch", "train_loss", "train_eval_loss", "valid_loss", "lr",
                                                "seconds"}
    assert all(float(rows[0][k]) > 0 for k in ("train_loss", "train_eval_loss", "valid_loss"))
    config = json.load(open(os.path.join(tiny_run, "config.json")))
    assert config["model"] == "paper-mlp1" and config["training"]["lr"] == 2e-4
    assert config["training"]["epochs"] == 1 and config["training"]["optimizer"] == "adam"
    metrics = json.load(open(os.path.join(tiny_run, "metrics.json")))
    for record in (config["provenance"], metrics["provenance"]):   # the code, versions and machine of the run
        assert set(record) == {"git_commit", "git_dirty", "git_note", "versions", "machine"}
        assert record["versions"]["numpy"] == np.__version__ and record["machine"]["cores"] == os.cpu_count()
        assert (record["git_commit"] is None) == (record["git_note"] is not None)


def test_evaluate_json_matches_a_direct_computation(tiny_run, capsys):
    assert cli.main(["evaluate", "--checkpoint", tiny_run, "--json", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"test_mse", "psnr", "baseline_gray_mse", "baseline_gray_psnr", "colorfulness_ratio", "wrong_hue_rate",
            "n_images", "provenance"} <= set(printed)
    assert printed["n_images"] == 1000
    model, config = load_colorizer(tiny_run)
    images = load_default().test.images
    gray = rgb_to_gray(images.astype(np.float32)).reshape(1000, 1024) / 127.5 - 1.0
    prediction = np.clip(model(gray.astype(np.float32)), -1, 1)
    truth = (images.astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2).reshape(1000, 3072)
    assert printed["test_mse"] == pytest.approx(np.mean((prediction - truth) ** 2), rel=1e-5)
    baseline = np.mean((np.concatenate([gray] * 3, axis=1) - truth) ** 2)
    assert printed["baseline_gray_mse"] == pytest.approx(baseline, rel=1e-6)
    assert 0.020 < printed["baseline_gray_mse"] < 0.028  # the shared README's ~0.024
    assert printed["improvement_over_gray"] == pytest.approx(1 - printed["test_mse"] / baseline, rel=1e-5)

    def psnr(planar):   # mean over images of 10 log10(255² / MSE) on the uint8 images
        out = np.clip(np.rint((planar.reshape(1000, 3, 32, 32).transpose(0, 2, 3, 1) + 1) * 127.5), 0, 255)
        mse = ((out - images.astype(np.float64)) ** 2).reshape(1000, -1).mean(axis=1)
        return np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse, 255.0 ** 2 * 1e-10)))   # 100 dB when identical
    assert printed["psnr"] == pytest.approx(psnr(prediction), abs=1e-3)
    assert printed["baseline_gray_psnr"] == pytest.approx(psnr(np.concatenate([gray] * 3, axis=1)), abs=1e-3)
    def chroma(planar):   # mean √(U² + V²) of BT.601 YUV over every pixel
        r, g, b = planar.reshape(1000, 3, -1).astype(np.float64).transpose(1, 0, 2)
        y = 0.299 * r + 0.587 * g + 0.114 * b
        return np.mean(np.hypot(0.436 * (b - y) / 0.886, 0.615 * (r - y) / 0.701))
    assert printed["colorfulness_ratio"] == pytest.approx(chroma(prediction) / chroma(truth), rel=1e-6)
    direct = evaluate_images(model, "rgb", images)   # the library call gives what the command printed
    assert {key: printed[key] for key in direct} == pytest.approx(direct)


def test_resumed_cli_run_equals_an_uninterrupted_one(tmp_path):
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    assert cli.main(["train", "--epochs", "3", "--out", whole] + TINY) == 0
    assert cli.main(["train", "--epochs", "1", "--out", parts] + TINY) == 0
    assert cli.main(["train", "--epochs", "3", "--out", parts, "--resume", "--device", "cpu", "--quiet"]) == 0
    a = minimlp.load(os.path.join(whole, "last.npz"))
    b = minimlp.load(os.path.join(parts, "last.npz"))
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key])
    assert [r["valid_loss"] for r in a["history"]] == [r["valid_loss"] for r in b["history"]]


def test_train_refuses_to_overwrite_a_run_and_a_resume_of_another_architecture(tiny_run, capsys):
    assert cli.main(["train", "--epochs", "1", "--out", tiny_run] + TINY) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert cli.main(["train", "--model", "paper-mlp2", "--resume", "--out", tiny_run] + TINY) == 2
    assert "holds a paper-mlp1 run, not paper-mlp2" in capsys.readouterr().err


def test_a_checkpoint_whose_weights_are_of_another_architecture_is_refused(tiny_run, tmp_path):
    state = minimlp.load(os.path.join(tiny_run, "best.npz"))
    state["config"]["model_kwargs"]["hidden"] = [512, 512]
    state["config"]["model"] = "paper-mlp2"
    minimlp.save(state, tmp_path / "lying.npz")
    with pytest.raises(minimlp.train.CheckpointError, match="do not fit the paper-mlp2 architecture"):
        load_colorizer(str(tmp_path / "lying.npz"))


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a working GPU")
def test_device_gpu_without_cupy_is_refused_with_a_clear_message(tmp_path, capsys):
    code = cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "g"), "--train-size", "32",
                     "--device", "gpu", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "device 'gpu' was requested but CuPy is not installed" in err and "pip install -e .[gpu]" in err


def test_colorize_keeps_the_photo_size_and_its_luma(tiny_run, tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:80, 0:100]
    photo = np.stack([xx * 2.0, yy * 2.5, 128 + 40 * np.sin(xx / 7.0)], axis=-1) + rng.normal(0, 5, (80, 100, 3))
    photo = np.clip(photo, 30, 220).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    assert cli.main(["colorize", "--checkpoint", tiny_run, str(tmp_path / "photo.png"), "-o",
                     str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "photo_color.png") as img:
        assert img.size == (100, 80) and img.mode == "RGB"
        out = np.asarray(img, dtype=np.float32)
    luma_in = rgb_to_gray(photo.astype(np.float32))
    luma_out = rgb_to_gray(out)
    # rounding each of R, G, B to an integer moves the luma by at most 0.5; clipping can add more on a few pixels
    assert np.mean(np.abs(luma_out - luma_in) <= 0.5 + 1e-3) > 0.99
    assert np.abs(luma_out - luma_in).mean() < 0.3


def test_colorize_names_an_unreadable_file(tiny_run, tmp_path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    assert cli.main(["colorize", "--checkpoint", tiny_run, str(tmp_path / "broken.jpg"), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot read image" in err and "broken.jpg" in err


def test_models_lists_the_presets(capsys):
    assert cli.main(["models"]) == 0
    listed = capsys.readouterr().out
    for name in ("paper-mlp1", "paper-mlp2", "paper-mlp3", "paper-ae1", "paper-ae2", "paper-ae3", "paper-ae5",
                 "chroma-mlp"):
        assert name in listed
