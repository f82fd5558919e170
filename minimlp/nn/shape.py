"""Flatten and Unflatten: reshapes, whose backward is the inverse reshape."""
from .checks import check_floating, check_grad_like
from .module import Module


class Flatten(Module):
    """y = x reshaped so that dims ``start_dim``…``end_dim`` become one (torch's defaults 1 and −1).

    (N, C, H, W) → (N, C·H·W). Backward: ∂L/∂x = G reshaped to x's shape. No copy when x is contiguous.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._shapes = None

    def forward(self, x):
        check_floating(self, x)
        nd = x.ndim
        start, end = self.start_dim % max(nd, 1), self.end_dim % max(nd, 1)
        if start > end:
            raise ValueError(f"{self!r}: start_dim {self.start_dim} comes after end_dim {self.end_dim} for an "
                             f"input of shape {tuple(x.shape)}")
        size = 1
        for s in x.shape[start:end + 1]:
            size *= s
        y = x.reshape(tuple(x.shape[:start]) + (size,) + tuple(x.shape[end + 1:]))
        self._shapes = (tuple(x.shape), tuple(y.shape))
        return y

    def backward(self, dout):
        check_grad_like(self, dout, None if self._shapes is None else self._shapes[1])
        return dout.reshape(self._shapes[0])

    def backward_parameters(self, dout):
        check_grad_like(self, dout, None if self._shapes is None else self._shapes[1])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """y = x with dim ``dim`` split into ``unflattened_size``, e.g. (N, 48) → (N, 3, 4, 4). Backward reshapes back."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim = int(dim)
        self.unflattened_size = tuple(int(s) for s in unflattened_size)
        self._shapes = None

    def forward(self, x):
        check_floating(self, x)
        dim = self.dim % x.ndim
        size = 1
        for s in self.unflattened_size:
            size *= s
        if x.shape[dim] != size:
            raise ValueError(f"{self!r}: dim {self.dim} of the input of shape {tuple(x.shape)} has size "
                             f"{x.shape[dim]}, not {size} = product of {self.unflattened_size}")
        y = x.reshape(tuple(x.shape[:dim]) + self.unflattened_size + tuple(x.shape[dim + 1:]))
        self._shapes = (tuple(x.shape), tuple(y.shape))
        return y

    backward = Flatten.backward
    backward_parameters = Flatten.backward_parameters

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
