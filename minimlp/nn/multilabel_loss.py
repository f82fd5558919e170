"""MultiLabelSoftMarginLoss and MultiLabelMarginLoss: several right classes per sample
(``minimlp.formulas.multilabel``)."""
from ..kernels import ops
from .checks import InputError, check_array, check_floating
from .several_inputs import _LossOfSeveral


class MultiLabelSoftMarginLoss(_LossOfSeveral):
    """ℓₙ = −(1/C)·Σ_c w_c·(y·log σ(x) + (1 − y)·log σ(−x)) over the last (class) axis of scores x (N, C), (C,) or
    (…, C) and targets y in [0, 1] (broadcast against x, as torch), computed without overflow; ``weight`` w
    broadcast against x (per class, typically).

    ``forward(input, target)``; ``backward(grad_output=None)`` returns ∂L/∂x = G·w·(σ(x) − y)/C, as the other
    one-input losses (the target gets none). Keeps x, y and w."""

    _op = ops.multilabel_soft_margin

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.weight = weight

    def forward(self, input, target):
        arrays = {"input": input} if self.weight is None else {"input": input, "weight": self.weight}
        dtype = self._floating(arrays)
        target = self._labels(target, dtype)
        if input.ndim == 0:
            raise InputError(f"{self!r}: expected scores with a class axis (N, C) or (C,), got a 0-d input")
        shapes = [a.shape for a in arrays.values()] + [target.shape]
        if self._broadcast(*shapes) != tuple(input.shape):
            raise InputError(f"{self!r}: target of shape {tuple(target.shape)} and weight must broadcast to the "
                             f"input's shape {tuple(input.shape)}")
        weight = None if self.weight is None else self.weight.astype(dtype, copy=False)
        loss, saved = self._op.run("forward", input.astype(dtype, copy=False), target, weight)
        return self._reduce(loss, saved, (input.dtype,))

    def backward(self, grad_output=None):
        return super().backward(grad_output)[0]

    def _gradients(self, g, saved):
        return (self._op.run("backward", g, saved),)


class MultiLabelMarginLoss(_LossOfSeveral):
    """ℓₙ = (1/C)·Σ_j Σ_{i ∉ T} max(0, 1 − (x[n, yⱼ] − x[n, i])) for scores x (N, C), (C,) or 0-d, and integer
    targets of x's shape holding each sample's labels yⱼ first, then −1 (what follows the first −1 is ignored; T is
    the set of labels, a label given twice counts twice, as torch's kernel). Entries outside −1 … C − 1 are an
    error, as torch's.

    ``forward(input, target)``; ``backward(grad_output=None)`` returns ∂L/∂x, as the other one-input losses: each
    active pair (z = 1 − x[yⱼ] + x[i] > 0; not at z = 0, as torch) adds G/C at i and −G/C at yⱼ. Keeps the active
    pairs."""

    _op = ops.multilabel_margin

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)

    def forward(self, input, target):
        check_floating(self, input)
        check_array(self, target, "target")
        kind = getattr(getattr(target, "dtype", None), "kind", None)
        if input.ndim > 2 or (input.ndim and input.shape[-1] == 0):
            raise InputError(f"{self!r}: Expected non-empty vector or matrix with optional 0-dim batch size, but "
                             f"got: {tuple(input.shape)}")
        c = input.shape[-1] if input.ndim else 1
        shape_ok = (target.ndim == 2 and target.shape == input.shape) if input.ndim == 2 else \
            (target.ndim <= 1 and target.size == c)
        if kind not in ("i", "u") or not shape_ok:
            raise InputError(f"{self!r}: expected integer targets of the input's shape {tuple(input.shape)}, got "
                             f"{getattr(target, 'dtype', type(target).__name__)} of shape "
                             f"{tuple(getattr(target, 'shape', ()))} (inconsistent target size)")
        if target.size and (int(target.min()) < -1 or int(target.max()) >= c):
            raise InputError(f"{self!r}: target is out of range: its entries must be labels 0 … {c - 1} or -1")
        x, y = input.reshape(-1, c), target.reshape(-1, c)
        loss, saved = self._op.run("forward", x, y)
        self._shape = input.shape
        return self._reduce(loss if input.ndim == 2 else loss.reshape(()), saved, (input.dtype,))

    def backward(self, grad_output=None):
        return super().backward(grad_output)[0]

    def _gradients(self, g, saved):
        return (self._op.run("backward", g.reshape(-1), saved).reshape(self._shape),)
