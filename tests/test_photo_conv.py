"""Photos of any size with the U-Net (native or reduced resolution), the pretrained registry, --vivid, anysize_eval."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import minimlp
from minimlp.colorize import cli
from minimlp.colorize.models import architectures, store
from minimlp.colorize.running.photo import colorize_photo
from minimlp.colorize.running.photo_conv import native_chroma, reduced_chroma, reduced_size
from minimlp.data import rgb_to_gray, rgb_to_yuv
from minimlp.train.checkpoint import save_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = {"model": "unet-tiny", "task": "chroma", "model_kwargs": {"arch": "unet", "widths": [4, 8, 8]}}


@pytest.fixture(scope="module")
def tiny_unet():
    """A three-level U-Net with random weights and BatchNorm statistics, in evaluation mode."""
    minimlp.manual_seed(0)
    model = architectures.build_model(CONFIG)
    rng = np.random.default_rng(1)
    for name, value in model.state_dict().items():
        if name.endswith("running_mean"):
            value[...] = rng.normal(0, 0.2, value.shape)
    return model.eval()


@pytest.fixture(scope="module")
def unet_file(tiny_unet, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("unet") / "tiny.npz")
    save_model(path, model=tiny_unet, config=CONFIG)
    return path


def photo(height, width, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 200.0 / width, yy * 200.0 / height, 128 + 60 * np.sin(xx / 5.0)], -1)
    return np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)


def test_native_chroma_at_32_is_the_training_forward_and_tiles_change_nothing(tiny_unet):
    x = np.random.default_rng(2).uniform(-1, 1, (1, 1024)).astype(np.float32)
    np.testing.assert_allclose(native_chroma(tiny_unet[1], x.reshape(32, 32)), tiny_unet(x).reshape(2, 32, 32),
                               atol=1e-6)
    luma = np.random.default_rng(3).uniform(-1, 1, (70, 93)).astype(np.float32)
    whole = native_chroma(tiny_unet[1], luma, tile=4096)
    assert whole.shape == (2, 70, 93)
    # 16-pixel tiles with 32 pixels of context: every tile's centre sees what the whole image's does
    np.testing.assert_allclose(native_chroma(tiny_unet[1], luma, tile=16, margin=32), whole, atol=1e-5)
    # a margin narrower than the receptive field is visibly different (so the check above can fail)
    assert np.abs(native_chroma(tiny_unet[1], luma, tile=16, margin=0) - whole).max() > 1e-3
    # the padding is cropped: the top-left 64x92 block is the network on the reflect-padded 72x96 input
    padded = np.pad(luma, ((0, 2), (0, 3)), mode="reflect")
    np.testing.assert_allclose(whole, tiny_unet[1](padded[None, None])[0, :, :70, :93], atol=1e-6)
    for shape in ((1, 1), (3, 2), (5, 130)):
        assert native_chroma(tiny_unet[1], np.zeros(shape, np.float32)).shape == (2,) + shape


@pytest.mark.parametrize("options,margin", [({"widths": (8, 8, 8, 8)}, 72), ({"bottleneck_dilation": 2}, 40),
                                            ({"residual": True}, 32), ({}, 32)])
def test_tiles_see_as_far_as_the_network_does(options, margin):
    from minimlp.colorize.models.unet import unet
    from minimlp.colorize.running.photo_conv import receptive_radius, tile_margin
    minimlp.manual_seed(5)
    net = unet(1, 2, **{"widths": (8, 8, 8), **options})
    rng = np.random.default_rng(6)
    net(rng.uniform(-1, 1, (2, 1, 64, 64)).astype(np.float32))   # BatchNorm statistics of real activations
    net.eval()
    assert tile_margin(net) == margin
    # the bound holds: a pixel changed at the centre changes no output farther than the receptive radius
    x = rng.uniform(-1, 1, (1, 1, 192, 192)).astype(np.float32)
    poked = x.copy()
    poked[0, 0, 96, 96] += 5
    rows, cols = np.nonzero(np.abs(net(poked) - net(x)).max(axis=(0, 1)) > 1e-7)
    reach = max(np.abs(rows - 96).max(), np.abs(cols - 96).max())
    assert 10 < reach <= receptive_radius(net)[0]
    luma = rng.uniform(-1, 1, (150, 120)).astype(np.float32)
    np.testing.assert_allclose(native_chroma(net, luma, tile=24), native_chroma(net, luma, tile=4096), atol=1e-5)


def test_a_global_context_network_in_tiles_gives_what_the_whole_image_does():
    from minimlp.colorize.models.unet import unet
    from minimlp.colorize.running import photo_conv
    minimlp.manual_seed(7)
    net = unet(1, 2, widths=(8, 8, 8), context=True)
    fusion = net[1].block[2].block[2][0]
    fusion.block[1].weight.data *= 30      # a context that matters (random weights barely use it)
    net[1].block[2].block[2][1].weight.data[:, 8:] *= 30
    rng = np.random.default_rng(8)
    net(rng.uniform(-1, 1, (2, 1, 64, 64)).astype(np.float32))
    net.eval()
    # dark on the left, bright on the right: each tile's own mean differs from the whole image's
    luma = (np.linspace(-1, 1, 130)[None] + rng.normal(0, 0.1, (150, 130))).astype(np.float32)
    whole = native_chroma(net, luma, tile=4096)
    np.testing.assert_allclose(native_chroma(net, luma, tile=24), whole, atol=1e-5)
    # each tile's own context (no whole-image average) is visibly different, so the check above can fail
    padded = photo_conv._pad_to(luma, 4)
    local = photo_conv._tiled(net, padded, photo_conv.tiles(*padded.shape, 24), 24, 32, "cpu", None, None)
    assert np.abs(local[:, :150, :130] - whole).max() > 1e-4
    assert isinstance(fusion.block, minimlp.nn.Sequential)   # the branch put back


def test_reduced_chroma_is_the_native_one_of_the_shrunk_luma_upsampled_bilinearly(tiny_unet):
    assert reduced_size(480, 640, 32) == (43, 32) and reduced_size(640, 480, 32) == (32, 43)
    assert reduced_size(20, 90, 32) == (90, 20)   # already smaller: its own size
    luma = np.random.default_rng(4).uniform(-1, 1, (60, 100)).astype(np.float32)
    small = np.asarray(Image.fromarray(luma, mode="F").resize((53, 32), Image.BOX))
    chroma = native_chroma(tiny_unet[1], small)
    expected = [np.asarray(Image.fromarray(p, mode="F").resize((100, 60), Image.BILINEAR)) for p in chroma]
    np.testing.assert_allclose(reduced_chroma(tiny_unet[1], luma, 32), np.stack(expected), atol=1e-6)
    np.testing.assert_array_equal(reduced_chroma(tiny_unet[1], luma[:20], 32), native_chroma(tiny_unet[1], luma[:20]))


@pytest.mark.parametrize("resolution", [None, "native", 16, "square"])
def test_colorize_photo_keeps_the_luma_and_uses_the_predicted_chroma(tiny_unet, resolution):
    rgb = photo(45, 70)
    out = np.asarray(colorize_photo(tiny_unet, "chroma", Image.fromarray(rgb), resolution=resolution), np.float32)
    assert out.shape == (45, 70, 3)
    luma = rgb_to_gray(rgb.astype(np.float32))
    inside = (out > 0).all(-1) & (out < 255).all(-1)     # pixels whose colour was not clipped to the gamut
    assert inside.mean() > 0.5
    # the photo's own luma, up to rounding R, G and B to integers (at most 0.5)
    assert np.abs(rgb_to_gray(out) - luma)[inside].max() <= 0.5 + 1e-3
    if resolution in (None, "native"):
        uv = reduced_chroma(tiny_unet[1], luma / 127.5 - 1, 32) if resolution is None else \
            native_chroma(tiny_unet[1], luma / 127.5 - 1)
        got = rgb_to_yuv(out)[..., 1:].transpose(2, 0, 1)
        assert np.abs(got - uv * 127.5)[:, inside].max() < 1.0   # 8-bit rounding only


def test_resolution_needs_a_unet(tmp_path):
    mlp = architectures.build_model({"model_kwargs": {"hidden": [8], "out_features": 2048}}).eval()
    with pytest.raises(ValueError, match="needs a convolutional chroma model"):
        colorize_photo(mlp, "chroma", Image.fromarray(photo(20, 20)), resolution="native")


def test_colorize_cli_resolution_and_vivid_errors(unet_file, tmp_path, capsys):
    Image.fromarray(photo(40, 50)).save(tmp_path / "p.png")
    out = str(tmp_path / "out")
    assert cli.main(["colorize", "--checkpoint", unet_file, "--resolution", "native", str(tmp_path / "p.png"),
                     "-o", out, "--device", "cpu"]) == 0
    assert Image.open(os.path.join(out, "p_color.png")).size == (50, 40)
    capsys.readouterr()
    vivid = [(["--vivid"], "no pretrained vivid model is installed")] if not (
        set(store.VIVID_PRETRAINED) & set(store.installed_pretrained())) else []
    for args, needle in (*vivid,
                         (["--vivid", "--checkpoint", unet_file], "drop either --vivid or --checkpoint"),
                         (["--checkpoint", "pretrained:chroma-mlp", "--resolution", "32"],
                          "holds an MLP (chroma-mlp), which runs at 32x32 only"),
                         (["--checkpoint", "pretrained:resnet"], "unknown pretrained model 'resnet'")):
        assert cli.main(["colorize", *args, str(tmp_path / "p.png"), "-o", str(tmp_path / "o2")]) == 2, args
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err


def test_models_lists_the_pretrained_models_and_the_default(capsys):
    assert cli.main(["models"]) == 0
    listed = capsys.readouterr().out
    assert "unet " in listed and "unet-small" in listed
    default = store.default_pretrained()
    rows = {line.split()[0]: line for line in listed.split("pretrained models")[1].splitlines()[1:]}
    assert rows[default].split()[1:] == [f"{store.PRETRAINED[default]}.npz", "(default)"]
    if "unet-vivid" not in store.installed_pretrained():
        assert rows["unet-vivid"].split()[1:] == ["unet-vivid-45k.npz", "(not", "installed)"]
    assert len({row.index("(") for row in rows.values()}) == 1   # aligned, however long the names
    assert len({row.index(store.PRETRAINED[name]) for name, row in rows.items()}) == 1
    presets = [line for line in listed.split("pretrained models")[0].splitlines() if "[" in line]
    assert len({line.index("[") for line in presets}) == 1


def test_with_nothing_installed_pretrained_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(minimlp.train.CheckpointError, match="no pretrained model is installed in"):
        store.checkpoint_file("pretrained")
    assert cli.main(["models"]) == 0   # `models` still lists the presets and the names


def test_anysize_eval_scores_each_method_against_the_enlarged_truth(unet_file):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "anysize_eval.py"), "--checkpoint",
                           unet_file, "--n", "2", "--sizes", "40", "--short-sides", "16", "--json"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows = {r["method"]: r for r in result["rows"]}
    assert set(rows) == {"gray-copy", "native", "reduced 16", "square 32"} and result["n_images"] == 2
    images = minimlp.data.load_default().test.images[:2]
    truth = np.stack([np.asarray(Image.fromarray(im).resize((40, 40), Image.BICUBIC)) for im in images])
    gray = np.clip(np.rint(rgb_to_gray(truth.astype(np.float32))), 0, 255)[..., None]
    assert rows["gray-copy"]["mse"] == pytest.approx(np.mean(((gray - truth) / 127.5) ** 2), rel=1e-9)
    assert all(r["mse"] != rows["gray-copy"]["mse"] for m, r in rows.items() if m != "gray-copy")


def test_tiles_are_four_margins_wide_where_that_is_wider_than_TILE():
    """A four-level U-Net (margin 72) runs in 288-pixel tiles, a three-level one (margin 32) in 192-pixel ones;
    the output is the whole image's either way."""
    from minimlp.colorize.models.unet import unet
    from minimlp.colorize.running.photo_conv import tile_size
    assert (tile_size(32), tile_size(40), tile_size(72)) == (192, 192, 288)
    rng = np.random.default_rng(9)
    luma = rng.uniform(-1, 1, (300, 620)).astype(np.float32)
    for widths, expected in (((4, 4, 4, 4), (6, 288)), ((4, 4, 4), (8, 192))):
        minimlp.manual_seed(10)
        net = unet(1, 2, widths=widths)
        net.eval()
        seen = []
        out = native_chroma(net, luma, report=lambda corners, tile: seen.append((len(corners), tile)) or corners)
        assert seen == [expected]
        np.testing.assert_allclose(out, native_chroma(net, luma, tile=4096), atol=1e-5)
