"""Unfold and Fold: sliding blocks of an image as columns, and columns summed back into an image
(``minimlp.formulas.fold``): the two halves of a convolution written as a matrix product."""
from ..formulas.im2col import output_size
from ..kernels import ops
from .checks import InputError, check_floating, check_grad_like, pair
from .module import Module


class _Blocks(Module):
    """The arguments Unfold and Fold share (kept as given, as torch's), their pairs, and the block grid."""

    def __init__(self, kernel_size, dilation, padding, stride):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride
        self._shape = None

    def _pairs(self):
        pairs = (pair(self.kernel_size, "kernel_size"), pair(self.dilation, "dilation"),
                 pair(self.padding, "padding"), pair(self.stride, "stride"))
        for name, values, least in zip(("kernel_size", "dilation", "padding", "stride"), pairs, (1, 1, 0, 1)):
            if min(values) < least:
                raise InputError(f"{self!r}: {name} should be at least {least}, got {values}")
        return pairs

    def _grid(self, hw, pairs):
        kernel, dilation, padding, stride = pairs
        blocks = tuple(output_size(hw[a], kernel[a], stride[a], padding[a], padding[a], dilation[a]) for a in (0, 1))
        if min(blocks) < 1:
            raise InputError(f"{self!r}: Given input with spatial size {tuple(hw)}, kernel_size={kernel}, "
                             f"dilation={dilation}, padding={padding}, calculated shape of the array of sliding "
                             f"blocks as {blocks}, but its components must be at least one.")
        return blocks

    def _gradient(self, dout, op):
        check_grad_like(self, dout, self._shape and self._shape[1])
        unbatched, out_shape, in_shape, args = self._shape
        dx = op.run("backward", dout[None] if unbatched else dout, *args)
        return dx[0] if unbatched else dx


class Unfold(_Blocks):
    """cols[n, (c·kh + i)·kw + j, h·Wo + w] = x̃[n, c, h·sh + i·dh, w·sw + j·dw] for x (N, C, H, W) or (C, H, W),
    x̃ zero-padded: each column one block (torch's ``im2col``), shape (N, C·kh·kw, Ho·Wo).
    ∂L/∂x = Fold(G): each pixel collects the gradient of every column entry that copied it. Keeps shapes."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size, dilation, padding, stride)

    def forward(self, x):
        check_floating(self, x)
        if x.ndim not in (3, 4):
            raise InputError(f"{self!r}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                             f"{tuple(x.shape)}")
        pairs = self._pairs()
        self._grid(x.shape[-2:], pairs)
        unbatched = x.ndim == 3
        cols = ops.unfold.run("forward", x[None] if unbatched else x, *pairs)
        cols = cols[0] if unbatched else cols
        self._shape = (unbatched, tuple(cols.shape), tuple(x.shape), (tuple(x.shape[-2:]),) + pairs)
        return cols

    def backward(self, dout):
        return self._gradient(dout, ops.unfold)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(_Blocks):
    """y[n, c, h·sh + i·dh − ph, w·sw + j·dw − pw] += cols[n, (c·kh + i)·kw + j, h·Wo + w]: columns (N, C·kh·kw, L)
    or (C·kh·kw, L), L = Ho·Wo blocks, summed into images (N, C, H, W) of ``output_size`` (overlaps add up, the
    padding is dropped; torch's ``col2im``). ∂L/∂cols = Unfold(G). Keeps shapes."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, x):
        check_floating(self, x)
        if x.ndim not in (2, 3):
            raise InputError(f"{self!r}: Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch "
                             f"size and non-zero dimensions for input, but got: {list(x.shape)}")
        pairs = self._pairs()
        out_hw = pair(self.output_size, "output_size")
        kernel = pairs[0]
        channels = x.shape[-2]
        if channels % (kernel[0] * kernel[1]):
            raise InputError(f"{self!r}: Expected size of input's dimension 1 to be divisible by the product of "
                             f"kernel_size, but got input.size(1)={channels} and kernel_size={kernel}.")
        blocks = self._grid(out_hw, pairs)
        if x.shape[-1] != blocks[0] * blocks[1]:
            raise InputError(f"{self!r}: Given output_size={out_hw}, kernel_size={kernel}, dilation={pairs[1]}, "
                             f"padding={pairs[2]}, stride={pairs[3]}, expected size of input's dimension 2 to "
                             f"match the calculated number of sliding blocks {blocks[0]} * {blocks[1]} = "
                             f"{blocks[0] * blocks[1]}, but got input.size(2)={x.shape[-1]}.")
        unbatched = x.ndim == 2
        y = ops.fold.run("forward", x[None] if unbatched else x, out_hw, *pairs)
        y = y[0] if unbatched else y
        self._shape = (unbatched, tuple(y.shape), tuple(x.shape), pairs)
        return y

    def backward(self, dout):
        return self._gradient(dout, ops.fold)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
