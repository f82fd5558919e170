"""Element-wise activations; each keeps what its derivative needs (``minimlp.formulas.activation``)."""
from ..kernels import ops
from .checks import check_floating, check_grad_like
from .module import Module


class _Activation(Module):
    """Shared checks (a floating input of any shape; a gradient of the last output's shape) and the calls of
    the subclass's op, with the arguments ``_args()`` after the input. A 0-d input runs as a (1,) view and
    gives a 0-d output and gradient, as torch (NumPy's ufuncs would return scalars)."""

    _op = None

    def __init__(self, inplace=False):
        super().__init__()
        _refuse_inplace(self, inplace)

    def forward(self, x):
        check_floating(self, x)
        self._shape = x.shape
        y, self._kept = self._op.run("forward", _at_least_1d(x), *self._args(), training=self.training)
        return y.reshape(()) if x.ndim == 0 else y

    def backward(self, dout):
        check_grad_like(self, dout, getattr(self, "_shape", None))
        dx = self._op.run("backward", _at_least_1d(dout), self._kept, *self._args())
        return dx.reshape(()) if dout.ndim == 0 else dx

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, getattr(self, "_shape", None))

    def _args(self):
        return ()

    def _on_moved(self):
        self.__dict__.pop("_shape", None)
        self._kept = None


def _refuse_inplace(module, inplace):
    """torch's ``inplace=True`` overwrites the input; minimlp's layers keep theirs for backward (``inplace`` is
    then False, as torch's attribute)."""
    if inplace:
        raise ValueError(f"{type(module).__name__}: inplace=True is not supported (minimlp keeps the input for "
                         f"backward); leave it False")
    module.inplace = False


def _at_least_1d(x):
    return x.reshape(1) if x.ndim == 0 else x


class Identity(_Activation):
    """y = x;  ∂L/∂x = G. Takes and ignores any arguments, as torch's."""

    _op = ops.identity

    def __init__(self, *args, **kwargs):
        super().__init__()


class _KeepsOutput(_Activation):
    """An activation whose forward keeps its output y, which a BatchNorm before it can write in its own pass
    (``nn.fusion``)."""

    def keep_output(self, shape, y):
        """Keep ``y`` as this layer's output for an input of ``shape`` computed elsewhere (a BatchNorm that
        applied this activation in its own pass), so that ``backward`` works as after ``forward``."""
        self._shape, self._kept = tuple(shape), y


class Sigmoid(_KeepsOutput):
    """y = 1 / (1 + e⁻ˣ), computed as ½(1 + tanh(x/2)) (no overflow);  ∂L/∂x = G·y·(1 − y). Keeps y."""

    _op = ops.sigmoid

    def __init__(self):
        super().__init__()


class Tanh(_KeepsOutput):
    """y = tanh(x);  ∂L/∂x = G·(1 − y²). Keeps y."""

    _op = ops.tanh

    def __init__(self):
        super().__init__()


class ReLU(_KeepsOutput):
    """y = max(x, 0);  ∂L/∂x = G·[x > 0] (0 at x = 0, as torch). Keeps y, whose sign is the mask."""

    _op = ops.relu


class LeakyReLU(_Activation):
    """y = x for x > 0, a·x otherwise;  ∂L/∂x = G for x > 0, a·G otherwise. Keeps the mask x > 0."""

    _op = ops.leaky_relu

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def _args(self):
        return (float(self.negative_slope),)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(_Activation):
    """y = x·Φ(x) = ½x(1 + erf(x/√2)) (``approximate="none"``) or ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
    (``"tanh"``);  ∂L/∂x = G·(Φ(x) + x·φ(x)), or the tanh form's derivative. Keeps x
    (``minimlp.formulas.gelu``; erf is ``minimlp.formulas.special.erf``)."""

    _op = ops.gelu

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _args(self):
        return (self.approximate,)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(_Activation):
    """y = x·σ(x);  ∂L/∂x = G·σ(x)·(1 + x·(1 − σ(x))). Keeps x."""

    _op = ops.silu


class ELU(_Activation):
    """y = x for x > 0, α(eˣ − 1) otherwise;  ∂L/∂x = G for x > 0, G·α·eˣ otherwise. Keeps x."""

    _op = ops.elu

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha

    def _args(self):
        return (float(self.alpha),)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Softplus(_Activation):
    """y = log(1 + e^{βx})/β, or x where βx > ``threshold``;  ∂L/∂x = G·σ(βx) (G above the threshold). Keeps x."""

    _op = ops.softplus

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        if float(beta) == 0:
            raise ValueError("Softplus: beta must be non-zero")
        self.beta, self.threshold = beta, threshold

    def _args(self):
        return (float(self.beta), float(self.threshold))

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(_Activation):
    """y = min(max(x, a), b) with a = ``min_val``, b = ``max_val``;  ∂L/∂x = G where a < x < b, else 0. Keeps x."""

    _op = ops.hardtanh

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__(inplace)
        if not float(max_val) > float(min_val):
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val = min_val, max_val

    def _args(self):
        return (float(self.min_val), float(self.max_val))

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"
