"""Test-time flip averaging (``--flip-average``): the U-Net's prediction averaged with the mirror image's,
computed by hand here; an MLP refused in one line; training through the wrapper is the network's own."""
import json
import subprocess
import sys

import numpy as np
import pytest

import minimlp
from minimlp import nn
from minimlp.colorize.models.architectures import flat_unet, mlp
from minimlp.colorize.models.mirror import MirrorAverage, mirror_averaged
from minimlp.colorize.running.photo import colorize_luma


def small_unet(seed=0):
    minimlp.manual_seed(seed)
    return flat_unet(widths=(4, 6), out_channels=2)


def test_evaluation_averages_the_prediction_with_the_mirror_images_mirrored_back():
    model = small_unet().eval()
    x = np.random.default_rng(0).uniform(-1, 1, (3, 1024)).astype(np.float32)
    mirrored = x.reshape(3, 32, 32)[:, :, ::-1].reshape(3, 1024).copy()
    by_hand = (model(x) + model(mirrored).reshape(3, 2, 32, 32)[..., ::-1].reshape(3, 2048)) / 2
    averaged = mirror_averaged(model)
    np.testing.assert_allclose(averaged(x), by_hand, rtol=1e-6, atol=1e-7)
    assert not np.allclose(averaged(x), model(x), atol=1e-4)   # the mirror's prediction does differ
    assert list(averaged.state_dict()) == [k.replace("1.", "1.block.", 1) for k in model.state_dict()]


def test_training_through_the_wrapper_is_the_networks_own_and_evaluation_keeps_no_backward():
    model, twin = small_unet(1).train(), small_unet(1).train()
    wrapped = nn.Sequential(model[0], MirrorAverage(model[1]), model[2]).train()
    x = np.random.default_rng(1).normal(size=(4, 1024)).astype(np.float32)
    g = np.random.default_rng(2).normal(size=(4, 2048)).astype(np.float32)
    np.testing.assert_array_equal(wrapped(x), twin(x))
    np.testing.assert_array_equal(wrapped.backward(g), twin.backward(g))
    wrapped.eval()
    wrapped(x)
    with pytest.raises(RuntimeError, match="MirrorAverage: backward after an evaluation forward"):
        wrapped.backward(g)


def test_photos_at_any_size_go_through_the_average():
    model = small_unet(2).eval()
    luma = np.random.default_rng(3).uniform(0, 255, (40, 70)).astype(np.float32)
    plain = np.asarray(colorize_luma(model, "chroma", luma, resolution="native"), dtype=np.float64)
    averaged = np.asarray(colorize_luma(mirror_averaged(model), "chroma", luma, resolution="native"), np.float64)
    mirrored = np.asarray(colorize_luma(model, "chroma", luma[:, ::-1].copy(), resolution="native"), np.float64)
    # the average lies between the two predictions (to rounding of the 8-bit images)
    low, high = np.minimum(plain, mirrored[:, ::-1]), np.maximum(plain, mirrored[:, ::-1])
    assert np.all(averaged >= low - 1) and np.all(averaged <= high + 1)
    assert np.abs(averaged - plain).max() > 0


def test_an_mlp_is_refused():
    with pytest.raises(ValueError, match="flip averaging needs a U-Net colorizer"):
        mirror_averaged(mlp(hidden=(8,)))


def test_evaluate_flag_on_the_pretrained_unet():
    out = subprocess.run([sys.executable, "-m", "minimlp.colorize", "evaluate", "--checkpoint", "pretrained",
                          "--flip-average", "--json", "--device", "cpu"], capture_output=True, text=True, check=True)
    scores = json.loads(out.stdout)
    assert scores["flip_average"] is True
    assert scores["model"] == "unet4"
    assert scores["test_mse"] == pytest.approx(0.015560, abs=5e-6)   # 0.01564 without the average
