"""The chroma-bins task wired into the colorizer: bins fitted once into the config, the task's loss, decoding to
RGB, a short training run whose checkpoint decodes the same, the colourfulness ratio and the trade-off table."""
import importlib.util
import json
import os

import numpy as np
import pytest

from minimlp import nn
from minimlp.colorize.running import training
from minimlp.colorize.task.chroma_bin_loss import ChromaBinLoss
from minimlp.colorize.task.metrics import colorfulness_ratio, wrong_hue_rate
from minimlp.colorize.running.prediction import predict_rgb
from minimlp.colorize.models.export import export_pretrained
from minimlp.colorize.models.store import load_colorizer
from minimlp.colorize.task.data import load_split
from minimlp.colorize.models.architectures import build_model
from minimlp.colorize.models.presets import PRESETS
from minimlp.colorize.task.arrays import gray_input, make_arrays, output_to_rgb, prepare_task, rgb_target, task_loss
from minimlp.data.color import yuv_to_rgb
from minimlp.data.splits import Split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def small_split():
    split = load_split("default", "paper")
    return Split(split.train.subset(np.arange(24)), split.valid.subset(np.arange(8)), split.test.subset(np.arange(8)))


def _config(widths=(4, 8)):
    chosen = PRESETS["unet-vivid-small"]
    return {"model": "unet-vivid-small", "task": chosen["task"],
            "model_kwargs": {"arch": "unet", "widths": list(widths)},
            "training": dict(chosen["training"], epochs=1, batch_size=8, split="paper"), "data": "default",
            "train_size": None, "seed": 0}


def test_prepare_task_fits_the_bins_once_and_sizes_the_head(small_split):
    _, y = make_arrays(small_split.train.images, "chroma-bins")
    config = prepare_task(_config(), y)
    q = len(config["chroma_bins"]["centres"])
    assert config["model_kwargs"]["out_channels"] == q and 20 < q < 300
    kept = json.loads(json.dumps(config))
    assert prepare_task(kept, y[:2]) == config          # a resumed run keeps its bins
    assert isinstance(task_loss(config), ChromaBinLoss) and type(task_loss({"task": "chroma"})) is nn.MSELoss
    model = build_model(config)
    assert len(model.chroma_bins) == q
    assert model(gray_input(small_split.test.images[:2])).shape == (2, q * 1024)


def test_output_to_rgb_decodes_a_sure_bin_to_its_colour(small_split):
    _, y = make_arrays(small_split.train.images, "chroma-bins")
    config = prepare_task(_config(), y)
    bins = build_model(config).chroma_bins
    gray = gray_input(small_split.test.images[:2])
    pick = np.argmax(np.hypot(*bins.centres.T) * (bins.prior > 1e-3))   # a strong colour the images hold
    logits = np.full((2, len(bins), 1024), -30.0, np.float32)
    logits[:, pick] = 30.0
    rgb = output_to_rgb(logits.reshape(2, -1), gray, "chroma-bins", bins=bins)
    u, v = bins.centres[pick]
    yuv = np.stack([gray.reshape(2, 1024), np.full((2, 1024), u), np.full((2, 1024), v)], axis=-1)
    expected = np.clip(yuv_to_rgb(yuv), -1, 1).transpose(0, 2, 1).reshape(2, -1)
    np.testing.assert_allclose(rgb, expected, atol=1e-6)
    with pytest.raises(ValueError, match="needs the model's chroma bins"):
        output_to_rgb(logits.reshape(2, -1), gray, "chroma-bins")


def test_a_short_chroma_bins_run_trains_and_its_checkpoint_decodes_the_same(small_split, tmp_path, monkeypatch):
    monkeypatch.setattr(training, "load_split", lambda data, split: small_split)
    config = _config()
    model, history, scores = training.train_run(config, str(tmp_path), quiet=True)
    stored = json.load(open(tmp_path / "config.json"))
    assert stored["model_kwargs"]["out_channels"] == len(model.chroma_bins) == len(stored["chroma_bins"]["centres"])
    assert np.isfinite(history.column("valid_loss")[0]) and 0 < scores["test_mse"] < 1
    loaded, loaded_config = load_colorizer(str(tmp_path))
    np.testing.assert_array_equal(loaded.chroma_bins.weights, model.chroma_bins.weights)
    images = small_split.test.images
    np.testing.assert_allclose(predict_rgb(loaded, "chroma-bins", images), predict_rgb(model, "chroma-bins", images),
                               atol=1e-6)

    spec = importlib.util.spec_from_file_location("vivid_tradeoff", os.path.join(ROOT, "benchmarks",
                                                                                 "vivid_tradeoff.py"))
    tradeoff = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tradeoff)
    rows = tradeoff.table(loaded, images, [0.38, 0.0])
    assert [r[0] for r in rows] == ["gray-copy", "T = 0.38", "T = 0 (mode)"]
    loaded.chroma_bins.temperature = 0.38
    at_default = predict_rgb(loaded, "chroma-bins", images)
    from minimlp.colorize.task.metrics import scores as score_fn
    assert rows[1][1:3] == pytest.approx(score_fn(at_default, images), rel=1e-6)
    assert rows[1][3] == pytest.approx(colorfulness_ratio(at_default, rgb_target(images)), rel=1e-6)
    assert rows[1][4] == pytest.approx(wrong_hue_rate(at_default, rgb_target(images)), rel=1e-6)
    assert 0 < rows[1][4] < 1 and rows[2][4] != rows[1][4]
    assert rows[0][3] == pytest.approx(0.0, abs=1e-6) and np.isnan(rows[0][4])

    # shipped to decode at T = 1, the file decodes at T = 1 and keeps the bins it was trained with
    export_pretrained(str(tmp_path), str(tmp_path / "vivid.npz"), temperature=1.0)
    shipped, shipped_config = load_colorizer(str(tmp_path / "vivid.npz"))
    assert shipped.chroma_bins.temperature == shipped_config["chroma_bins"]["temperature"] == 1.0
    assert stored["chroma_bins"]["temperature"] != 1.0
    np.testing.assert_array_equal(shipped.chroma_bins.centres, loaded.chroma_bins.centres)


def test_a_vivid_unet_colorizes_photos_at_native_and_reduced_resolution(small_split):
    """The logits are decoded pixel by pixel: on a 32x32 photo the native path gives the chroma of the flat model."""
    from PIL import Image
    from minimlp.colorize.running.photo import colorize_photo
    from minimlp.data.color import rgb_to_yuv
    _, y = make_arrays(small_split.train.images, "chroma-bins")
    model = build_model(prepare_task(_config(), y)).eval()
    image = small_split.test.images[0]
    native = np.asarray(colorize_photo(model, "chroma-bins", Image.fromarray(image), resolution="native"), np.float32)
    flat = output_to_rgb(model(gray_input(image[None])), gray_input(image[None]), "chroma-bins",
                         bins=model.chroma_bins).reshape(3, 32, 32).transpose(1, 2, 0)
    uv_native = rgb_to_yuv(native)[..., 1:]
    uv_flat = rgb_to_yuv((flat + 1) * 127.5)[..., 1:]
    interior = (slice(2, -2), slice(2, -2))   # clipping to the gamut and 8-bit rounding aside
    assert np.abs(uv_native[interior] - uv_flat[interior]).mean() < 1.0
    big = Image.fromarray(np.kron(image, np.ones((3, 2, 1), np.uint8)))     # 96x64
    for resolution in ("native", 32):
        assert colorize_photo(model, "chroma-bins", big, resolution=resolution).size == (64, 96)


def test_a_photo_decodes_at_the_temperature_asked_for_and_by_default_at_the_models_own(small_split):
    """The shipped vivid model: a lower temperature gives more colour; an MSE model takes no temperature."""
    from PIL import Image
    from minimlp.colorize.running.photo import colorize_photo
    from minimlp.colorize.models.store import vivid_pretrained
    from minimlp.data.color import rgb_to_yuv
    model, config = load_colorizer(f"pretrained:{vivid_pretrained()}")
    photo = Image.fromarray(np.kron(small_split.test.images[3], np.ones((2, 2, 1), np.uint8)))

    def colorized(temperature):
        return np.asarray(colorize_photo(model, config["task"], photo, temperature=temperature), np.float32)

    def chroma(rgb):
        return np.hypot(*rgb_to_yuv(rgb)[..., 1:].transpose(2, 0, 1)).mean()

    np.testing.assert_array_equal(colorized(None), colorized(model.chroma_bins.temperature))
    assert chroma(colorized(0.38)) > chroma(colorized(1.0)) > chroma(colorized(3.0))
    mse_model, mse_config = load_colorizer("pretrained")
    with pytest.raises(ValueError, match="temperature needs a vivid"):
        colorize_photo(mse_model, mse_config["task"], photo, temperature=0.5)
