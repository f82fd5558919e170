"""Dropout: random zeroing during training."""
import warnings

from ..backend import get_array_module
from ..kernels import ops
from ..random import rng_for
from .checks import InputError, check_floating, check_grad_like
from .module import Module


class Dropout(Module):
    """y = x ⊙ m / (1 − p) in training, with m ~ Bernoulli(1 − p) per element; y = x in evaluation.

    Backward uses the same mask: ∂L/∂x = G ⊙ m / (1 − p). Keeps the scaled mask. Masks come from minimlp's
    generator on the input's device (``minimlp.manual_seed``).
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if inplace:
            raise ValueError(f"{type(self).__name__}: inplace=True is not supported (minimlp returns a new array); "
                             f"leave it False")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, False
        self._mask = None

    def forward(self, x):
        check_floating(self, x)
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        xp = get_array_module(x)
        if self.p == 1.0:
            self._mask = xp.zeros_like(x)
        else:
            keep = rng_for(xp).random(x.shape, dtype=x.dtype) >= self.p
            self._mask = ops.dropout.run("mask", keep, self.p, x.dtype)
        return ops.dropout.run("forward", x, self._mask)

    def backward(self, dout):
        if self._mask is None:
            return dout
        check_grad_like(self, dout, self._mask.shape)
        return ops.dropout.run("backward", dout, self._mask)

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        if self._mask is not None:
            check_grad_like(self, dout, self._mask.shape)

    def _on_moved(self):
        self._mask = None

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Whole channels dropped: y[n, c] = x[n, c] · m[n, c] / (1 − p) in training, with one m ~ Bernoulli(1 − p)
    per sample and channel of x (N, C, H, W), or (N, C, L) (torch's reading of a 3-D input); y = x in
    evaluation. Backward: ∂L/∂x = G ⊙ m / (1 − p) with the same mask. Keeps the scaled (N, C, 1, …) mask.
    """

    def forward(self, x):
        check_floating(self, x)
        if x.ndim not in (3, 4):
            raise ValueError(f"{self!r}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got a {x.ndim}-D "
                             f"input of shape {tuple(x.shape)}")
        if x.ndim == 3:
            warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                          "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                          "dim. This behavior will change in a future release to interpret the input as one without "
                          "a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout "
                          "behavior, please switch to using dropout1d instead.", UserWarning, stacklevel=3)
        return self._drop_channels(x, 2)

    def _drop_channels(self, x, lead):
        """One mask value per entry of x's first ``lead`` axes (sample and channel, or the channel alone)."""
        self._shape = tuple(x.shape)
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        xp = get_array_module(x)
        shape = x.shape[:lead] + (1,) * (x.ndim - lead)
        keep = rng_for(xp).random(shape, dtype=x.dtype) >= self.p
        self._mask = ops.dropout.run("mask", keep, self.p, x.dtype) if self.p < 1.0 else xp.zeros(shape, x.dtype)
        return ops.dropout.run("forward", x, self._mask)

    def backward(self, dout):
        self.backward_parameters(dout)
        return dout if self._mask is None else ops.dropout.run("backward", dout, self._mask)

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, getattr(self, "_shape", None))


class Dropout1d(Dropout2d):
    """Whole channels dropped, as Dropout2d, of x (N, C, L) or one sample (C, L): y[n, c] = x[n, c]·m[n, c]/(1 − p)
    in training, y = x in evaluation; ∂L/∂x = G ⊙ m/(1 − p)."""

    def forward(self, x):
        check_floating(self, x)
        if x.ndim not in (2, 3):
            raise InputError(f"{self!r}: dropout1d: Expected 2D or 3D input, but received a {x.ndim}D input")
        return self._drop_channels(x, x.ndim - 1)


class Dropout3d(Dropout2d):
    """Whole channels dropped, as Dropout2d, of x (N, C, D, H, W) or one sample (C, D, H, W):
    y[n, c] = x[n, c]·m[n, c]/(1 − p) in training, y = x in evaluation; ∂L/∂x = G ⊙ m/(1 − p)."""

    def forward(self, x):
        check_floating(self, x)
        if x.ndim not in (4, 5):
            raise InputError(f"{self!r}: expected a 4-D (C, D, H, W) or 5-D (N, C, D, H, W) input, got a "
                             f"{x.ndim}-D input of shape {tuple(x.shape)}")
        return self._drop_channels(x, x.ndim - 3)
