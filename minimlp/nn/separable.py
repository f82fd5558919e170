"""SeparableMap: layers that act on the rows and the columns of each image with two matrices."""
from ..backend import get_array_module
from ..kernels import ops
from .checks import check_grad_like, check_image, with_batch_axis
from .module import Module


class SeparableMap(Module):
    """y[n, c] = A_h x[n, c] A_wᵀ for each image plane; backward ∂L/∂x[n, c] = A_hᵀ G[n, c] A_w.

    Subclasses give ``_out_size(h, w)`` and ``_axis_matrix(size, out, axis)`` (one axis's (out, size)
    matrix, float64 NumPy). Adaptive average pooling and nearest/bilinear resampling are all of this form
    (``minimlp.formulas.resample``); the matrices are kept per input size, dtype and device. A subclass with
    ``_unbatched`` also takes one image (C, H, W), as torch.
    """

    _unbatched = False

    def __init__(self):
        super().__init__()
        self._matrices = {}
        self._cache = None

    def _pair(self, x):
        h, w = x.shape[-2], x.shape[-1]
        key = (h, w, x.dtype, type(x))
        if key not in self._matrices:
            ho, wo = self._out_size(h, w)
            if ho < 1 or wo < 1:
                raise ValueError(f"{self!r}: input of shape {tuple(x.shape)} gives an empty output ({ho}x{wo})")
            xp = get_array_module(x)
            self._matrices = {key: (xp.asarray(self._axis_matrix(h, ho, 0).astype(x.dtype)),
                                    xp.asarray(self._axis_matrix(w, wo, 1).astype(x.dtype)))}
        return self._matrices[key]

    def forward(self, x):
        check_image(self, x, None, None, unbatched=self._unbatched)
        a_h, a_w = self._pair(x)
        x, unbatched = with_batch_axis(x, 4)
        y = ops.separable_map.run("forward", x, a_h, a_w)
        y = y[0] if unbatched else y
        self._cache = ((a_h, a_w), tuple(y.shape), unbatched)
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
