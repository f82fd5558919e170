"""The shipped pretrained colorizer: `evaluate --checkpoint pretrained` reproduces its recorded score and beats gray-copy."""
import json
import os

import numpy as np
import pytest

from minimlp.colorize import cli, evaluate_images
from minimlp.colorize.models.store import PRETRAINED_DIR, checkpoint_file, load_colorizer
from minimlp.data import load_default
from minimlp.serialization import load

pytestmark = pytest.mark.skipif(not list(PRETRAINED_DIR.glob("*.npz")), reason="no pretrained model installed")


@pytest.fixture(scope="module")
def recorded():
    path = checkpoint_file("pretrained")
    return path, json.loads(open(path[:-len(".npz")] + ".json").read())


def test_evaluate_pretrained_reproduces_the_recorded_number_and_beats_gray_copy(recorded, capsys):
    _, expected = recorded
    assert cli.main(["evaluate", "--checkpoint", "pretrained", "--json", "--device", "cpu"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["n_images"] == 1000 and got["split"] == "test" and got["data"] == "default"
    assert {"test_mse", "psnr", "baseline_gray_mse", "baseline_gray_psnr", "colorfulness_ratio"} <= set(got)
    assert 0 < got["colorfulness_ratio"] < 1   # an MSE-trained model is less colourful than the truth
    assert got["test_mse"] == pytest.approx(expected["test_mse"], rel=1e-6)
    assert got["baseline_gray_mse"] == pytest.approx(expected["baseline_gray_mse"], rel=1e-6)
    assert got["test_mse"] <= 0.85 * got["baseline_gray_mse"]


def test_pretrained_file_is_small_float16_and_loses_nothing_measurable(recorded):
    path, expected = recorded
    assert os.path.getsize(path) < 25 * 2 ** 20
    state = load(path)
    matrices = [v for v in state["model"].values() if np.asarray(v).ndim >= 2]
    assert matrices and all(np.asarray(v).dtype == np.float16 for v in matrices)
    model, config = load_colorizer("pretrained")
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    images = load_default().test.images
    measured = evaluate_images(model, config["task"], images)["test_mse"]
    # the float32 checkpoint it was exported from scored float32_test_mse (measured at export, not stored here):
    # the float16 weights, evaluated now, agree to the 4th significant digit
    assert measured == pytest.approx(expected["float32_test_mse"], rel=5e-4)
    # and moving every weight matrix again by up to float16's rounding step (2^-11 of each weight) changes as little
    rng = np.random.default_rng(0)
    for p in model.parameters():
        if p.data.ndim >= 2:
            p.data *= (1 + rng.uniform(-1, 1, p.data.shape) * 2.0 ** -11).astype(np.float32)
    assert evaluate_images(model, config["task"], images)["test_mse"] == pytest.approx(measured, rel=5e-4)


def test_colorize_a_photo_with_the_pretrained_model(tmp_path):
    from PIL import Image
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(photo)
    assert cli.main(["colorize", str(photo), "-o", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "photo_color.png") as img:
        assert img.size == (56, 40) and img.mode == "RGB"
