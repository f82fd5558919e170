"""The colourfulness ratio on hand-made images: gray → 0, the truth → 1, chroma scaled by s → s, a pixel by hand."""
import numpy as np
import pytest

from minimlp.colorize.task.metrics import colorfulness_ratio, mean_chroma


def _planar(hwc):
    """(N, H, W, 3) → (N, 3·H·W) channel-planar, as the colorizer's images are."""
    hwc = np.asarray(hwc, dtype=np.float64)
    return hwc.transpose(0, 3, 1, 2).reshape(len(hwc), -1)


# two 2x2 images in [-1, 1], coloured but nowhere near the clip limits after halving or doubling the chroma
TRUTH = _planar([[[[0.4, -0.2, 0.1], [-0.3, 0.2, 0.0]], [[0.1, 0.1, -0.4], [0.0, -0.1, 0.3]]],
                 [[[-0.2, 0.3, 0.3], [0.2, 0.2, 0.2]], [[0.3, -0.3, -0.1], [-0.1, 0.0, 0.4]]]])


def _luma(planar):
    r, g, b = planar.reshape(len(planar), 3, -1).transpose(1, 0, 2)
    return 0.299 * r + 0.587 * g + 0.114 * b


def _scale_chroma(planar, s):
    """Y + s·(RGB − Y) per pixel: the same luma, U and V multiplied by s."""
    y = np.tile(_luma(planar), 3)
    return y + s * (planar - y)


def test_one_red_pixel_by_hand():
    r, g, b = 1.0, -1.0, -1.0
    y = 0.299 * r + 0.587 * g + 0.114 * b                  # -0.402
    u, v = 0.436 * (b - y) / (1 - 0.114), 0.615 * (r - y) / (1 - 0.299)
    assert mean_chroma(_planar([[[[r, g, b]]]])) == pytest.approx(np.hypot(u, v), abs=1e-12)
    assert np.hypot(u, v) == pytest.approx(1.264713, abs=1e-6)


def test_a_gray_output_scores_zero():
    gray = np.tile(_luma(TRUTH), 3)
    assert colorfulness_ratio(gray, TRUTH) == pytest.approx(0.0, abs=1e-12)


def test_the_truth_scores_one():
    assert colorfulness_ratio(TRUTH.copy(), TRUTH) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("s", [0.25, 0.5, 1.5])
def test_chroma_scaled_by_s_scores_s(s):
    assert colorfulness_ratio(_scale_chroma(TRUTH, s), TRUTH) == pytest.approx(s, abs=1e-12)


def test_it_is_the_ratio_of_means_over_all_pixels_not_a_mean_of_ratios():
    pred = TRUTH.copy()
    pred[1] = np.tile(_luma(TRUTH[1:]), 3)[0]   # second image gray, first exact
    expected = mean_chroma(TRUTH[:1]) / (mean_chroma(TRUTH[:1]) + mean_chroma(TRUTH[1:]))
    assert colorfulness_ratio(pred, TRUTH) == pytest.approx(expected, abs=1e-12)
    assert expected != pytest.approx(0.5, abs=1e-3)


def test_the_output_is_clipped_first_and_a_gray_truth_gives_nan():
    half = _planar([[[[0.5, -0.5, 0.5], [-0.5, 0.5, 0.5]]]])
    assert colorfulness_ratio(3 * half, half) == pytest.approx(2.0, abs=1e-12)   # 3·(±0.5) clips to ±1 = 2·half
    assert np.isnan(colorfulness_ratio(TRUTH, np.zeros_like(TRUTH)))


def _from_uv(u, v, y=0.0):
    """Planar RGB (1, 3·n) of n pixels with luma ``y`` and the given U, V (BT.601, in [-1, 1])."""
    from minimlp.data.color import yuv_to_rgb
    yuv = np.stack([np.full(len(u), y), np.asarray(u, float), np.asarray(v, float)], axis=-1)[None, :, None, :]
    return _planar(yuv_to_rgb(yuv)[:, :, 0, :][:, :, None, :])


def test_wrong_hue_rate_counts_hues_more_than_60_degrees_off_among_coloured_pixels():
    from minimlp.colorize.task.metrics import wrong_hue_rate
    angles = np.radians([0, 0, 0, 0, 0, 0])
    truth = _from_uv(0.2 * np.cos(angles), 0.2 * np.sin(angles))
    # predicted hues 0°, 59°, 61°, 180°, -90° at chroma 0.1, and one nearly gray pixel (chroma 0.02) at 180°
    p = np.radians([0, 59, 61, 180, -90, 180])
    r = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.02])
    pred = _from_uv(r * np.cos(p), r * np.sin(p))
    assert wrong_hue_rate(pred, truth) == pytest.approx(3 / 5)
    assert wrong_hue_rate(truth, truth) == 0.0
    assert wrong_hue_rate(pred, truth, degrees=179) == pytest.approx(1 / 5)
    assert np.isnan(wrong_hue_rate(_from_uv(np.zeros(6), np.zeros(6)), truth))   # a gray output: no pixel qualifies
