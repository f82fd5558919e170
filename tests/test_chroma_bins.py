"""The vivid colorizer's chroma bins (prior, weights, soft encoding, annealed mean) and its rebalanced loss,
against hand-computed values and torch's cross-entropy with probability targets, in float64."""
import numpy as np
import pytest
import torch

from minimlp import backend
from minimlp.colorize.task.chroma_bin_loss import ChromaBinLoss
from minimlp.colorize.task.chroma_bins import ChromaBins
from minimlp.gradcheck import GradcheckError, gradcheck
from torch_reference import assert_close


def _bins(q_side=5, step=0.1, seed=0, **kwargs):
    """A full q_side × q_side grid of centres around 0 with a random prior."""
    axis = (np.arange(q_side) - q_side // 2) * step
    centres = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    prior = np.random.default_rng(seed).random(len(centres)) + 0.01
    return ChromaBins(centres, prior / prior.sum(), step=step, **kwargs)


def test_fit_keeps_the_grid_points_that_occur_and_smooths_their_histogram():
    # one image of 4 pixels: U and V planes; nearest grid points (0, 0), (0, 0), (1, 0), (0, 3) in steps of 0.1
    uv = np.array([[0.0, 0.01, 0.1, 0.02, 0.0, -0.02, 0.04, 0.31]])
    bins = ChromaBins.fit(uv, step=0.1, sigma=0.05)
    np.testing.assert_allclose(bins.centres, [[0.0, 0.0], [0.0, 0.3], [0.1, 0.0]], atol=1e-12)
    near = np.exp(-0.01 / (2 * 0.05 ** 2))        # the two bins 0.1 apart; the others are ≥ 0.3 apart
    far_03, far_032 = np.exp(-0.09 / 0.005), np.exp(-0.1 / 0.005)
    raw = np.array([0.5, 0.25, 0.25])
    smooth = np.array([raw[0] + far_03 * raw[1] + near * raw[2], far_03 * raw[0] + raw[1] + far_032 * raw[2],
                       near * raw[0] + far_032 * raw[1] + raw[2]])
    np.testing.assert_allclose(bins.prior, smooth / smooth.sum(), rtol=1e-12)


def test_weights_follow_zhangs_formula_and_average_to_one_under_the_prior():
    bins = _bins(rebalance=0.5)
    q = len(bins)
    raw = 1.0 / (0.5 * bins.prior + 0.5 / q)
    np.testing.assert_allclose(bins.weights, raw / (bins.prior @ raw), rtol=1e-12)
    assert bins.prior @ bins.weights == pytest.approx(1.0, rel=1e-12)
    flat = _bins(rebalance=1.0)
    np.testing.assert_allclose(flat.weights, 1.0, rtol=1e-12)


def test_soft_encode_finds_the_k_nearest_with_gaussian_weights(xp):
    bins = _bins(sigma=0.04, neighbours=5)
    uv = np.random.default_rng(1).uniform(-0.25, 0.25, (3, 7, 2))
    idx, z, nearest = (backend.to_numpy(a) for a in bins.soft_encode(xp.asarray(uv)))
    d2 = ((uv[..., None, :] - bins.centres) ** 2).sum(-1)
    order = np.argsort(d2, axis=-1)[..., :5]
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_array_equal(nearest, order[..., 0])
    expected = np.exp(-np.take_along_axis(d2, order, -1) / (2 * 0.04 ** 2))
    np.testing.assert_allclose(z, expected / expected.sum(-1, keepdims=True), rtol=1e-10)


def test_annealed_mean_is_the_softmax_of_log_probabilities_over_t(xp):
    bins = _bins()
    logits = np.random.default_rng(2).normal(0, 2, (2, len(bins), 3, 4))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    for t in (1.0, 0.38, 0.1):
        f = probs ** (1 / t)
        f /= f.sum(1, keepdims=True)
        expected = np.einsum("nqhw,qc->nchw", f, bins.centres)
        np.testing.assert_allclose(backend.to_numpy(bins.decode(xp.asarray(logits), t)), expected, rtol=1e-10,
                                   atol=1e-14)
    mode = np.moveaxis(bins.centres[logits.argmax(1)], -1, 1)
    np.testing.assert_array_equal(backend.to_numpy(bins.decode(xp.asarray(logits), 0)), mode)
    assert np.allclose(bins.decode(logits), bins.decode(logits, 0.38))


def test_config_round_trip_keeps_every_number():
    bins = _bins(temperature=0.2, neighbours=3)
    again = ChromaBins.from_config(bins.to_config())
    np.testing.assert_array_equal(again.centres, bins.centres.round(10))
    np.testing.assert_array_equal(again.weights, bins.weights)
    assert (again.temperature, again.neighbours, again.sigma) == (0.2, 3, bins.sigma)


def _torch_reference(bins, logits, uv_planes):
    """Dense soft targets from the same encoding, then torch's CE with probability targets × per-pixel weights."""
    n, q, h, w = logits.shape
    idx, z, nearest = bins.soft_encode(np.moveaxis(uv_planes, 1, -1))
    dense = np.zeros((n, h, w, q))
    np.put_along_axis(dense, idx, z, axis=-1)
    lt = torch.tensor(logits, requires_grad=True)
    per_pixel = torch.nn.functional.cross_entropy(lt, torch.tensor(np.moveaxis(dense, -1, 1)), reduction="none")
    value = (per_pixel * torch.tensor(bins.weights[nearest])).mean()
    value.backward()
    return value.item(), lt.grad


@pytest.mark.parametrize("flat", [False, True])
def test_chroma_bin_loss_matches_torch(flat, device):
    bins = _bins(sigma=0.04)
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (3, len(bins), 4, 5))
    uv = rng.uniform(-0.2, 0.2, (3, 2, 4, 5))
    value_ref, grad_ref = _torch_reference(bins, logits, uv)
    loss = ChromaBinLoss(bins)
    shape_z, shape_t = ((3, -1), (3, -1)) if flat else (logits.shape, uv.shape)
    value = loss(backend.to_device(logits.reshape(shape_z), device), backend.to_device(uv.reshape(shape_t), device))
    assert abs(value - value_ref) <= 1e-10 * abs(value_ref)
    grad = loss.backward()
    assert grad.shape == logits.reshape(shape_z).shape
    assert_close(grad.reshape(logits.shape), grad_ref, 1e-10, f"ChromaBinLoss gradient (flat={flat})")


class _ForgetsWeights(ChromaBinLoss):
    """A planted bug: the gradient's softmax term is not scaled by the pixel's weight v(Z)."""

    def backward(self):
        p, idx, weighted, shape = self._cache
        p = p.copy()
        grad = super().backward()
        return grad - (p * (weighted.sum(axis=2)[:, None, :] - 1.0)).reshape(shape) / (p.shape[0] * p.shape[2])


def test_chroma_bin_loss_gradcheck_and_a_planted_wrong_backward():
    bins = _bins(sigma=0.04)
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, (2, len(bins), 3, 3))
    uv = rng.uniform(-0.2, 0.2, (2, 2, 3, 3))
    loss = ChromaBinLoss(bins)
    assert gradcheck((lambda z: np.asarray(loss(z, uv)), lambda g: loss.backward() * float(g)), logits)
    wrong = _ForgetsWeights(bins)
    with pytest.raises(GradcheckError, match="finite difference"):
        gradcheck((lambda z: np.asarray(wrong(z, uv)), lambda g: wrong.backward() * float(g)), logits)


def test_chroma_bin_loss_bad_input():
    bins = _bins()
    loss = ChromaBinLoss(bins)
    with pytest.raises(ValueError, match=r"expected logits \(N, 25, H, W\) or \(N, 25·P\) and targets .* got logits "
                                         r"of shape \(2, 24, 4\) and targets of shape \(2, 8\)"):
        loss(np.zeros((2, 24, 4)), np.zeros((2, 8)))
    with pytest.raises(TypeError, match="logits dtype float32 and target dtype float64"):
        loss(np.zeros((2, 100), np.float32), np.zeros((2, 8)))
    with pytest.raises(RuntimeError, match="before forward"):
        ChromaBinLoss(bins).backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_soft_encode_matches_the_argmin_rounds_up_to_exact_ties(dtype, monkeypatch):
    """Real chroma (8-bit colours land on grid lines, so exact ties between bins are common): the compiled twin
    finds the same nearest bin everywhere and the same soft target wherever the k-th and (k+1)-th nearest bins
    are not tied; weights within float32 rounding."""
    from minimlp.colorize.task.data import load_split
    from minimlp.colorize.task.arrays import chroma_target
    images = load_split("default", "paper").train.images[:40]
    planes = chroma_target(images).astype(dtype)
    bins = ChromaBins.fit(planes)
    uv = np.ascontiguousarray(np.moveaxis(planes.reshape(40, 2, 1024), 1, -1))
    encodings = {}
    for kernels in ("numba", "numpy"):
        monkeypatch.setenv("MINIMLP_CPU_KERNELS", kernels)
        idx, z, nearest = bins.soft_encode(uv)
        dense = np.zeros(uv.shape[:-1] + (len(bins),))
        np.put_along_axis(dense, idx, z.astype(np.float64), axis=-1)
        encodings[kernels] = (dense, nearest)
    np.testing.assert_array_equal(encodings["numba"][1], encodings["numpy"][1])
    d2 = np.sort(((uv[..., None, :].astype(np.float64) - bins.centres) ** 2).sum(-1), axis=-1)
    k = bins.neighbours
    tied = np.isclose(d2[..., k - 1], d2[..., k], rtol=1e-5, atol=1e-9)   # which k-th bin is a coin flip
    gap = np.abs(encodings["numba"][0] - encodings["numpy"][0]).max(-1)
    assert gap[~tied].max() < 2e-5
