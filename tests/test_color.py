"""Colour conversions: reference values, inverse pairs, dtypes and shapes."""
import numpy as np
import pytest

from minimlp.data import (BGR_AS_RGB_WEIGHTS, from_unit_range, lab_to_rgb, rgb_to_gray, rgb_to_lab,
                          rgb_to_yuv, to_unit_range, yuv_to_rgb)

PAIRS = [(rgb_to_yuv, yuv_to_rgb), (rgb_to_lab, lab_to_rgb)]
rng = np.random.default_rng(0)


def test_gray_is_bt601():
    x = rng.random((4, 5, 3))
    np.testing.assert_allclose(rgb_to_gray(x), 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2],
                               rtol=0, atol=1e-15)
    assert rgb_to_gray(x, keepdims=True).shape == (4, 5, 1)
    np.testing.assert_allclose(rgb_to_gray(np.array([255, 0, 0], np.uint8)), 0.299 * 255, rtol=1e-6)
    # what the paper's notebooks computed (OpenCV BGR weights applied to RGB data)
    np.testing.assert_allclose(rgb_to_gray(np.array([1.0, 0, 0]), weights=BGR_AS_RGB_WEIGHTS), 0.114)


def test_unit_range_round_trip_is_exact():
    v = np.arange(256, dtype=np.uint8)
    u = to_unit_range(v)
    assert u.dtype == np.float32 and u[0] == -1 and u[-1] == 1 and u[128] == pytest.approx(128 / 127.5 - 1, abs=1e-7)
    np.testing.assert_array_equal(from_unit_range(u), v)
    np.testing.assert_array_equal(from_unit_range(to_unit_range(v, dtype=np.float64)), v)
    assert from_unit_range(np.array([-3.0, 5.0, 0.0, 1 / 255])).tolist() == [0, 255, 128, 128]
    assert from_unit_range(u).dtype == np.uint8


@pytest.mark.parametrize("fwd,inv", PAIRS)
def test_inverse_pairs(fwd, inv):
    x64 = rng.random((1000, 3))
    np.testing.assert_allclose(inv(fwd(x64)), x64, rtol=0, atol=1e-10)
    x32 = rng.random((20000, 3)).astype(np.float32)
    # float32 is ~1e-7 for YUV; Lab's gamma and cube root amplify rounding to ~1.2e-5 in the worst case
    np.testing.assert_allclose(inv(fwd(x32)), x32, rtol=0, atol=1e-5 if fwd is rgb_to_yuv else 2e-5)
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, 18)] * 3), -1).astype(np.float32)  # all corners too
    np.testing.assert_allclose(inv(fwd(grid)), grid, rtol=0, atol=1e-5)


@pytest.mark.parametrize("f", [rgb_to_gray, rgb_to_yuv, yuv_to_rgb, rgb_to_lab, lab_to_rgb])
@pytest.mark.parametrize("shape", [(3,), (7, 3), (2, 4, 5, 3)])
def test_dtypes_and_shapes(f, shape):
    x = rng.random(shape)
    out_shape = shape[:-1] if f is rgb_to_gray else shape
    for dtype in (np.float32, np.float64):
        y = f(x.astype(dtype))
        assert y.dtype == dtype and y.shape == out_shape
    assert f((x * 255).astype(np.uint8)).dtype == np.float32


def test_yuv_reference_values():
    np.testing.assert_allclose(rgb_to_yuv(np.array([1.0, 1.0, 1.0])), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(rgb_to_yuv(np.array([1.0, 0, 0])), [0.299, -0.14713, 0.615], atol=1e-5)
    np.testing.assert_allclose(rgb_to_yuv(np.array([0, 0, 1.0])), [0.114, 0.436, -0.10001], atol=1e-5)


def test_lab_reference_values():
    ref = {  # sRGB D65 (e.g. Bruce Lindbloom's calculator, skimage)
        (1, 1, 1): (100, 0, 0), (0, 0, 0): (0, 0, 0),
        (1, 0, 0): (53.2408, 80.0925, 67.2032), (0, 1, 0): (87.7347, -86.1827, 83.1793),
        (0, 0, 1): (32.2970, 79.1875, -107.8602), (0.5, 0.5, 0.5): (53.3890, 0, 0),
    }
    rgb = np.array(list(ref), dtype=np.float64)
    np.testing.assert_allclose(rgb_to_lab(rgb), np.array(list(ref.values())), atol=2e-3)


def test_wrong_channel_axis():
    with pytest.raises(ValueError, match="trailing channel axis of 3"):
        rgb_to_lab(np.zeros((3, 4)))


@pytest.mark.parametrize("f", [rgb_to_gray, rgb_to_yuv, yuv_to_rgb, rgb_to_lab, lab_to_rgb, to_unit_range])
def test_on_device(f, xp):
    """Run with ``--device gpu``: the same results from CuPy arrays, dtype kept."""
    from minimlp.backend import to_numpy
    x = rng.random((4, 6, 3)).astype(np.float32)
    got = f(xp.asarray(x))
    assert isinstance(got, xp.ndarray) and got.dtype == np.float32
    np.testing.assert_allclose(to_numpy(got), f(x), rtol=1e-5, atol=1e-5)
