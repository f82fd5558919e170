"""ChromaBinLoss: the vivid colorizer's rebalanced cross-entropy over chroma bins, soft targets built per batch."""
import math

from ...backend import device_of, get_array_module
from ...kernels import ops
from ...nn.checks import check_floating
from ...nn.loss_value import reduced_loss


class ChromaBinLoss:
    """L = (1/M) Σₘ v(Zₘ) · Σ_q −Zₘ,q log softmax(zₘ)_q over a batch's M = N·P pixels (Zhang's eq. 2).

    logits z: (N, Q, H, W) or flat (N, Q·P), bins on axis 1 (P = H·W pixels);
    target: the U and V planes, (N, 2, H, W) or flat (N, 2·P) (the colorizer's
    chroma targets). Z is the target's soft encoding on ``bins``
    (``ChromaBins.soft_encode``: k nearest bins, Gaussian weights), v(Zₘ) the
    rebalancing weight of the pixel's nearest bin. The soft targets are built
    per batch (storing them for a training set would take Q floats a pixel).

    Backward: ∂L/∂zₘ,q = v(Zₘ)·(softmax(zₘ)_q − Zₘ,q) / M. log softmax is
    z − max z − log Σ exp(z − max z). The sum over the k bins of each pixel's
    Z is the op ``soft_cross_entropy`` (``minimlp.formulas.soft_cross_entropy``)
    with weights v(Zₘ)·Zₘ,q. Caches the softmax, the k bin indices and v·Z of
    each pixel. Returns a Python float (on the GPU a 0-d device array: ``nn.loss_value``).
    """

    def __init__(self, bins):
        self.bins = bins
        self._cache = None

    def __call__(self, logits, target):
        return self.forward(logits, target)

    def _check(self, logits, target):
        check_floating(self, logits)
        check_floating(self, target)
        q, n = len(self.bins), logits.shape[0]
        pixels = target.size // (2 * n) if n and target.ndim >= 2 else 0
        expected = {(n, q * pixels), (n, q) + tuple(target.shape[2:])}
        if logits.ndim < 2 or target.shape[0] != n or pixels == 0 or 2 * n * pixels != target.size \
                or tuple(logits.shape) not in expected or (target.ndim > 2 and target.shape[1] != 2):
            raise ValueError(f"{self!r}: expected logits (N, {q}, H, W) or (N, {q}·P) and targets (N, 2, H, W) or "
                             f"(N, 2·P), got logits of shape {tuple(logits.shape)} and targets of shape "
                             f"{tuple(target.shape)}")
        if logits.dtype != target.dtype:
            raise TypeError(f"{self!r}: logits dtype {logits.dtype} and target dtype {target.dtype} differ")
        if device_of(logits) != device_of(target):
            raise TypeError(f"{self!r}: logits are on the {device_of(logits)}, targets on the {device_of(target)}")
        return n, q, pixels

    def forward(self, logits, target):
        n, q, pixels = self._check(logits, target)
        xp = get_array_module(logits)
        z = xp.ascontiguousarray(logits.reshape(n, q, pixels))
        uv = xp.ascontiguousarray(xp.moveaxis(target.reshape(n, 2, pixels), 1, -1))
        idx, soft, nearest = self.bins.soft_encode(uv)
        weighted = soft * self.bins.pixel_weights(nearest, z.dtype)[..., None]
        value, softmax = ops.soft_cross_entropy.run("forward", z, idx, weighted)
        self._cache = (softmax, idx, weighted, tuple(logits.shape))
        def check(value):
            if not math.isfinite(value):
                raise FloatingPointError(f"ChromaBinLoss is {value}: the logits or targets hold NaN or Inf "
                                         f"(training diverged, or the data holds NaN/Inf)")
        return reduced_loss(value, 1, check)

    def backward(self):
        """∂L/∂logits for the last forward call, in the logits' shape and dtype (once per forward: the
        gradient is written over the softmax it keeps)."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward (or twice after one forward)")
        softmax, idx, weighted, shape = self._cache
        self._cache = None
        return ops.soft_cross_entropy.run("backward", softmax, idx, weighted).reshape(shape)

    def __repr__(self):
        return f"ChromaBinLoss(Q={len(self.bins)})"
