"""AlphaDropout and FeatureAlphaDropout: dropout for SELU networks, which keeps zero mean and unit variance."""
from ..backend import get_array_module
from ..kernels import ops
from ..random import rng_for
from .checks import InputError, check_floating, check_grad_like
from .dropout import Dropout


class AlphaDropout(Dropout):
    """In training y = x·s + t, with k ~ Bernoulli(1 − p) per element, a = 1/√((α′²p + 1)(1 − p)), s = a·k and
    t = α′·a·(k − 1 + p), α′ = 1.7580993… (SELU's λα): a dropped value becomes a·(−α′) + α′·a·p, and inputs of
    zero mean and unit variance keep both (``formulas.dropout.alpha_scale_and_shift``); y = x in evaluation.
    ∂L/∂x = G·s. Keeps s. ``p = 1`` gives zeros (x·0), as torch."""

    def forward(self, x):
        check_floating(self, x)
        self._shape = tuple(x.shape)
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        xp = get_array_module(x)
        shape = self._noise_shape(x)
        if self.p == 1.0:
            self._mask = xp.zeros(shape, dtype=x.dtype)
            return x * self._mask
        keep = rng_for(xp).random(shape, dtype=x.dtype) >= self.p
        self._mask, shift = ops.alpha_dropout.run("scale_and_shift", keep, self.p, x.dtype)
        return ops.dropout.run("forward", x, self._mask) + shift

    def _noise_shape(self, x):
        return x.shape

    def backward(self, dout):
        if self._mask is None:
            return dout
        self.backward_parameters(dout)
        return ops.dropout.run("backward", dout, self._mask)

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        if self._mask is not None:
            check_grad_like(self, dout, self._shape)


class FeatureAlphaDropout(AlphaDropout):
    """AlphaDropout with one k per sample and channel (axes 0 and 1) of x (N, C, …), as torch's: a whole
    channel becomes SELU's floor value together."""

    def _noise_shape(self, x):
        if x.ndim < 2:
            raise InputError(f"{self!r}: Feature dropout requires at least 2 dimensions in the input")
        return x.shape[:2] + (1,) * (x.ndim - 2)
