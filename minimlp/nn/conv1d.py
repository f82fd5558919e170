"""Conv1d and ConvTranspose1d: convolutions along one axis, run as the 2-d ones over images one pixel high."""
import numpy as np

from ..formulas.conv import Geometry
from ..kernels import ops
from .checks import InputError, check_floating, check_like, single, whole
from .conv import PADDING_MODES, ConvTranspose2d, _ConvBase
from .parameter import Parameter


class Conv1d(_ConvBase):
    """y[n, o, l] = b[o] + Σ_{c ∈ group(o)} Σ_k W[o, c, k] · x̃[n, c, l·s + k·d], x̃ padded as ``padding_mode``.

    Shapes: x (N, C_in, L) or (C_in, L) → y (N, C_out, L_out) with L_out = ⌊(L + 2p − d·(k − 1) − 1)/s⌋ + 1;
    W is (C_out, C_in/groups, k) and b (C_out,), initialised as torch.nn.Conv1d. It runs as Conv2d's op on
    x viewed as (N, C_in, 1, L) and W as (C_out, C_in/groups, 1, k), so its maths and backward are Conv2d's
    (``minimlp.formulas.conv``); one forward allows one backward.
    """

    _op = ops.conv2d

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32):
        (k,), (s,), (d,) = (single(kernel_size, "kernel_size"), single(stride, "stride"),
                            single(dilation, "dilation"))
        super().__init__(in_channels, out_channels, (1, k), (1, s), (1, d), groups, bias,
                         (whole(out_channels, "out_channels"), whole(in_channels, "in_channels") // max(int(groups), 1),
                          1, k), dtype)
        self.weight = Parameter(self.weight.data.reshape(self.weight.data.shape[:2] + (k,)))
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Conv1d: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv1d: padding must be an int, a 1-tuple, 'valid' or 'same', got {padding!r}")
            if padding == "same" and s != 1:
                raise ValueError("Conv1d: padding='same' is not supported for strided convolutions")
            total = d * (k - 1) if padding == "same" else 0
            self.padding, pads = padding, (0, 0, total // 2, total - total // 2)
        else:
            self.padding = single(padding, "padding")
            if self.padding[0] < 0:
                raise InputError(f"Conv1d: padding must be non-negative, got {self.padding}")
            pads = (0, 0, self.padding[0], self.padding[0])
        self._geometry = Geometry((1, k), (1, s), (1, d), pads, self.groups, padding_mode)
        self.kernel_size, self.stride, self.dilation = (k,), (s,), (d,)

    def _kernel(self):
        return _AsKernel(self.weight)

    def forward(self, x):
        check_floating(self, x)
        if x.ndim not in (2, 3):
            raise InputError(f"{self!r}: Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input "
                             f"of size: {list(x.shape)}")
        if x.shape[-2] != self.in_channels:
            raise InputError(f"{self!r}: expected input with {self.in_channels} channels, got input of shape "
                             f"{tuple(x.shape)} with {x.shape[-2]} channels")
        check_like(self, x, self.weight.data)
        length, (_, _, left, right) = x.shape[-1], self._geometry.pads
        out = self._geometry.conv_output(1, length)[1]
        if out < 1:
            raise self._shape_error(x, f"padded by ({left}, {right}) is smaller than the dilated kernel "
                                       f"{self.dilation[0] * (self.kernel_size[0] - 1) + 1}: the output would be "
                                       f"{out} long")
        if (self.padding_mode == "reflect" and max(left, right) >= length) or \
                (self.padding_mode == "circular" and max(left, right) > length):
            raise self._shape_error(x, f"is too small for {self.padding_mode} padding ({left}, {right})")
        y = self._run_forward(x[..., None, :], (x.shape[0] if x.ndim == 3 else 1, self.out_channels, 1, out))
        return y[..., 0, :]

    def backward(self, dout):
        return self._backward(dout[..., None, :], want_dx=True)[..., 0, :]

    def backward_parameters(self, dout):
        self._backward(dout[..., None, :], want_dx=False)


class ConvTranspose1d(ConvTranspose2d):
    """The adjoint of Conv1d in x: y[n, o, l·s + k·d − p] += Σ_{c ∈ group(o)} W[c, o, k] · x[n, c, l], plus b.

    Shapes: x (N, C_in, L) or (C_in, L) → y (N, C_out, L_out), L_out = (L − 1)·s − 2p + d·(k − 1) +
    output_padding + 1; W is (C_in, C_out/groups, k), initialised as torch.nn.ConvTranspose1d. It runs as
    ConvTranspose2d's op on x viewed as (N, C_in, 1, L), so its maths and backward are ConvTranspose2d's.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", dtype=np.float32):
        (k,), (s,), (d,) = (single(kernel_size, "kernel_size"), single(stride, "stride"),
                            single(dilation, "dilation"))
        (p,), (extra,) = single(padding, "padding"), single(output_padding, "output_padding")
        super().__init__(in_channels, out_channels, (1, k), (1, s), (0, p), (0, extra), groups, bias, (1, d),
                         padding_mode, dtype)
        self.weight = Parameter(self.weight.data.reshape(self.weight.data.shape[:2] + (k,)))
        self.kernel_size, self.stride, self.padding, self.output_padding, self.dilation = \
            (k,), (s,), (p,), (extra,), (d,)

    def _kernel(self):
        return _AsKernel(self.weight)

    def forward(self, x, output_size=None):
        """``output_size`` (L_out,), or with the batch and channel axes in front, picks among the lengths the
        stride allows (torch's ``_output_padding``)."""
        check_floating(self, x)
        if x.ndim not in (2, 3):
            raise InputError(f"{self!r}: Expected 2D (unbatched) or 3D (batched) input to conv_transpose1d, but "
                             f"got input of size: {list(x.shape)}")
        return super().forward(x[..., None, :], output_size)[..., 0, :]

    def _sized_geometry(self, x, output_size):
        given = list(output_size[-1:]) if len(output_size) == x.ndim - 1 else list(output_size)
        if len(given) != 1:
            raise ValueError(f"ConvTranspose1D: for {x.ndim - 1}D input, output_size must have 1 or {x.ndim - 1} "
                             f"elements (got {len(output_size)})")
        (k,), (s,), (p,), (d,) = self.kernel_size, self.stride, self.padding, self.dilation
        length = whole(given[0], "output_size")
        smallest = (x.shape[-1] - 1) * s - 2 * p + d * (k - 1) + 1
        if not smallest <= length <= smallest + s - 1:
            raise ValueError(f"requested an output size of {given}, but valid sizes range from [{smallest}] to "
                             f"[{smallest + s - 1}] (for an input of {x.shape[-1]})")
        return Geometry((1, k), (1, s), (1, d), (0, 0, p, p), self.groups, "zeros", (0, length - smallest))

    def backward(self, dout):
        return super().backward(dout[..., None, :])[..., 0, :]

    def backward_parameters(self, dout):
        super().backward_parameters(dout[..., None, :])


class _AsKernel:
    """A Conv1d weight (O, C/g, k) as the 2-d kernel (O, C/g, 1, k): ``data`` a view, ``accumulate`` adding the
    kernel's gradient back in the weight's shape, ``grad_target`` the gradient's storage as the kernel's view."""

    def __init__(self, parameter):
        self.parameter = parameter

    @property
    def data(self):
        w = self.parameter.data
        return w.reshape(w.shape[:2] + (1,) + w.shape[2:])

    def accumulate(self, value):
        self.parameter.accumulate(value.reshape(self.parameter.data.shape))

    def grad_target(self):
        storage, add = self.parameter.grad_target()
        return storage.reshape(self.data.shape), add
