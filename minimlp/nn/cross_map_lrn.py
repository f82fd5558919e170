"""CrossMapLRN2d: torch's legacy local response normalisation over channels, its quirks kept
(``minimlp.formulas.cross_map_lrn``)."""
from ..kernels import ops
from .checks import InputError, check_floating, check_grad_like
from .module import Module


class CrossMapLRN2d(Module):
    """y[n, c] = x[n, c]·s[n, c]^(−β), s[n, c] = k + (α/n)·(Σ_{c′ = c − p + 1}^{c + p − 1} x[n, c′]² + [c ≥ p]·x[n, 0]²)
    with p = ⌊(n − 1)/2⌋ + 1, n = ``size``, over the channels of a 4-d input (N, C, H, W), as torch's CrossMapLRN2d
    computes it. For odd n this is LocalResponseNorm's window, plus channel 0 that torch's running sum never drops;
    for even n the window holds n − 1 channels (LocalResponseNorm's holds n).

    Backward is torch's hand-written rule, kept so that training matches torch's step for step, although it is not
    the gradient of the forward: ∂L/∂x[j] = G[j]·s[j]^(−β) − (2αβ/n)·x[j]·Σ_{c = j − q}^{j + n − 1 − q}
    G[c]·y[c]/s[c], q = ⌊(n + 1)/2⌋ (``LocalResponseNorm`` has the exact gradient). torch's backward fails for
    size 1, and so does this one. Keeps x, y and s.
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self._saved, self._shape = None, None

    def _args(self):
        return int(self.size), float(self.alpha), float(self.beta), float(self.k)

    def forward(self, x):
        check_floating(self, x)
        if x.ndim != 4:
            raise InputError(f"CrossMapLRN2d: Expected input to be 4D, got {x.ndim}D instead.")
        if int(self.size) <= 0:   # torch divides α by it (ZeroDivisionError) or sums an empty window
            raise InputError(f"{self!r}: size must be a positive integer, got {self.size}")
        y, self._saved = ops.cross_map_lrn.run("forward", x, *self._args())
        self._shape = tuple(x.shape)
        return y

    def backward(self, dout):
        check_grad_like(self, dout, self._shape)
        if int(self.size) == 1:   # torch's backward narrows its padded buffer past its end
            channels = self._shape[1]
            raise InputError(f"{self!r}: torch's CrossMapLRN2d backward fails for size 1: start (1) + length "
                             f"({channels}) exceeds dimension size ({channels}).")
        return ops.cross_map_lrn.run("backward", dout, self._saved, *self._args())

    def _on_moved(self):
        self._saved, self._shape = None, None

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
