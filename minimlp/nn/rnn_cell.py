"""RNNCell, LSTMCell, GRUCell: one step of a recurrence (``minimlp.formulas.rnn_cell``, ``lstm_cell``,
``gru_cell``)."""
import math

import numpy as np

from ..backend import get_array_module
from ..kernels import ops
from . import init
from .checks import InputError, check_floating, check_grad_like, check_like, whole
from .module import Module
from .parameter import Parameter


class _CellBase(Module):
    """What the three cells share: W_ih (G·H, I), W_hh (G·H, H), b_ih, b_hh (G·H,) for G gates, all initialised
    U(−1/√H, 1/√H) in that order (torch's ``RNNCellBase``); x (N, I) or one sample (I,); hx zeros by default.

    Backward, ``backward(grad_h[, grad_c])``, returns ∂L/∂x, adds ∂L/∂θ to the parameters' ``grad`` and keeps
    ∂L/∂hx in ``grad_hx`` (an array; the LSTM cell's a tuple (∂L/∂h, ∂L/∂c)), of hx's shape: chain it into the
    previous step's backward. A cell keeps its last call only: to unroll a sequence, use ``RNN``/``LSTM``/``GRU``
    (which run the recurrence and its backward over the whole sequence), one cell per step sharing its
    Parameters, or the step functions of ``minimlp.formulas`` (``step`` returns the cache ``step_backward`` takes).
    """

    _op = None            # ops.rnn, ops.lstm or ops.gru
    _states = ("h",)      # the entries of the state: ("h", "c") for the LSTM

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = whole(input_size, "input_size")
        self.hidden_size = whole(hidden_size, "hidden_size")
        self.bias = bias
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        rows = num_chunks * self.hidden_size
        self.weight_ih = Parameter(np.empty((rows, self.input_size), dtype=dtype))
        self.weight_hh = Parameter(np.empty((rows, self.hidden_size), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(rows, dtype=dtype))
            self.bias_hh = Parameter(np.empty(rows, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        if device is not None:
            self.to(device=device)
        self._trace = None
        self.grad_hx = None

    def reset_parameters(self):
        """Every parameter ~ U(−1/√hidden_size, 1/√hidden_size) again, in registration order (torch's)."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _options(self):
        return ()

    def forward(self, input, hx=None):
        x = input
        name = type(self).__name__
        check_floating(self, x)
        if x.ndim not in (1, 2):
            raise InputError(f"{name}: Expected input to be 1D or 2D, got {x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise InputError(f"{self!r}: input has inconsistent input_size: got {x.shape[-1]} expected "
                             f"{self.input_size}")
        check_like(self, x, self.weight_ih.data)
        batched = x.ndim == 2
        x = x if batched else x[None]
        state = self._initial_state(hx, x, batched)
        _, state, self._trace = self._op.run("forward", x[None], state, *self._arrays(), False, *self._options())
        self._batched = batched
        self.grad_hx = None
        state = state if batched else tuple(s[0] for s in state)
        return state if len(state) > 1 else state[0]

    def _arrays(self):
        return tuple(None if p is None else p.data for p in self._weights())

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _initial_state(self, hx, x, batched):
        """hx as a tuple of (N, H) arrays: zeros when None, else checked (torch's messages)."""
        xp = get_array_module(x)
        if hx is None:
            return tuple(xp.zeros((x.shape[0], self.hidden_size), dtype=x.dtype) for _ in self._states)
        entries = self._entries(hx)
        state = []
        for k, h in enumerate(entries):
            what = "hidden" if len(entries) == 1 else f"hx[{k}]"
            check_floating(self, h, what)
            if h.ndim not in (1, 2):
                raise InputError(f"{type(self).__name__}: Expected {what} to be 1D or 2D, got {h.ndim}D instead")
            if (h.ndim == 2) != batched:
                raise InputError(f"{self!r}: for a {'batched 2-D' if batched else 'unbatched 1-D'} input, "
                                 f"{what} should be {'2' if batched else '1'}-D, got {h.ndim}-D")
            h = h if batched else h[None]
            if h.shape[0] != x.shape[0]:
                raise InputError(f"{self!r}: Input batch size {x.shape[0]} doesn't match hidden{k} batch size "
                                 f"{h.shape[0]}")
            if h.shape[1] != self.hidden_size:
                raise InputError(f"{self!r}: hidden{k} has inconsistent hidden_size: got {h.shape[1]}, expected "
                                 f"{self.hidden_size}")
            check_like(self, h, self.weight_hh.data)
            state.append(h)
        return tuple(state)

    def _entries(self, hx):
        return (hx,)

    def _backward(self, grads, want_dx):
        if self._trace is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        if all(g is None for g in grads):
            raise ValueError(f"{self!r}: backward needs the gradient of at least one output")
        shape = (self._trace.x.shape[1], self.hidden_size) if self._batched else (self.hidden_size,)
        for g in grads:
            if g is not None:
                check_grad_like(self, g, shape)
        grads = tuple(g if g is None or self._batched else g[None] for g in grads)
        dx, d_state = self._op.run("backward", None, grads, self._trace, *self._weights(), want_dx, *self._options())
        d_state = d_state if self._batched else tuple(d[0] for d in d_state)
        self.grad_hx = d_state if len(d_state) > 1 else d_state[0]
        if dx is not None:
            dx = dx[0] if self._batched else dx[0, 0]
        return dx

    def backward(self, grad_h):
        """∂L/∂x for G = ∂L/∂h' (h' of the last forward); adds ∂L/∂θ to ``grad``, keeps ∂L/∂hx in ``grad_hx``."""
        return self._backward((grad_h,), want_dx=True)

    def backward_parameters(self, grad_h):
        """``backward`` without ∂L/∂x (a first layer's input needs none); ``grad_hx`` is still computed."""
        self._backward((grad_h,), want_dx=False)

    def _on_moved(self):
        self._trace = None

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(_CellBase):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), or ReLU with ``nonlinearity="relu"`` (torch.nn.RNNCell).

    Backward, for G = ∂L/∂h': δ = G ⊙ (1 − h'²) (tanh) or G ⊙ [h' > 0] (ReLU);  ∂L/∂W_ih = δᵀ x,
    ∂L/∂W_hh = δᵀ h,  ∂L/∂b_ih = ∂L/∂b_hh = Σₙ δ,  ∂L/∂x = δ W_ih (returned),  ∂L/∂h = δ W_hh (``grad_hx``).

    Shapes: x (N, I) or (I,), hx (N, H) or (H,) (default zeros) → h' of hx's shape; W_ih (H, I), W_hh (H, H).
    Caches h' and x. See ``_CellBase`` for initialisation and the backward protocol.
    """

    _op = ops.rnn

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity} (RNNCell takes 'tanh' or 'relu')")
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _options(self):
        return (self.nonlinearity,)


class LSTMCell(_CellBase):
    """(h', c') from (h, c), torch.nn.LSTMCell, gates i, f, g, o in that order along W's rows:

        [a_i, a_f, a_g, a_o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
        i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh c'

    Backward (``backward(grad_h, grad_c=None)``, either may be None: zero): δc = G_c + G_h ⊙ o ⊙ (1 − tanh²c'),
    δa = [δc ⊙ g ⊙ i(1 − i), δc ⊙ c ⊙ f(1 − f), δc ⊙ i ⊙ (1 − g²), G_h ⊙ tanh c' ⊙ o(1 − o)];  ∂L/∂W_ih = δaᵀ x,
    ∂L/∂W_hh = δaᵀ h,  ∂L/∂b = Σₙ δa,  ∂L/∂x = δa W_ih (returned),  ``grad_hx`` = (δa W_hh, δc ⊙ f).

    Shapes: x (N, I) or (I,), hx a tuple (h, c) of (N, H) or (H,) each (default zeros); W_ih (4H, I),
    W_hh (4H, H). Caches the gates i, f, g, o, c, tanh c' and x.
    """

    _op = ops.lstm
    _states = ("h", "c")

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def _entries(self, hx):
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{self!r}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        return tuple(hx)

    def backward(self, grad_h=None, grad_c=None):
        """∂L/∂x for ∂L/∂h' and ∂L/∂c' (None: zero); adds ∂L/∂θ, keeps (∂L/∂h, ∂L/∂c) in ``grad_hx``."""
        return self._backward((grad_h, grad_c), want_dx=True)

    def backward_parameters(self, grad_h=None, grad_c=None):
        """``backward`` without ∂L/∂x."""
        self._backward((grad_h, grad_c), want_dx=False)


class GRUCell(_CellBase):
    """h' = (1 − z) ⊙ n + z ⊙ h, torch.nn.GRUCell, gates r, z, n in that order along W's rows:

        gi = x W_ihᵀ + b_ih,  gh = h W_hhᵀ + b_hh
        r = σ(gi_r + gh_r);  z = σ(gi_z + gh_z);  n = tanh(gi_n + r ⊙ gh_n)   (b_hn inside the reset, as torch)

    Backward, for G = ∂L/∂h': δn = G ⊙ (1 − z) ⊙ (1 − n²), δz = G ⊙ (h − n) ⊙ z(1 − z), δr = δn ⊙ gh_n ⊙ r(1 − r);
    δgi = [δr, δz, δn], δgh = [δr, δz, r ⊙ δn];  ∂L/∂W_ih = δgiᵀ x,  ∂L/∂W_hh = δghᵀ h,  ∂L/∂b_ih = Σₙ δgi,
    ∂L/∂b_hh = Σₙ δgh,  ∂L/∂x = δgi W_ih (returned),  ∂L/∂h = δgh W_hh + G ⊙ z (``grad_hx``).

    Shapes: x (N, I) or (I,), hx (N, H) or (H,) (default zeros); W_ih (3H, I), W_hh (3H, H). Caches h, r, z, n,
    gh_n and x.
    """

    _op = ops.gru

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)
