"""PixelShuffle and PixelUnshuffle: (…, C·r², H, W) ⇄ (…, C, H·r, W·r), and ChannelShuffle
(``minimlp.formulas.shuffle``)."""
from ..kernels import ops
from .checks import InputError, check_floating, check_grad_like, whole
from .module import Module


class _Shuffle(Module):
    """A permutation of the input's values; its backward is the inverse permutation of G."""

    _name = None

    def __init__(self):
        super().__init__()
        self._shape = None   # the last forward's output shape, G's

    @property
    def _factor(self):
        return getattr(self, self._argument)

    def forward(self, x):
        check_floating(self, x)
        r = self._factor
        if r < 1:
            raise InputError(f"{self._name} expects a positive {self._argument}, but got {r}")
        if x.ndim < 3:
            raise InputError(f"{self._name} expects input to have at least 3 dimensions, but got input with "
                             f"{x.ndim} dimension(s)")
        self._check(x, r)
        y = self._op.run("forward", x, r)
        self._shape = tuple(y.shape)
        return y

    def backward(self, dout):
        check_grad_like(self, dout, self._shape)
        return self._op.run("backward", dout, self._factor)

    def extra_repr(self):
        return f"{self._argument}={self._factor}"


class PixelShuffle(_Shuffle):
    """y[…, c, h·r + i, w·r + j] = x[…, c·r² + i·r + j, h, w] for r = ``upscale_factor``;
    ∂L/∂x = PixelUnshuffle(r)(G)."""

    _op = ops.pixel_shuffle
    _name, _argument = "pixel_shuffle", "upscale_factor"

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = whole(upscale_factor, "upscale_factor")

    def _check(self, x, r):
        if x.shape[-3] % (r * r):
            raise InputError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
                             f"of upscale_factor, but input.size(-3)={x.shape[-3]} is not divisible by {r * r}")

class PixelUnshuffle(_Shuffle):
    """y[…, c·r² + i·r + j, h, w] = x[…, c, h·r + i, w·r + j] for r = ``downscale_factor``;
    ∂L/∂x = PixelShuffle(r)(G)."""

    _op = ops.pixel_unshuffle
    _name, _argument = "pixel_unshuffle", "downscale_factor"

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = whole(downscale_factor, "downscale_factor")

    def _check(self, x, r):
        for axis, name in ((-2, "height"), (-1, "width")):
            if x.shape[axis] % r:
                raise InputError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                                 f"input.size({axis})={x.shape[axis]} is not divisible by {r}")


class ChannelShuffle(Module):
    """y[n, k·g + i] = x[n, i·(C/g) + k] for x (N, C, …) and g = ``groups`` (ShuffleNet's channel mix);
    ∂L/∂x = G shuffled back (the shuffle with C/g groups)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = whole(groups, "groups")
        self._shape = None

    def forward(self, x):
        check_floating(self, x)
        if self.groups < 1:
            raise InputError(f"Number of groups to divide channels in must be positive. Value of groups:{self.groups}")
        if x.ndim < 3:
            raise InputError(f"channel_shuffle expects input with > 2 dims, but got input with sizes "
                             f"{list(x.shape)}")
        if x.shape[1] % self.groups:
            raise InputError(f"Number of channels must be divisible by groups. Got {x.shape[1]} channels and "
                             f"{self.groups} groups.")
        self._shape = tuple(x.shape)
        return ops.channel_shuffle.run("forward", x, self.groups)

    def backward(self, dout):
        check_grad_like(self, dout, self._shape)
        return ops.channel_shuffle.run("backward", dout, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"
