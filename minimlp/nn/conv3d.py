"""Conv3d and ConvTranspose3d: every window of the volume gathered at once and one product per group
(``minimlp.formulas.conv3d``)."""
import numpy as np

from ..backend import get_array_module
from ..kernels import ops
from .checks import InputError, check_floating, check_grad_like, check_like, whole, with_batch_axis
from .conv import PADDING_MODES, _ConvBase
from .module import Module
from .parameter import Parameter
from .pooling3d import triple


class _Conv3dBase(Module):
    """Shared construction (torch's checks, weight shape and initialisation), the windows kept per input size
    and device, the cache and the backward. Subclasses give ``_op`` and ``_weight_shape``."""

    _op = None
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, dilation, groups, bias, device, dtype):
        super().__init__()
        name = type(self).__name__
        self.in_channels, self.out_channels = whole(in_channels, "in_channels"), whole(out_channels, "out_channels")
        self.groups = whole(groups, "groups")
        if self.groups < 1:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        for label, channels in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if channels < 1 or channels % self.groups:
                raise ValueError(f"{name}: {label}={channels} must be a positive multiple of groups={self.groups}")
        self.kernel_size, self.stride = triple(kernel_size, "kernel_size"), triple(stride, "stride")
        self.dilation = triple(dilation, "dilation")
        for label, value in (("kernel_size", self.kernel_size), ("stride", self.stride), ("dilation", self.dilation)):
            if min(value) < 1:
                raise InputError(f"{name}: {label} must be positive, got {value}")
        first, second = ((self.in_channels, self.out_channels) if self._transposed
                         else (self.out_channels, self.in_channels))
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        self.weight = Parameter(np.empty((first, second // self.groups) + self.kernel_size, dtype=dtype))
        self.bias = Parameter(np.empty(self.out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()
        self._windows, self._cache = {}, None
        if device is not None:
            self.to(device=device)

    reset_parameters = _ConvBase.reset_parameters
    extra_repr = _ConvBase.extra_repr

    def _check_input(self, x, op):
        """x floating, (N, C_in, D, H, W) or (C_in, D, H, W), of the weight's dtype and device (torch's messages)."""
        check_floating(self, x)
        if x.ndim not in (4, 5):
            raise InputError(f"{self!r}: Expected 4D (unbatched) or 5D (batched) input to {op}, but got input of "
                             f"size: {list(x.shape)}")
        if x.shape[-4] != self.in_channels:
            raise InputError(f"{self!r}: Given groups={self.groups}, weight of size {list(self.weight.data.shape)}, "
                             f"expected input{list(x.shape)} to have {self.in_channels} channels, but got "
                             f"{x.shape[-4]} channels instead")
        check_like(self, x, self.weight.data)

    def _volume(self, x, shape, axes):
        """(flat, valid) of the windows on x's device for the volume ``shape`` and the axes' arguments."""
        key = (tuple(shape), axes, type(x))
        if key not in self._windows:
            xp = get_array_module(x)
            taps = tuple(self._op.run("axis", *a) for a in axes)
            flat, valid = self._op.run("windows", taps, tuple(shape))
            self._windows = {key: (xp.asarray(flat), xp.asarray(valid))}
        return self._windows[key]

    def _finish(self, y, saved, x5, flat, valid, unbatched):
        self._cache = (saved, tuple(x5.shape), flat, valid, unbatched, tuple(y.shape[1:] if unbatched else y.shape))
        return y[0] if unbatched else y

    def _backward(self, dout, want_dx):
        check_grad_like(self, dout, None if self._cache is None else self._cache[5])
        saved, in_shape, flat, valid, unbatched, _ = self._cache
        g = dout[None] if unbatched else dout
        dx = self._back(g, saved, in_shape, flat, valid, want_dx)
        return dx[0] if unbatched and dx is not None else dx

    def backward(self, dout):
        return self._backward(dout, want_dx=True)

    def backward_parameters(self, dout):
        self._backward(dout, want_dx=False)

    def _on_moved(self):
        self._windows, self._cache = {}, None


class Conv3d(_Conv3dBase):
    """y[n, o, d, h, w] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j,k} W[o, c, i, j, k] · x̃[n, c, d·s_D + i·δ_D, h·s_H + j·δ_H,
    w·s_W + k·δ_W], x̃ padded with zeros, mirrored (``padding_mode="reflect"``), the edge repeated
    (``"replicate"``) or wrapped around (``"circular"``).

    Shapes: x (N, C_in, D, H, W) → y (N, C_out, D_out, H_out, W_out) (or (C_in, D, H, W) → (C_out, D_out, H_out,
    W_out)), D_out = ⌊(D + 2p − δ(k − 1) − 1)/s⌋ + 1 per axis; W (C_out, C_in/groups, kd, kh, kw) and b (C_out,),
    initialised as torch.nn.Conv3d (kaiming-uniform, a = √5; b ~ U(±1/√fan_in)). ``padding`` an int, a 3-tuple,
    "valid" (0) or "same" (stride 1; total δ(k − 1), the odd one extra after, as torch).

    As matrices, with X = windows(x̃) (N·D_out·H_out·W_out, C_in·kd·kh·kw) (one gather) and per group g
    Y_g = X_g W_gᵀ + b. Backward, G = ∂L/∂y in the same layout: ∂L/∂W_g = G_gᵀ X_g (one product per group),
    ∂L/∂b = Σ_{n,d,h,w} G, ∂L/∂x = windowsᵀ(G_g W_g) (one ``bincount``: each tap's gradient added to the voxel
    it read, a mirrored, repeated or wrapped border folded back onto the voxel it copies). Cached by forward: X
    (for ∂W) and the windows (for ∂x); the windows are kept per input size.
    """

    _op = ops.conv3d

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Conv3d: padding_mode must be one of {list(PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias, device, dtype)
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and self.stride != (1, 1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            totals = [d * (k - 1) if padding == "same" else 0 for d, k in zip(self.dilation, self.kernel_size)]
            self.padding, self._pads = padding, tuple((t // 2, t - t // 2) for t in totals)
        else:
            self.padding = triple(padding, "padding")
            if min(self.padding) < 0:
                raise InputError(f"Conv3d: padding must be non-negative, got {self.padding}")
            self._pads = tuple((p, p) for p in self.padding)

    def forward(self, x):
        self._check_input(x, "conv3d")
        x5, unbatched = with_batch_axis(x, 5)
        size = x5.shape[2:]
        out = [(n + a + b - d * (k - 1) - 1) // s + 1 for n, (a, b), d, k, s in
               zip(size, self._pads, self.dilation, self.kernel_size, self.stride)]
        if min(out) < 1:
            padded = tuple(n + a + b for n, (a, b) in zip(size, self._pads))
            dilated = tuple(d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel_size))
            raise InputError(f"{self!r}: Calculated padded input size per channel: {padded}. Kernel size: "
                             f"{dilated}. Kernel size can't be greater than actual input size")
        mode = self.padding_mode
        if (mode == "reflect" and any(max(p) >= n for p, n in zip(self._pads, size))) or \
                (mode == "circular" and any(max(p) > n for p, n in zip(self._pads, size))):
            raise InputError(f"{self!r}: input of shape {tuple(x.shape)} is too small for {mode} padding "
                             f"{self._pads} ((before, after) per axis): each must be "
                             f"{'smaller than' if mode == 'reflect' else 'at most'} the input's size along its axis")
        axes = tuple((n, k, s, d, a, b, mode) for n, k, s, d, (a, b) in
                     zip(size, self.kernel_size, self.stride, self.dilation, self._pads))
        flat, valid = self._volume(x5, size, axes)
        bias = None if self.bias is None else self.bias.data
        y, cols = self._op.run("forward", x5, self.weight.data, bias, flat, valid, self.groups)
        return self._finish(y, cols, x5, flat, valid, unbatched)

    def _back(self, g, cols, in_shape, flat, valid, want_dx):
        return self._op.run("backward", g, cols, self.weight, self.bias, flat, valid, self.groups, in_shape, want_dx)


class ConvTranspose3d(_Conv3dBase):
    """The adjoint of Conv3d in x: y[n, o, d·s_D + i·δ_D − p_D, h·s_H + j·δ_H − p_H, w·s_W + k·δ_W − p_W] +=
    Σ_{c ∈ group(o)} W[c, o, i, j, k] · x[n, c, d, h, w], plus b[o].

    Shapes: x (N, C_in, D, H, W) → y (N, C_out, D_out, H_out, W_out) (or unbatched, one axis fewer), D_out =
    (D − 1)·s − 2p + δ(k − 1) + output_padding + 1 per axis; ``forward(x, output_size)`` picks the output padding
    that gives ``output_size`` (torch's ``_output_padding``). W (C_in, C_out/groups, kd, kh, kw) and b (C_out,),
    initialised as torch.nn.ConvTranspose3d (fan_in = C_out/groups·kd·kh·kw, as torch computes it).

    With Γ = windows(·) the gather of Conv3d's windows over the output volume (zero padding p) and X_g x's
    (N·D·H·W, C_in/G) matrix per group: y = windowsᵀ(X_g W_g) + b (one product per group, one ``bincount``).
    Backward, G = ∂L/∂y: ∂L/∂x_g = Γ(G)_g W_gᵀ (Conv3d's forward of G), ∂L/∂W_g = X_gᵀ Γ(G)_g,
    ∂L/∂b = Σ_{n,d,h,w} G. Cached by forward: x and the windows (kept per input and output size).
    """

    _op = ops.conv_transpose3d
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for ConvTranspose3d, got {padding_mode!r}')
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias, device, dtype)
        self.padding_mode = padding_mode
        self.padding, self.output_padding = triple(padding, "padding"), triple(output_padding, "output_padding")
        if min(self.padding) < 0 or min(self.output_padding) < 0:
            raise InputError("ConvTranspose3d: padding and output_padding must be non-negative")
        for extra, s, d in zip(self.output_padding, self.stride, self.dilation):
            if extra >= s and extra >= d:
                raise InputError(f"ConvTranspose3d: output padding must be smaller than either stride or dilation, "
                                 f"got output_padding={self.output_padding}, stride={self.stride}, "
                                 f"dilation={self.dilation}")

    def _smallest(self, x):
        return [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                zip(x.shape[-3:], self.stride, self.padding, self.dilation, self.kernel_size)]

    def _output_padding(self, x, output_size):
        """torch's ``_output_padding``: ``output_size`` (D, H, W), or with the batch and channel axes in front."""
        if output_size is None:
            return self.output_padding
        output_size = list(output_size)
        front = 2 if x.ndim == 5 else 1
        if len(output_size) == front + 3:
            output_size = output_size[front:]
        if len(output_size) != 3:
            raise ValueError(f"ConvTranspose3D: for {x.ndim}D input, output_size must have 3 or {front + 3} "
                             f"elements (got {len(output_size)})")
        size = [whole(v, "output_size") for v in output_size]
        smallest = self._smallest(x)
        largest = [m + s - 1 for m, s in zip(smallest, self.stride)]
        if any(not lo <= n <= hi for n, lo, hi in zip(size, smallest, largest)):
            raise ValueError(f"requested an output size of {size}, but valid sizes range from {smallest} to "
                             f"{largest} (for an input of {list(x.shape[-3:])})")
        return tuple(n - m for n, m in zip(size, smallest))

    def forward(self, x, output_size=None):
        self._check_input(x, "conv_transpose3d")
        extra = self._output_padding(x, output_size)
        x5, unbatched = with_batch_axis(x, 5)
        out = tuple(m + e for m, e in zip(self._smallest(x5), extra))
        if min(out) < 1:
            raise InputError(f"{self!r}: input of shape {tuple(x.shape)} with padding {self.padding} gives an "
                             f"empty output {out}")
        axes = tuple((n, k, s, d, p, p, "zeros", i) for n, k, s, d, p, i in
                     zip(out, self.kernel_size, self.stride, self.dilation, self.padding, x5.shape[2:]))
        flat, valid = self._volume(x5, out, axes)
        bias = None if self.bias is None else self.bias.data
        y = self._op.run("forward", x5, self.weight.data, bias, flat, valid, self.groups,
                         (x5.shape[0], self.out_channels) + out)
        return self._finish(y, x5, x5, flat, valid, unbatched)

    def _back(self, g, x5, in_shape, flat, valid, want_dx):
        return self._op.run("backward", g, x5, self.weight, self.bias, flat, valid, self.groups, want_dx)
