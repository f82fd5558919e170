"""Conv2d and ConvTranspose2d: 2-d (transposed) convolutions with torch's arguments and initialisation."""
import math

import numpy as np

from ..backend import get_array_module
from ..formulas.conv import Geometry
from ..kernels import ops
from ..scratch import Scratch
from . import init
from .checks import InputError, check_grad_like, check_image, pair, whole, with_batch_axis
from .module import Module
from .normalization import zero_gradients
from .parameter import Parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvBase(Module):
    """Shared construction (torch's argument checks, weight shapes and initialisation), cache and backward."""

    _op = None

    def __init__(self, in_channels, out_channels, kernel_size, stride, dilation, groups, bias, weight_shape, dtype):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = (whole(in_channels, "in_channels"),
                                                            whole(out_channels, "out_channels"), whole(groups, "groups"))
        name = type(self).__name__
        if self.groups < 1:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        for label, channels in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if channels < 1 or channels % self.groups:
                raise ValueError(f"{name}: {label}={channels} must be a positive multiple of groups={self.groups}")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        for label, value in (("kernel_size", self.kernel_size), ("stride", self.stride), ("dilation", self.dilation)):
            if min(value) < 1:
                raise InputError(f"{name}: {label} must be positive, got {value}")
        self.weight = Parameter(np.empty(weight_shape, dtype=dtype))
        self.bias = Parameter(np.empty(self.out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()
        self._scratch = Scratch()
        self._cache = None
        self._consumed = False
        self._unbatched = False

    def reset_parameters(self):
        """W ~ kaiming_uniform_(a=√5), b ~ U(±1/√fan_in) again, in place (torch's ``_ConvNd.reset_parameters``)."""
        init.kaiming_uniform_(self.weight.data, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = init._fans(self.weight.data)[0]
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias.data, -bound, bound)

    def _run_forward(self, x, out_shape, geometry=None):
        """The op's forward on the batch ``x`` (with ``geometry``, default the layer's); an unbatched input
        (C, H, W) runs as a batch of one and gives (C_out, H_out, W_out), as torch."""
        x, self._unbatched = with_batch_axis(x, 4)
        geometry = self._geometry if geometry is None else geometry
        if x.shape[0] == 0:   # an empty batch: an empty output, and zero gradients for the parameters (torch's)
            self._cache, self._consumed = (None, x.shape, out_shape, geometry), False
            return get_array_module(x).zeros(out_shape, dtype=x.dtype)
        bias = None if self.bias is None else self.bias.data
        args = (x, self._kernel().data, bias, geometry, self._scratch)
        impl = self._op.pick("forward", *args, training=self.training)
        y, saved = impl.forward(*args)
        if self._unbatched:
            y, out_shape = y[0], out_shape[1:]
        self._cache, self._consumed = (impl, saved, out_shape, geometry), False
        return y

    def _backward(self, dout, want_dx):
        """The backward of the implementation the last forward ran. Its column buffer is reused for the
        columns' gradient, so each forward allows one backward."""
        if self._cache is None and self._consumed:
            raise RuntimeError(f"{self!r}: backward already ran once since the last forward (its column buffer "
                               f"now holds their gradient); run forward again before another backward")
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])
        (impl, saved, _, geometry), self._cache, self._consumed = self._cache, None, True
        if impl is None:
            return zero_gradients(dout, saved, self.weight, self.bias, want_dx)
        dx = impl.backward(dout[None] if self._unbatched else dout, saved, self._kernel(), self.bias, geometry,
                           self._scratch, want_dx)
        return dx[0] if self._unbatched and dx is not None else dx

    def _kernel(self):
        """The weight as the 2-d kernels see it (its ``data``, and ``accumulate`` for its gradient)."""
        return self.weight

    def backward(self, dout):
        return self._backward(dout, want_dx=True)

    def backward_parameters(self, dout):
        self._backward(dout, want_dx=False)

    def _on_moved(self):
        self._cache = None
        self._scratch.clear()

    def extra_repr(self):
        """torch's: channels, kernel, stride, then each option not at its default, in torch's order (a string
        padding, "same" or "valid", printed bare)."""
        output_padding = getattr(self, "output_padding", ())
        options = [("padding", None if self.padding == (0,) * len(self.padding) else self.padding),
                   ("dilation", None if self.dilation == (1,) * len(self.dilation) else self.dilation),
                   ("output_padding", None if output_padding == (0,) * len(output_padding) else output_padding),
                   ("groups", None if self.groups == 1 else self.groups),
                   ("bias", False if self.bias is None else None),
                   ("padding_mode", None if self.padding_mode == "zeros" else self.padding_mode)]
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}" + \
            "".join(f", {name}={value}" for name, value in options if value is not None)

    def _shape_error(self, x, what):
        return InputError(f"{self!r}: input of shape {tuple(x.shape)} {what}")


class Conv2d(_ConvBase):
    """y[n, o] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j} W[o, c, i, j] · x̃[n, c, h·s + i·d, w·s + j·d].

    x̃ is x padded: zeros, mirrored (``padding_mode="reflect"``), the edge repeated (``"replicate"``) or
    wrapped around (``"circular"``).
    Shapes: x (N, C_in, H, W) → y (N, C_out, H_out, W_out) (or one image (C_in, H, W) → (C_out, H_out, W_out))
    with H_out = ⌊(H + 2p − d·(k − 1) − 1)/s⌋ + 1; W is (C_out, C_in/groups, kh, kw)
    and b (C_out,), as torch. ``padding`` is an int, a pair, "valid" (0) or
    "same" (stride 1 only; total d·(k − 1), the odd one extra at the bottom
    and right, as torch). Initialised as torch.nn.Conv2d (kaiming-uniform
    with a = √5, b ~ U(±1/√fan_in)).

    As matrices, per group g: with X = im2col(x̃) (C_in/G·kh·kw, N·H_out·W_out),
    Y_g = W_g X_g. Backward, for G = ∂L/∂y in the same layout:
    ∂L/∂W_g = G_g X_gᵀ (one product), ∂L/∂b = Σ_{n,h,w} G (one reduction),
    ∂L/∂x = unpad(col2im(W_gᵀ G_g)) (one product, then the adjoint of the
    im2col gather; a padding other than zeros folds the border back onto the
    pixels it copies). The maths is ``minimlp.formulas.conv``; its columns live in a
    buffer reused across steps, which backward fills with their gradient,
    so one forward allows one backward.
    """

    _op = ops.conv2d

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32):
        kh, kw = pair(kernel_size, "kernel_size")
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
                         (int(out_channels), int(in_channels) // max(int(groups), 1), kh, kw), dtype)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided convolutions")
            self.padding = padding
            if padding == "same":
                (th, tw) = (d * (k - 1) for d, k in zip(self.dilation, self.kernel_size))
                pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
            else:
                pads = (0, 0, 0, 0)
        else:
            self.padding = pair(padding, "padding")
            if min(self.padding) < 0:
                raise InputError(f"Conv2d: padding must be non-negative, got {self.padding}")
            ph, pw = self.padding
            pads = (ph, ph, pw, pw)
        self._geometry = Geometry(self.kernel_size, self.stride, self.dilation, pads, self.groups, padding_mode)

    def forward(self, x):
        check_image(self, x, self.in_channels, self.weight.data, unbatched=True)
        h, w = x.shape[-2:]
        ho, wo = self._geometry.conv_output(h, w)
        pads, (kh, kw), (dh, dw) = self._geometry.pads, self.kernel_size, self.dilation
        if ho < 1 or wo < 1:
            raise self._shape_error(x, f"padded by {pads} (top, bottom, left, right) is smaller than the "
                                       f"dilated kernel {(dh * (kh - 1) + 1, dw * (kw - 1) + 1)}: the output "
                                       f"would be {ho}x{wo}")
        if self.padding_mode == "reflect" and (max(pads[:2]) >= h or max(pads[2:]) >= w):
            raise self._shape_error(x, f"is too small for reflect padding {pads}: each padding must be "
                                       f"smaller than the input's size along its axis")
        if self.padding_mode == "circular" and (max(pads[:2]) > h or max(pads[2:]) > w):
            raise self._shape_error(x, f"is too small for circular padding {pads}: each padding must be at "
                                       f"most the input's size along its axis (it would wrap around more than once)")
        return self._run_forward(x, (x.shape[0] if x.ndim == 4 else 1, self.out_channels, ho, wo))


class ConvTranspose2d(_ConvBase):
    """The adjoint of Conv2d in x: y = col2im(W_gᵀ x_g) cropped by ``padding``, plus b.

    y[n, o, h·s + i·d − p, w·s + j·d − p] += Σ_{c ∈ group(o)} W[c, o, i, j] · x[n, c, h, w].
    Shapes: x (N, C_in, H, W) → y (N, C_out, H_out, W_out) (or (C_in, H, W) → (C_out, H_out, W_out)) with
    H_out = (H − 1)·s − 2p + d·(k − 1) + output_padding + 1; W is
    (C_in, C_out/groups, kh, kw) and b (C_out,), as torch (so fan_in, for the
    default initialisation, is C_out/groups·kh·kw, as torch computes it).

    Backward, with Γ = im2col of G = ∂L/∂y zero-padded by p (exactly a
    convolution's forward gather): ∂L/∂W_g = X_g Γ_gᵀ (one product),
    ∂L/∂b = Σ_{n,h,w} G (one reduction), ∂L/∂x_g = W_g Γ_g (one product).
    The maths is ``minimlp.formulas.conv``.
    """

    _op = ops.conv_transpose2d

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", dtype=np.float32):
        kh, kw = pair(kernel_size, "kernel_size")
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
                         (int(in_channels), int(out_channels) // max(int(groups), 1), kh, kw), dtype)
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d: only padding_mode='zeros' is supported (as torch), got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.padding = pair(padding, "padding")
        self.output_padding = pair(output_padding, "output_padding")
        if min(self.padding) < 0 or min(self.output_padding) < 0:
            raise InputError("ConvTranspose2d: padding and output_padding must be non-negative")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= s and op >= d:
                raise InputError(f"ConvTranspose2d: output padding must be smaller than either stride or dilation, "
                                 f"got output_padding={self.output_padding}, stride={self.stride}, "
                                 f"dilation={self.dilation}")
        ph, pw = self.padding
        self._geometry = Geometry(self.kernel_size, self.stride, self.dilation, (ph, ph, pw, pw), self.groups,
                                  "zeros", self.output_padding)

    def forward(self, x, output_size=None):
        """``output_size`` (H_out, W_out), or with the batch and channel axes in front, picks among the sizes the
        strides allow: the output padding for this call is then its excess over the smallest, as torch."""
        check_image(self, x, self.in_channels, self.weight.data, unbatched=True)
        geometry = self._geometry if output_size is None else self._sized_geometry(x, output_size)
        ho, wo = geometry.transposed_output(*x.shape[-2:])
        if ho < 1 or wo < 1:
            raise self._shape_error(x, f"with padding {self.padding} gives an empty output ({ho}x{wo})")
        return self._run_forward(x, (x.shape[0] if x.ndim == 4 else 1, self.out_channels, ho, wo), geometry)

    def _sized_geometry(self, x, output_size):
        """The geometry whose output padding gives ``output_size`` (torch's ``_output_padding``)."""
        given = output_size[-2:] if len(output_size) == x.ndim else output_size
        size = [whole(v, "output_size") for v in given]
        if len(size) != 2:
            raise ValueError(f"ConvTranspose2D: for {x.ndim}D input, output_size must have 2 or {x.ndim} elements "
                             f"(got {len(output_size)})")
        smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                    zip(x.shape[-2:], self.stride, self.padding, self.dilation, self.kernel_size)]
        largest = [m + s - 1 for m, s in zip(smallest, self.stride)]
        if any(not lo <= n <= hi for n, lo, hi in zip(size, smallest, largest)):
            raise ValueError(f"requested an output size of {given}, but valid sizes range from {smallest} to "
                             f"{largest} (for an input of {tuple(x.shape[-2:])})")
        ph, pw = self.padding
        return Geometry(self.kernel_size, self.stride, self.dilation, (ph, ph, pw, pw), self.groups, "zeros",
                        tuple(n - m for n, m in zip(size, smallest)))

