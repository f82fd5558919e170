"""MarginRankingLoss and CosineEmbeddingLoss: losses on a pair of inputs and ±1 labels
(``minimlp.formulas.ranking``)."""
from ..kernels import ops
from .checks import InputError
from .several_inputs import _LossOfSeveral


class MarginRankingLoss(_LossOfSeveral):
    """ℓ = max(0, −y·(x1 − x2) + margin) element-wise, for scores x1, x2 and labels y (1: x1 should rank higher,
    −1: x2; torch checks no label), all of one number of axes (any, 0-d too) and shapes that broadcast, as torch.

    ``forward(input1, input2, target)``; ``backward(grad_output=None)`` returns (∂L/∂input1, ∂L/∂input2) =
    (−y·G, y·G) where the hinge is active (at 0 too, as torch's clamp), each summed to its input's shape; the
    target gets none. Keeps the active mask and y."""

    _op = ops.margin_ranking

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        dtype = self._floating({"input1": input1, "input2": input2})
        if not input1.ndim == input2.ndim == getattr(target, "ndim", None):
            raise InputError(f"{self!r}: All input tensors should have same dimension but got sizes: input1: "
                             f"{tuple(input1.shape)}, input2: {tuple(input2.shape)}, target: "
                             f"{tuple(getattr(target, 'shape', ()))}")
        y = self._labels(target, dtype)
        self._broadcast(input1.shape, input2.shape, y.shape)
        loss, saved = self._op.run("forward", input1.astype(dtype, copy=False), input2.astype(dtype, copy=False), y,
                                   float(self.margin))
        return self._reduce(loss, saved, (input1.dtype, input2.dtype))


class CosineEmbeddingLoss(_LossOfSeveral):
    """ℓ = 1 − cos(x1, x2) where y = 1, max(0, cos(x1, x2) − margin) where y = −1 (0 for other labels, which torch
    does not check), cos along the last axis of (N, D) inputs with labels (N,), or of (D,) inputs with a 0-d label;
    torch's cos = Σ x1·x2 / √((Σ x1² + ε)(Σ x2² + ε)), ε = 1e-12 (a float32, as torch's). x1 and x2 broadcast, as torch.

    ``forward(input1, input2, target)``; ``backward(grad_output=None)`` returns (∂L/∂input1, ∂L/∂input2):
    G·s·(x2/√(m1·m2) − cos·x1/m1) and G·s·(x1/√(m1·m2) − cos·x2/m2), mᵢ = Σ xᵢ² + ε, s = ∂ℓ/∂cos (−1, or 1 where
    cos ≥ margin for y = −1); the target gets none. Keeps x1, x2, m1, m2, cos."""

    _op = ops.cosine_embedding

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        dtype = self._floating({"input1": input1, "input2": input2})
        ndim = getattr(target, "ndim", None)
        if ndim not in (0, 1):
            raise InputError(f"{self!r}: 0D or 1D target tensor expected, multi-target not supported (got a target "
                             f"of shape {tuple(getattr(target, 'shape', ()))})")
        if not input1.ndim == input2.ndim == ndim + 1:
            raise InputError(f"{self!r}: {ndim}D target tensor expects {ndim + 1}D input tensors, but found inputs "
                             f"with sizes {tuple(input1.shape)} and {tuple(input2.shape)}.")
        y = self._labels(target, dtype)
        self._broadcast(self._broadcast(input1.shape, input2.shape)[:-1], y.shape)
        loss, saved = self._op.run("forward", input1.astype(dtype, copy=False), input2.astype(dtype, copy=False), y,
                                   float(self.margin))
        return self._reduce(loss, saved, (input1.dtype, input2.dtype))
