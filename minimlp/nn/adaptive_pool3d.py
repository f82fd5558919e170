"""AdaptiveAvgPool3d and AdaptiveMaxPool3d: torch's adaptive bins gathered as windows of the volume
(``minimlp.formulas.pooling3d``)."""
from ..kernels import ops
from .checks import whole
from .pooling3d import _MaxOfWindows, _Windows3d


class _Adaptive3d(_Windows3d):
    """Output (i, j, k) reduces torch's bin d₀(i) ≤ d < d₁(i), h₀(j) ≤ h < h₁(j), w₀(k) ≤ w < w₁(k), with
    d₀(i) = ⌊i·D/D_out⌋ and d₁(i) = ⌈(i + 1)·D/D_out⌉ (and so for h and w); bins may overlap. ``output_size``: an
    int, a 3-tuple, or None in a tuple to keep that size."""

    def __init__(self, output_size):
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 3
        if len(sizes) != 3:
            raise ValueError(f"{type(self).__name__}: output_size must be an int or a 3-tuple, got {output_size!r}")
        self._sizes = tuple(None if s is None else whole(s, "output_size") for s in sizes)
        self.output_size = output_size

    def _key(self):
        return self._sizes

    def _axes(self, shape):
        return tuple(ops.pool3d.run("adaptive_windows", size, size if out is None else out)
                     for size, out in zip(shape, self._sizes))

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool3d(_Adaptive3d):
    """y[n, c, i, j, k] = the mean of x over bin (i, j, k); backward ∂L/∂x[bin] += G/|bin| for every bin. Shapes
    (N, C, D, H, W) or (C, D, H, W). Keeps the bins and their sizes (per input size)."""

    def _reduce(self, x, flat, valid, inverse):
        return ops.pool3d.run("avg_forward", x, flat, valid, inverse), (flat, valid, inverse)

    def _back(self, g, saved, in_shape):
        return ops.pool3d.run("avg_backward", g, *saved, in_shape)


class AdaptiveMaxPool3d(_MaxOfWindows, _Adaptive3d):
    """y[n, c, i, j, k] = the maximum of x over bin (i, j, k): the first in row-major order, or the last NaN, as
    torch's CPU kernel. Backward: each G goes to its bin's maximum; overlapping bins add up.
    ``return_indices=True`` returns (y, indices), indices = d·H·W + h·W + w of each maximum in its input volume
    (int64, as torch's). Shapes (N, C, D, H, W) or (C, D, H, W). Keeps the maxima's positions."""

    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = bool(return_indices)

