"""Flatten and Unflatten: reshapes, whose backward is the inverse reshape."""
from .checks import InputError, check_floating, check_grad_like, whole
from .module import Module


def wrap_dim(module, dim, ndim):
    """``dim`` as an index into ``ndim`` axes (negative counts from the end; a 0-d input has one, as in torch);
    IndexError outside [−ndim, ndim − 1]."""
    axes = max(ndim, 1)
    if not -axes <= dim < axes:
        raise IndexError(f"{module!r}: dimension out of range (expected to be in range of [{-axes}, {axes - 1}], "
                         f"but got {dim})")
    return dim % axes


class Flatten(Module):
    """y = x reshaped so that dims ``start_dim``…``end_dim`` become one (torch's defaults 1 and −1).

    (N, C, H, W) → (N, C·H·W). Backward: ∂L/∂x = G reshaped to x's shape. No copy when x is contiguous.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = whole(start_dim, "start_dim"), whole(end_dim, "end_dim")
        self._shapes = None

    def forward(self, x):
        check_floating(self, x)
        start, end = wrap_dim(self, self.start_dim, x.ndim), wrap_dim(self, self.end_dim, x.ndim)
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
    """y = x with dim ``dim`` split into ``unflattened_size``, e.g. (N, 48) → (N, 3, 4, 4); one size may be −1, the
    size that makes the product match (torch's rule). Backward reshapes back."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim = whole(dim, "dim")
        self.unflattened_size = tuple(whole(s, "unflattened_size") for s in unflattened_size)
        if self.unflattened_size.count(-1) > 1 or any(s < -1 for s in self.unflattened_size):
            raise InputError(f"Unflatten: unflattened_size {self.unflattened_size} may hold one -1 and otherwise "
                             "sizes of 0 or more")
        self._shapes = None

    def forward(self, x):
        check_floating(self, x)
        dim = wrap_dim(self, self.dim, x.ndim)
        known = 1
        for s in self.unflattened_size:
            known *= s if s != -1 else 1
        inferred = -1 not in self.unflattened_size or (known > 0 and x.shape[dim] % known == 0)
        if not inferred or (-1 not in self.unflattened_size and x.shape[dim] != known):
            raise InputError(f"{self!r}: dim {self.dim} of the input of shape {tuple(x.shape)} has size "
                             f"{x.shape[dim]}, which {self.unflattened_size} cannot split")
        sizes = tuple(x.shape[dim] // known if s == -1 else s for s in self.unflattened_size)
        y = x.reshape(tuple(x.shape[:dim]) + sizes + tuple(x.shape[dim + 1:]))
        self._shapes = (tuple(x.shape), tuple(y.shape))
        return y

    backward = Flatten.backward
    backward_parameters = Flatten.backward_parameters

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
