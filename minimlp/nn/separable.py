"""SeparableMap: layers that act on the rows and the columns of each image with two matrices."""
from ..backend import get_array_module
from .checks import check_grad_like, check_image
from .module import Module


class SeparableMap(Module):
    """y[n, c] = A_h x[n, c] A_wᵀ for each image plane; backward ∂L/∂x[n, c] = A_hᵀ G[n, c] A_w.

    Subclasses give ``_out_size(h, w)`` and ``_axis_matrix(size, out, axis)`` (one
    axis's (out, size) matrix, float64 NumPy). Adaptive average pooling and
    nearest/bilinear resampling are all of this form. Each direction is two
    products (columns as one (N·C·H, W) @ (W, W_out) product, then rows as a
    stacked product); the matrices are cached per input size, dtype and device.
    """

    def __init__(self):
        super().__init__()
        self._matrices = {}
        self._cache = None

    def _pair(self, x):
        h, w = x.shape[2], x.shape[3]
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
        check_image(self, x, None, None)
        a_h, a_w = self._pair(x)
        n, c, h, w = x.shape
        t = (x.reshape(n * c * h, w) @ a_w.T).reshape(n * c, h, a_w.shape[0])
        y = (a_h @ t).reshape(n, c, a_h.shape[0], a_w.shape[0])
        self._cache = (tuple(x.shape), (a_h, a_w), tuple(y.shape))
        return y

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])
        (n, c, h, w), (a_h, a_w), (_, _, ho, wo) = self._cache
        t = (dout.reshape(n * c * ho, wo) @ a_w).reshape(n * c, ho, w)
        return (a_h.T @ t).reshape(n, c, h, w)

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])

    def _on_moved(self):
        self._matrices = {}
        self._cache = None
