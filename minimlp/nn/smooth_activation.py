"""SELU, CELU, Mish, LogSigmoid, Softsign and Tanhshrink: smooth activations with torch's names and arguments
(``minimlp.formulas.smooth_activation``). Each keeps its input for backward."""
from ..kernels import ops
from .activation import _Activation


class SELU(_Activation):
    """y = s·x for x > 0, s·α(eˣ − 1) otherwise (α ≈ 1.6733, s ≈ 1.0507, torch's constants);
    ∂L/∂x = G·s for x > 0, G·s·α·eˣ otherwise."""

    _op = ops.selu


class CELU(_Activation):
    """y = x for x > 0, α(e^{x/α} − 1) otherwise;  ∂L/∂x = G for x > 0, G·e^{x/α} otherwise."""

    _op = ops.celu

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        if float(alpha) == 0:
            raise ValueError("CELU: alpha cannot be 0")
        self.alpha = alpha

    def _args(self):
        return (float(self.alpha),)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Mish(_Activation):
    """y = x·tanh(softplus(x));  ∂L/∂x = G·(t + x·σ(x)·(1 − t²)) with t = tanh(softplus(x))."""

    _op = ops.mish


class LogSigmoid(_Activation):
    """y = log σ(x) = −log(1 + e⁻ˣ);  ∂L/∂x = G·σ(−x)."""

    _op = ops.log_sigmoid

    def __init__(self):
        super().__init__()


class Softsign(_Activation):
    """y = x/(1 + |x|);  ∂L/∂x = G/(1 + |x|)²."""

    _op = ops.softsign

    def __init__(self):
        super().__init__()


class Tanhshrink(_Activation):
    """y = x − tanh(x);  ∂L/∂x = G·tanh²(x)."""

    _op = ops.tanhshrink

    def __init__(self):
        super().__init__()
