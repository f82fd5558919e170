"""PairwiseDistance and CosineSimilarity: a number per pair of vectors (``minimlp.formulas.distance``)."""
import math

import numpy as np

from ..backend import device_of, get_array_module
from ..kernels import ops
from .checks import InputError, check_floating, check_grad_like
from .module import Module


class _Distance(Module):
    """forward(x1, x2) of two floating arrays that broadcast against each other (float32 with float64 computes in
    float64, as torch); backward(G) returns (∂L/∂x1, ∂L/∂x2), each summed back to its input's shape and in its
    dtype. ``measure``/``measure_backward`` are the same without the module's cache (for the triplet loss)."""

    _op = None

    def _args(self, shape):
        """The op's arguments after x1 and x2, for inputs broadcast to ``shape``."""
        return ()

    def measure(self, x1, x2):
        """(y, saved) for ``measure_backward``."""
        for name, x in (("x1", x1), ("x2", x2)):
            check_floating(self, x, name)
        if device_of(x1) != device_of(x2):
            raise TypeError(f"{self!r}: x1 is on the {device_of(x1)}, x2 on the {device_of(x2)}")
        try:
            shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
        except ValueError:
            raise InputError(f"{self!r}: x1 of shape {tuple(x1.shape)} and x2 of shape {tuple(x2.shape)} do not "
                             f"broadcast") from None
        arguments = self._args(shape)
        dtype = get_array_module(x1, x2).result_type(x1, x2)
        y, saved = self._op.run("forward", x1.astype(dtype, copy=False), x2.astype(dtype, copy=False), *arguments)
        return y, (saved, x1.dtype, x2.dtype)

    def measure_backward(self, g, saved):
        saved, dtype1, dtype2 = saved
        d1, d2 = self._op.run("backward", g.astype(saved[0].dtype, copy=False), saved)
        return d1.astype(dtype1, copy=False), d2.astype(dtype2, copy=False)

    def forward(self, x1, x2):
        y, self._saved = self.measure(x1, x2)
        self._shape = y.shape
        return y

    def backward(self, dout):
        check_grad_like(self, dout, getattr(self, "_shape", None))
        return self.measure_backward(dout, self._saved)

    def _on_moved(self):
        self.__dict__.pop("_shape", None)
        self._saved = None


class PairwiseDistance(_Distance):
    """y = ‖x1 − x2 + ε‖_p along the last axis (torch's: ε added to each difference, default 1e-6), over inputs
    (N, D), (D,), any (…, D) or 0-d, broadcast against each other; (…, 1) with ``keepdim``. p may be any number:
    0 counts the nonzero differences, ±inf takes max/min |dᵢ|, negative p as torch's vector norm.

    Backward: v = G·∂‖d‖_p/∂d (G·d/‖d‖ for p = 2; torch's forms, with its zeros where ‖d‖ = 0 or dᵢ = 0, split
    among ties for ±inf) and returns (v, −v), each summed to its input's shape. Keeps d and ‖d‖."""

    _op = ops.pairwise_distance

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim   # torch's attribute names

    def _args(self, shape):
        p = float(self.norm)
        if shape and shape[-1] == 0 and (p < 0 or p == math.inf):   # as torch's vector norm
            raise InputError(f"{self!r}: linalg.vector_norm cannot compute the {self.norm} norm on the dimension "
                             f"{len(shape) - 1} because this dimension is empty and the operation does not have an "
                             f"identity")
        return (p, float(self.eps), bool(self.keepdim))


class CosineSimilarity(_Distance):
    """y = Σ_dim (x1/max(‖x1‖, ε))·(x2/max(‖x2‖, ε)), torch's form: each input divided by its own norm along
    ``dim`` (default 1) clamped at ε (default 1e-8), so |y| ≤ 1; x1 and x2 broadcast, ``dim`` an axis of their
    broadcast shape; the output drops it.

    Backward, as torch's autograd through its clamp (which passes the gradient): ∂L/∂x1 = G·(x2/(c1·c2) −
    (y/c1)·x1/‖x1‖) with cᵢ = max(‖xᵢ‖, ε), x1/‖x1‖ read as 0 at a zero vector; alike for x2; (∂L/∂x1, ∂L/∂x2),
    each summed to its input's shape. Keeps both (broadcast) inputs, their norms and y."""

    _op = ops.cosine_similarity

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def _args(self, shape):
        ndim = max(len(shape), 1)   # a 0-d pair has one axis, as in torch
        if not -ndim <= self.dim < ndim:
            raise IndexError(f"{self!r}: Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                             f"but got {self.dim})")
        return (self.dim % ndim, float(self.eps))
