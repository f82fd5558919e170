"""Quantised chroma for the vivid colorizer, after Zhang, Isola & Efros, *Colorful Image Colorization* (2016):
bins of the (U, V) plane, soft encoding, rebalancing and annealed-mean decoding; how Zhang's Lab numbers become
U, V units: docs/colorizer.md.
"""
import numpy as np

from ...kernels import ops
from ...backend import get_array_module

LAB_PER_UV = 128.0
STEP = 0.1
SIGMA = 5.0 / LAB_PER_UV
NEIGHBOURS = 5
REBALANCE = 0.5
TEMPERATURE = 0.38


class ChromaBins:
    """Q bin centres c_q on a grid of step s over the (U, V) plane, their prior and class-rebalancing weights.

    - prior: p̃ = K·p / Σ K·p, where p_q is the fraction of training pixels
      whose nearest centre is c_q and K_qr = exp(−|c_q − c_r|² / 2σ²) (a
      Gaussian smoothing on the bins);
    - weights: w_q = ((1 − λ)·p̃_q + λ/Q)⁻¹, scaled so that Σ_q p̃_q w_q = 1
      (λ = ``rebalance``);
    - ``soft_encode``: the k = ``neighbours`` nearest centres (k ≤ Q) of a (U, V) and
      Gaussian weights exp(−d² / 2σ²) over them, summing to 1;
    - ``decode``: the annealed mean Σ_q f_T(z)_q · c_q with
      f_T(z) = softmax(log z / T), z = softmax(logits) over the bins; since
      log z = logits − logsumexp(logits), f_T(z) = softmax(logits / T).
      T = 0 is the mode (the centre of the most likely bin).

    Works on NumPy and CuPy arrays (``get_array_module``); centres and weights
    are kept as NumPy float64 and cast to the input's module and dtype.
    """

    def __init__(self, centres, prior, step=STEP, sigma=SIGMA, neighbours=NEIGHBOURS, rebalance=REBALANCE,
                 temperature=TEMPERATURE):
        self.centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
        self.prior = np.asarray(prior, dtype=np.float64).reshape(-1)
        if len(self.prior) != len(self.centres):
            raise ValueError(f"ChromaBins: {len(self.centres)} centres but a prior of {len(self.prior)} values")
        if neighbours < 1:
            raise ValueError(f"ChromaBins: neighbours must be at least 1, got {neighbours}")
        self.step, self.sigma, self.neighbours = float(step), float(sigma), min(int(neighbours), len(self.centres))
        self.rebalance, self.temperature = float(rebalance), float(temperature)
        mixed = (1.0 - self.rebalance) * self.prior + self.rebalance / len(self.prior)
        weights = 1.0 / mixed
        self.weights = weights / float(self.prior @ weights)

    def __len__(self):
        return len(self.centres)

    @classmethod
    def fit(cls, uv_planes, step=STEP, sigma=SIGMA, chunk=4096, **kwargs):
        """Bins and smoothed prior from training targets: (N, 2·P) planar U and V (``tasks.chroma_target``).

        Every grid point c = s·(i, j) nearest to at least one training pixel
        becomes a bin; p is the histogram of nearest grid points. Reads the
        targets ``chunk`` images at a time.
        """
        n = len(uv_planes)
        if n == 0 or uv_planes.shape[1] % 2:
            raise ValueError(f"ChromaBins.fit: expected (N, 2·P) planar U and V targets, got {uv_planes.shape}")
        reach = int(np.ceil(2.0 / step)) + 1
        side = 2 * reach + 1
        counts = np.zeros(side * side, dtype=np.int64)
        half = uv_planes.shape[1] // 2
        for start in range(0, n, chunk):
            block = np.asarray(uv_planes[start:start + chunk], dtype=np.float64)
            grid = np.rint(block / step).astype(np.int64) + reach
            counts += np.bincount((grid[:, :half] * side + grid[:, half:]).ravel(), minlength=side * side)
        kept = np.flatnonzero(counts)
        centres = np.stack([kept // side - reach, kept % side - reach], axis=1) * step
        raw = counts[kept] / counts.sum()
        smooth = np.exp(-_squared_distances(centres, centres) / (2 * sigma ** 2)) @ raw
        return cls(centres, smooth / smooth.sum(), step=step, sigma=sigma, **kwargs)

    def to_config(self):
        """A JSON-ready dict (stored in the run's config and so in every checkpoint)."""
        return {"centres": self.centres.round(10).tolist(), "prior": self.prior.tolist(), "step": self.step,
                "sigma": self.sigma, "neighbours": self.neighbours, "rebalance": self.rebalance,
                "temperature": self.temperature}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _as(self, array, like):
        xp = get_array_module(like)
        return xp.asarray(array, dtype=like.dtype)

    def soft_encode(self, uv):
        """(..., 2) chroma → (indices (..., k), weights (..., k), nearest (...)): the k nearest bins (nearest
        first), their Gaussian weights (summing to 1 per pixel) and the nearest bin's index.

        The maths is ``minimlp.formulas.soft_encoding``.
        """
        lead = tuple(uv.shape[:-1])
        idx, z = ops.soft_encode.run("forward", uv.reshape(-1, 2), self.centres, self.neighbours, self.sigma)
        k = self.neighbours
        return idx.reshape(lead + (k,)), z.reshape(lead + (k,)), idx[:, 0].reshape(lead)

    def pixel_weights(self, nearest, dtype=np.float32):
        """Zhang's v(Z): the rebalancing weight of each pixel's nearest bin, in ``nearest``'s shape."""
        xp = get_array_module(nearest)
        return xp.asarray(self.weights, dtype=dtype)[nearest]

    def decode(self, logits, temperature=None):
        """Annealed mean: logits (N, Q, ...) → chroma (N, 2, ...), Σ_q softmax(logits / T)_q · c_q (T = 0: mode)."""
        xp = get_array_module(logits)
        if logits.ndim < 2 or logits.shape[1] != len(self):
            raise ValueError(f"ChromaBins.decode: expected logits (N, {len(self)}, ...), got {tuple(logits.shape)}")
        t = self.temperature if temperature is None else float(temperature)
        centres = self._as(self.centres, logits)
        n, rest = logits.shape[0], tuple(logits.shape[2:])
        flat = logits.reshape(n, len(self), -1)
        if t == 0:
            uv = xp.moveaxis(centres[flat.argmax(axis=1)], -1, 1)
        else:
            f = flat - flat.max(axis=1, keepdims=True)
            f *= 1.0 / t
            xp.exp(f, out=f)
            f /= f.sum(axis=1, keepdims=True)
            uv = centres.T @ f
        return xp.ascontiguousarray(uv).reshape((n, 2) + rest)

    def __repr__(self):
        return (f"ChromaBins(Q={len(self)}, step={self.step:g}, sigma={self.sigma:.4g}, k={self.neighbours}, "
                f"lambda={self.rebalance:g}, T={self.temperature:g})")


def _squared_distances(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
