"""torch.nn.utils.parametrizations' weight and spectral normalisation and orthogonal weights, as ``parametrize``
parametrizations whose forward and backward are the formulas of ``minimlp.formulas.weight_norm``,
``spectral_norm`` and ``orthogonal``."""
import numbers

from ...backend import get_array_module
from ...formulas import orthogonal as orthogonal_formula
from ...formulas.spectral_norm import normalize, to_matrix
from ...formulas.weight_norm import check_dim, norm_except_dim
from ...kernels import ops
from ...random import numpy_rng
from ..module import Module
from ..parameter import is_lazy
from . import parametrize


class _WeightNorm(Module):
    """w = g · v/‖v‖, the norm over every axis but ``dim`` (None: the whole array, torch's −1). Originals
    (g, v) = (‖w‖, w) (``right_inverse``); ``backward(G)`` returns (∂L/∂g, ∂L/∂v): formulas.weight_norm."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim
        self._saved = None

    def forward(self, weight_g, weight_v):
        weight, norm = ops.weight_norm.run("forward", weight_g, weight_v, self.dim)
        self._saved = (weight_g, weight_v, norm)
        return weight

    def backward(self, grad):
        if self._saved is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return ops.weight_norm.run("backward", grad, *self._saved, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, self.dim), weight


class _SpectralNorm(Module):
    """W / σ(W), σ estimated by power iteration on W as a matrix (``dim`` first), u and v kept as buffers
    ``_u``, ``_v`` and advanced ``n_power_iterations`` times per forward in training (15 times at the start);
    a 1-d weight is normalised. ``backward(G)`` returns ∂L/∂W with u, v held constant: formulas.spectral_norm."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got "
                             f"{dim})")
        if not isinstance(n_power_iterations, numbers.Integral) or n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim, self.eps = dim % ndim, eps
        self._saved = None
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            matrix = to_matrix(weight, self.dim)
            xp, h, w = get_array_module(weight), *matrix.shape
            for name, size in (("_u", h), ("_v", w)):   # drawn on the CPU, as every initialisation
                self.register_buffer(name, normalize(xp.asarray(numpy_rng().standard_normal(size), weight.dtype), eps))
            ops.spectral_norm.run("power_iteration", matrix, self._u, self._v, 15, eps)

    def forward(self, weight):
        u = v = None
        if weight.ndim > 1:
            if self.training:
                ops.spectral_norm.run("power_iteration", to_matrix(weight, self.dim), self._u, self._v,
                                      self.n_power_iterations, self.eps)
            u, v = self._u.copy(), self._v.copy()
        out, sigma = ops.spectral_norm.run("forward", weight, u, v, self.dim, self.eps)
        self._saved = (weight, u, v, sigma)
        return out

    def backward(self, grad):
        if self._saved is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return ops.spectral_norm.run("backward", grad, *self._saved, self.dim, self.eps)

    def right_inverse(self, value):
        return value


def weight_norm(module, name="weight", dim=0):
    """w = g · v/‖v‖ (Salimans & Kingma 2016) for ``module``'s parameter ``name``: the originals
    ``parametrizations.<name>.original0`` = g (‖w‖ over every axis but ``dim``; None: the whole array) and
    ``original1`` = v, as torch's. Returns ``module``."""
    weight = getattr(module, name, None)
    if weight is not None and hasattr(weight, "data") and not is_lazy(weight):
        check_dim(weight.data.ndim, dim)
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """W / σ(W) (Miyato et al. 2018) for ``module``'s parameter ``name``, σ by power iteration (``dim`` None: 1 for
    a transposed convolution, else 0), as torch's; the original stays the same Parameter. Returns ``module``."""
    weight = getattr(module, name, None)
    if weight is None or not hasattr(weight, "data"):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight.data, n_power_iterations, dim, eps))
    return module


class _Orthogonal(Module):
    """An orthogonal weight (or batch of them, on the last two axes) by ``orthogonal_map`` ("matrix_exp",
    "cayley", "householder") of the original, times the ``base`` buffer with the trivialization; a wide weight
    has orthonormal rows. ``backward(G)`` returns ∂L/∂original (the base has no gradient); ``right_inverse(Q)``
    writes the base and returns −I with the trivialization, householder's geqrf without: formulas.orthogonal."""

    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        if get_array_module(weight).iscomplexobj(weight):
            raise ValueError(f"orthogonal: minimlp parametrizes real float32 and float64 weights only, got "
                             f"{weight.dtype}")
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        self._saved = None
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, original):
        value, self._saved = ops.orthogonal.run("forward", original, self.orthogonal_map, self._base())
        return value

    def backward(self, grad):
        if self._saved is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return ops.orthogonal.run("backward", grad, self._saved, self.orthogonal_map, self._base())

    def _base(self):
        return self._buffers["base"] if "base" in self._buffers else None

    def right_inverse(self, value):
        if tuple(value.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of shape "
                             f"{tuple(value.shape)}.")
        trivialization = "base" in self._buffers
        if not trivialization and self.orthogonal_map != "householder":   # registration then keeps the weight
            raise NotImplementedError("It is not possible to assign to the matrix exponential or the Cayley "
                                      "parametrizations when use_trivialization=False.")
        completion = None
        n, k = max(value.shape[-2:]), min(value.shape[-2:])
        if trivialization and n != k:   # drawn on the CPU, as every initialisation
            xp = get_array_module(value)
            completion = xp.asarray(numpy_rng().standard_normal(value.shape[:-2] + (n, n - k)), value.dtype)
        original, base = ops.orthogonal.run("right_inverse", value, self.orthogonal_map, trivialization, completion)
        if trivialization:
            self.base = base
        return original


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Q with QᵀQ = I (tall) or QQᵀ = I (wide) for ``module``'s parameter ``name``, a matrix or a batch of them on
    the last two axes, as torch's: Q = base · map(original) with ``use_trivialization`` (the buffer
    ``parametrizations.<name>.0.base``), map(original) without; ``orthogonal_map`` "matrix_exp", "cayley" or
    "householder" (None: "matrix_exp" for a square matrix, else "householder"). The initial Q is the weight if
    orthogonal, else its QR's Q (and so for householder without the trivialization). Returns ``module``."""
    weight = getattr(module, name, None)
    if weight is None or not hasattr(weight, "data"):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in orthogonal_formula.MAPS:
        raise ValueError(f'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". Got: '
                         f'{orthogonal_map}')
    parametrization = _Orthogonal(weight.data, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, parametrization, unsafe=True)
    return module
