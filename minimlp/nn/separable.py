"""SeparableMap: layers that act on the rows and the columns of each image with two matrices."""
from ..backend import get_array_module
from ..formulas import resample
from ..kernels import ops
from .checks import InputError, check_grad_like, check_image, with_batch_axis
from .module import Module


class SeparableMap(Module):
    """y[n, c] = A_h x[n, c] A_wᵀ for each image plane; backward ∂L/∂x[n, c] = A_hᵀ G[n, c] A_w.

    Subclasses give ``_out_size(h, w)`` and ``_axis_taps(size, out, axis)`` (one axis's taps,
    ``formulas.resample.AxisTaps``: which inputs each output reads, with which weights). Adaptive average
    pooling and nearest/bilinear resampling are all of this form (``minimlp.formulas.resample``); the forward
    sums the taps (a NaN or an infinity reaches only the outputs that read it, as in torch), the backward
    multiplies by the matrices; both are kept per input size, dtype and device. A subclass with
    ``_unbatched`` also takes one image (C, H, W), as torch.
    """

    _unbatched = False

    def __init__(self):
        super().__init__()
        self._matrices = {}
        self._cache = None

    def _maps(self, x):
        """((taps_h, taps_w), (A_h, A_w)) for x's size, on its device and in its dtype: the taps for the
        forward, the matrices for the backward."""
        h, w = x.shape[-2], x.shape[-1]
        key = (h, w, x.dtype, type(x))
        if key not in self._matrices:
            ho, wo = self._out_size(h, w)
            if ho < 1 or wo < 1:
                raise InputError(f"{self!r}: input of shape {tuple(x.shape)} gives an empty output ({ho}x{wo})")
            xp = get_array_module(x)
            axes = (self._axis_taps(h, ho, 0), self._axis_taps(w, wo, 1))
            taps = tuple((xp.asarray(t.index), xp.asarray(t.weight.astype(x.dtype)),
                          None if t.used.all() else xp.asarray(t.used)) for t in axes)
            self._matrices = {key: (taps, tuple(xp.asarray(resample.matrix(t).astype(x.dtype)) for t in axes))}
        return self._matrices[key]

    def forward(self, x):
        check_image(self, x, None, None, unbatched=self._unbatched)
        (taps_h, taps_w), matrices = self._maps(x)
        x, unbatched = with_batch_axis(x, 4)
        y = ops.separable_map.run("forward", x, taps_h, taps_w)
        y = y[0] if unbatched else y
        self._cache = (matrices, tuple(y.shape), unbatched)
        return y

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[1])
        (a_h, a_w), _, unbatched = self._cache
        dx = ops.separable_map.run("backward", dout[None] if unbatched else dout, a_h, a_w)
        return dx[0] if unbatched else dx

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, None if self._cache is None else self._cache[1])

    def _on_moved(self):
        self._matrices = {}
        self._cache = None
