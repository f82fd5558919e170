"""LPPool1d, LPPool2d and LPPool3d: the p-norm of each window, around the average (or, for p = ±∞, max) pooling
(``minimlp.formulas.lp_pool``)."""
import math

from ..kernels import ops
from .checks import check_floating, check_grad_like
from .pooling import _Pool2d
from .pooling1d import _Along1d
from .pooling3d import _Pool3d


class LPPool2d(_Pool2d):
    """y[n, c, h, w] = (Σ_window x^p)^(1/p), computed as torch: y = (k·a)^(1/p) with a = AvgPool2d(x^p) and k = kh·kw.

    So a ``ceil_mode`` window cut by the input gives (Σ_inside x^p · k/D)^(1/p), D its positions inside (torch's
    AvgPool divisor), and an odd or fractional p with a negative window sum gives NaN. p = ∞: max |x| over the
    window (MaxPool2d of |x|); p = −∞: min |x|; p = 0: ZeroDivisionError when called, as torch.
    Backward (``minimlp.formulas.lp_pool``, torch's chain rule step by step): ∂L/∂a = G·(1/p)·(k·a)^(1/p − 1)·k, 0
    where a = 0 (a window of zeros gets gradient 0, as torch documents), then AvgPool2d's backward, then
    ∂L/∂x = ∂L/∂(x^p)·p·x^(p − 1) (∞ or NaN at x = 0 for p < 1, as torch); p = ±∞: MaxPool2d's routing of G
    (its first maximum on ties) times sign(x).
    No padding or dilation; stride None (kept as given) is the kernel. Shapes (N, C, H, W) or (C, H, W); floating
    inputs only (torch also takes integers, as its x^p is floating). Keeps x, the averages a and k·a (or the max
    pooling's cache).
    """

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__(kernel_size, stride, 0, 1, ceil_mode)
        self.norm_type = norm_type
        self.stride = stride
        self._lp = None

    def _p(self):
        p = float(self.norm_type)
        if p == 0:
            raise ZeroDivisionError(f"{self!r}: norm_type 0 has no root 1/p (torch: float division by zero)")
        return p

    @property
    def _op(self):
        return ops.max_pool2d if math.isinf(self._p()) else ops.avg_pool2d

    def _arguments(self, x, geometry):
        if self._op is ops.max_pool2d:
            return ()
        return (ops.avg_pool2d.run("inverse_divisor", x, geometry, True, None),)

    def forward(self, x):
        check_floating(self, x)
        p = self._p()
        if math.isinf(p):
            sign = 1.0 if p > 0 else -1.0
            pooled = super().forward(ops.lp_pool.run("magnitude", x, sign))
            self._lp = (x, p, sign)
            return sign * pooled
        kernel = self._pairs()[0]
        k = kernel[0] * kernel[1]
        y, saved = ops.lp_pool.run("root", super().forward(ops.lp_pool.run("power", x, p)), p, k)
        self._lp = (x, p, (saved, k))
        return y

    def backward(self, dout):
        check_grad_like(self, dout, self._expected())
        x, p, extra = self._lp
        if math.isinf(p):
            return ops.lp_pool.run("magnitude_backward", super().backward(extra * dout), x, extra)
        saved, k = extra
        grad_average = ops.lp_pool.run("root_backward", dout, saved, p, k)
        return ops.lp_pool.run("power_backward", super().backward(grad_average), x, p)

    def _on_moved(self):
        super()._on_moved()
        self._lp = None

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_Along1d, LPPool2d):
    """y[n, c, l] = (Σ_window x^p)^(1/p) over windows of ``kernel_size`` along L: LPPool2d on signals one pixel
    high (its formula, k = kernel_size, p = ±∞, ``ceil_mode``). Shapes (N, C, L) or (C, L)."""


class LPPool3d(_Pool3d):
    """y[n, c, d, h, w] = (Σ_window x^p)^(1/p) over kd x kh x kw windows, as torch computes it: LPPool2d's formula
    (y = (k·a)^(1/p), a = AvgPool3d(x^p), k = kd·kh·kw; p = ±∞ the max pooling of ±|x|, p = 0 ZeroDivisionError)
    and backward, on MaxPool3d's and AvgPool3d's windows (``minimlp.formulas.pooling3d``). No padding or dilation;
    stride None (kept as given) is the kernel. Shapes (N, C, D, H, W) or (C, D, H, W); floating inputs only. Keeps
    x, the averages a and k·a (or the maxima's positions).
    """

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__(kernel_size, stride, ceil_mode)
        self.norm_type = norm_type
        self.stride = stride
        self._key()

    def _padding(self):
        return 0

    def _p(self):
        p = float(self.norm_type)
        if p == 0:
            raise ZeroDivisionError(f"{self!r}: norm_type 0 has no root 1/p (torch: float division by zero)")
        return p

    def _reduce(self, x, flat, valid, inverse):
        p = self._p()
        if math.isinf(p):
            sign = 1.0 if p > 0 else -1.0
            y, positions = ops.pool3d.run("max_forward", ops.lp_pool.run("magnitude", x, sign), flat, valid)
            return sign * y, (p, x, (positions, sign))
        kernel = self._key()[0]
        k = kernel[0] * kernel[1] * kernel[2]
        a = ops.pool3d.run("avg_forward", ops.lp_pool.run("power", x, p), flat, valid, inverse)
        y, saved = ops.lp_pool.run("root", a, p, k)
        return y, (p, x, (flat, valid, inverse, saved, k))

    def _back(self, g, saved, in_shape):
        p, x, extra = saved
        if math.isinf(p):
            positions, sign = extra
            grad_magnitude = ops.pool3d.run("max_backward", sign * g, positions, in_shape)
            return ops.lp_pool.run("magnitude_backward", grad_magnitude, x, sign)
        flat, valid, inverse, root, k = extra
        grad_average = ops.lp_pool.run("root_backward", g, root, p, k)
        grad_power = ops.pool3d.run("avg_backward", grad_average, flat, valid, inverse, in_shape)
        return ops.lp_pool.run("power_backward", grad_power, x, p)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")
