"""AdaptiveMaxPool2d: the maximum of each of torch's adaptive bins (``minimlp.formulas.adaptive_max``);
AdaptiveMaxPool1d is in ``pooling1d``."""
from ..backend import get_array_module
from ..kernels import ops
from .checks import InputError, check_grad_like, check_image, whole, with_batch_axis
from .module import Module


class AdaptiveMaxPool2d(Module):
    """y[n, c, i, j] = max of x[n, c, h₀(i):h₁(i), w₀(j):w₁(j)], h₀(i) = ⌊i·H/H_out⌋, h₁(i) = ⌈(i+1)·H/H_out⌉
    (and so for w): the bins of AdaptiveAvgPool2d, which may overlap.

    Backward: each G[n, c, i, j] goes to the position of its bin's maximum (the first in row-major order, or the
    last NaN, as torch's CPU kernel); overlapping bins add up. ``output_size``: an int, a pair, or None in a pair
    to keep that size. ``return_indices=True`` returns (y, indices), indices = h·W + w of each maximum in its
    input plane (int64, as torch's). Takes (N, C, H, W) or (C, H, W). Keeps the positions of the maxima.
    """

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        if len(sizes) != 2:
            raise ValueError(f"{type(self).__name__}: output_size must be an int or a pair, got {output_size!r}")
        self._sizes = tuple(None if s is None else whole(s, "output_size") for s in sizes)
        self.output_size, self.return_indices = output_size, bool(return_indices)
        self._bins, self._cache = {}, None

    def _out_size(self, h, w):
        return tuple(d if s is None else s for s, d in zip(self._sizes, (h, w)))

    def _bins_for(self, x):
        """The bins of each axis for x's size, on its device (kept per size)."""
        h, w = x.shape[-2:]
        ho, wo = self._out_size(h, w)
        if min(h, w, ho, wo, x.shape[-3]) < 1:
            raise InputError(f"{self!r}: input of shape {tuple(x.shape)} and output size {(ho, wo)} must be "
                             f"non-empty")
        key = (h, w, ho, wo, type(x))
        if key not in self._bins:
            xp = get_array_module(x)
            self._bins = {key: (xp.asarray(ops.adaptive_max_pool.run("bins", h, ho)),
                                xp.asarray(ops.adaptive_max_pool.run("bins", w, wo)))}
        return self._bins[key]

    def forward(self, x):
        check_image(self, x, None, None, unbatched=True)
        rows, cols = self._bins_for(x)
        x4, unbatched = with_batch_axis(x, 4)
        y, positions = ops.adaptive_max_pool.run("forward", x4, rows, cols)
        self._cache = (positions, tuple(x4.shape[-2:]), unbatched, tuple(y.shape[1:] if unbatched else y.shape))
        if unbatched:
            y, positions = y[0], positions[0]
        return (y, positions) if self.return_indices else y

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[3])
        positions, in_hw, unbatched, _ = self._cache
        dx = ops.adaptive_max_pool.run("backward", dout[None] if unbatched else dout, positions, in_hw)
        return dx[0] if unbatched else dx

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, None if self._cache is None else self._cache[3])

    def _on_moved(self):
        self._bins, self._cache = {}, None

    def extra_repr(self):
        return f"output_size={self.output_size}"
