"""LocalResponseNorm: each value divided by a power of its neighbouring channels' energy
(``minimlp.formulas.local_response_norm``)."""
from ..kernels import ops
from .checks import InputError, check_floating, check_grad_like
from .module import Module


class LocalResponseNorm(Module):
    """y[n, c] = x[n, c] / (k + (α/n)·Σ_{c′} x[n, c′]²)^β over the n = ``size`` channels c′ from c − ⌊n/2⌋ to
    c + ⌊(n − 1)/2⌋ (zero outside), for x (N, C, …) of 3 axes or more, as torch's.

    Backward, with s the bracket: ∂L/∂x[j] = G[j]·s[j]^(−β) − (2αβ/n)·x[j]·Σ_{c whose window holds j}
    G[c]·x[c]·s[c]^(−β−1). Keeps x and s.
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self._saved, self._shape = None, None

    def _args(self):
        return int(self.size), float(self.alpha), float(self.beta), float(self.k)

    def forward(self, x):
        check_floating(self, x)
        if x.ndim < 3:
            raise InputError(f"{self!r}: Expected 3D or higher dimensionality input (got {x.ndim} dimensions)")
        if int(self.size) <= 0:   # an empty window would divide by k alone: torch refuses it
            raise InputError(f"{self!r}: kernel size should be greater than zero, but got kH: {self.size} kW: 1")
        y, self._saved = ops.local_response_norm.run("forward", x, *self._args())
        self._shape = tuple(x.shape)
        return y

    def backward(self, dout):
        check_grad_like(self, dout, self._shape)
        return ops.local_response_norm.run("backward", dout, self._saved, *self._args())

    def _on_moved(self):
        self._saved, self._shape = None, None

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
