"""Skip connections without an autograd engine: containers that route the gradient through two branches.

The block is registered as "block", so the keys are those of a torch module holding ``self.block`` and writing
the skip in ``forward`` (docs/layers.md).
"""
from ..backend import get_array_module
from .checks import check_grad_like
from .module import Module, backward_of


class Residual(Module):
    """y = x + block(x).  Backward: ∂L/∂x = G + block.backward(G) (the two paths' gradients add)."""

    def __init__(self, block):
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Residual: block is a {type(block).__name__}, not a minimlp Module")
        self.block = block
        self._shape = None

    def forward(self, x):
        fx = self.block(x)
        if tuple(fx.shape) != tuple(x.shape):
            raise ValueError(f"{type(self).__name__}: the block maps input of shape {tuple(x.shape)} to "
                             f"{tuple(fx.shape)}; a residual connection needs the same shape")
        self._shape = tuple(x.shape)
        return fx + x

    def backward(self, dout):
        check_grad_like(self, dout, self._shape)
        return dout + backward_of(self.block, dout)

    def backward_parameters(self, dout):
        check_grad_like(self, dout, self._shape)
        backward_of(self.block, dout, want_dx=False)


class Concat(Module):
    """y = concat(x, block(x)) along ``dim`` (channels by default).

    Backward: G splits along ``dim`` into G_x (x's part) and G_f (the block's
    part); ∂L/∂x = G_x + block.backward(G_f).
    """

    def __init__(self, block, dim=1):
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Concat: block is a {type(block).__name__}, not a minimlp Module")
        self.block = block
        self.dim = int(dim)
        self._split = None

    def forward(self, x):
        fx = self.block(x)
        dim = self.dim % x.ndim
        if fx.ndim != x.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, fx.shape)) if i != dim):
            raise ValueError(f"{type(self).__name__}(dim={self.dim}): the block maps input of shape "
                             f"{tuple(x.shape)} to {tuple(fx.shape)}; they must agree on every other axis")
        xp = get_array_module(x)
        y = xp.concatenate([x, fx], axis=dim)
        self._split = (dim, x.shape[dim], tuple(y.shape))
        return y

    def _parts(self, dout):
        check_grad_like(self, dout, None if self._split is None else self._split[2])
        dim, cut, _ = self._split
        head = (slice(None),) * dim
        return dout[head + (slice(0, cut),)], dout[head + (slice(cut, None),)]

    def backward(self, dout):
        g_x, g_f = self._parts(dout)
        return g_x + backward_of(self.block, g_f)

    def backward_parameters(self, dout):
        backward_of(self.block, self._parts(dout)[1], want_dx=False)

    def extra_repr(self):
        return f"dim={self.dim}"

    def __repr__(self):
        return f"Concat(dim={self.dim},\n  (block): " + repr(self.block).replace("\n", "\n  ") + "\n)"


class GlobalFusion(Concat):
    """y = concat(x, g repeated over H×W) along channels, where g = block(x) is one vector per image
    (N, C_g, 1, 1): a global-context branch fused into every pixel (Iizuka, Simo-Serra and Ishikawa 2016).

    Backward: G splits into G_x and G_g along channels; the copies of g add up, so
    ∂L/∂x = G_x + block.backward(Σ_{h,w} G_g).
    """

    def __init__(self, block):
        super().__init__(block, dim=1)

    def forward(self, x):
        g = self.block(x)
        if x.ndim != 4 or g.ndim != 4 or g.shape[0] != x.shape[0] or tuple(g.shape[2:]) != (1, 1):
            raise ValueError(f"GlobalFusion: takes (N, C, H, W) and a block giving (N, C_g, 1, 1); got input "
                             f"{tuple(x.shape)} and block output {tuple(g.shape)}")
        xp = get_array_module(x)
        n, c, h, w = x.shape
        y = xp.empty((n, c + g.shape[1], h, w), dtype=xp.result_type(x, g))
        y[:, :c] = x
        y[:, c:] = g
        self._split = (1, c, tuple(y.shape))
        return y

    def _parts(self, dout):
        g_x, g_g = super()._parts(dout)
        return g_x, g_g.sum(axis=(2, 3), keepdims=True)

    def extra_repr(self):
        return ""

    def __repr__(self):
        return "GlobalFusion(\n  (block): " + repr(self.block).replace("\n", "\n  ") + "\n)"
