"""GaussianNLLLoss: a target's negative log-likelihood under a predicted mean and variance
(``minimlp.formulas.gaussian_nll``)."""
from ..backend import get_array_module
from ..kernels import ops
from .checks import check_floating
from .several_inputs import _LossOfSeveral


class GaussianNLLLoss(_LossOfSeveral):
    """ℓ = ½·(log v + (x − y)²/v), v = max(var, ε) (``eps`` ε = 1e-6), plus ½·log 2π with ``full``; for means x,
    targets y and variances ``var`` as torch takes them: of x's shape, or with one axis fewer (x's shape without
    its last axis), or of x's number of axes with exactly one of them 1 where x's is not, or a Python float (used
    everywhere); a negative variance is a ValueError, as torch's. x and y broadcast, as torch.

    ``forward(input, target, var)``; ``backward(grad_output=None)`` returns (∂L/∂input, ∂L/∂var) = (G·(x − y)/v,
    ½·G·(1/v − (x − y)²/v²)), the second summed to var's shape (None for a float var). The clamp at ε passes the
    gradient to var as torch's does (it clamps under no_grad), so a var below ε gets ½·G·(1/ε − (x − y)²/ε²). The
    target gets none. Keeps x − y and v."""

    _op = ops.gaussian_nll

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        check_floating(self, input)
        xp = get_array_module(input)
        number = isinstance(var, float)
        if number:
            if var < 0:
                raise ValueError("var has negative entry/entries")
            var = xp.asarray(var, dtype=input.dtype)
        elif not hasattr(var, "dtype"):
            raise TypeError(f"{self!r}: var must be an array or a float, got {type(var).__name__}")
        dtype = self._floating({"input": input, "target": target, "var": var})
        if bool((var < 0).any()):
            raise ValueError("var has negative entry/entries")
        shape = var.shape
        if not number and var.shape != input.shape:
            if input.shape[:-1] == var.shape:
                var = var[..., None]         # one variance per row (homoscedastic), broadcast along the last axis
            elif not (input.ndim == var.ndim and sum(v for x, v in zip(input.shape, var.shape) if x != v) == 1):
                raise ValueError("var is of incorrect size")
        self._broadcast(input.shape, target.shape, var.shape)
        loss, saved = self._op.run("forward", input.astype(dtype, copy=False), target.astype(dtype, copy=False),
                                   var.astype(dtype, copy=False), bool(self.full), float(self.eps))
        self._var = (number, shape)
        return self._reduce(loss, saved, (input.dtype, var.dtype))

    def _gradients(self, g, saved):
        d_input, d_var = super()._gradients(g, saved)
        number, shape = self._var
        return d_input, None if number else d_var.reshape(shape)
