"""The Elman RNN cell: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (or ReLU), one step and along a sequence."""
from . import recurrent
from .activation import relu, relu_backward, tanh, tanh_backward


def step(gi, state, weight_hh, bias_hh, nonlinearity="tanh"):
    """One step: a = gi + h W_hhᵀ + b_hh with gi = x W_ihᵀ + b_ih, h' = act(a). Returns ((h',), (h',))."""
    (h,) = state
    a = h @ weight_hh.T
    a += gi
    if bias_hh is not None:
        a += bias_hh
    h_new = (tanh if nonlinearity == "tanh" else relu)(a)[0]
    return (h_new,), (h_new,)


def step_backward(grad_state, saved, weight_hh, nonlinearity="tanh"):
    """With G = ∂L/∂h': ∂L/∂a = G·(1 − h'²) (tanh) or G·[h' > 0] (ReLU), the gradient of both projections;
    ∂L/∂h = ∂L/∂a W_hh. Returns (∂L/∂a, ∂L/∂a, (∂L/∂h,))."""
    (g,) = grad_state
    (h_new,) = saved
    da = (tanh_backward if nonlinearity == "tanh" else relu_backward)(g, h_new)
    return da, da, (da @ weight_hh,)


def forward(x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse=False, nonlinearity="tanh", sizes=None):
    """The cell along x (T, N, I) (``recurrent.forward``, ``sizes`` for sequences of different lengths):
    (output (T, N, H), (h_T,), trace)."""
    return recurrent.forward(step, x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse, nonlinearity,
                             sizes=sizes)


def backward(grad_output, grad_state, trace, weight_ih, weight_hh, bias_ih, bias_hh, want_dx=True,
             nonlinearity="tanh"):
    """Backpropagation through time (``recurrent.backward``): (∂L/∂x, (∂L/∂h_0,))."""
    return recurrent.backward(step_backward, grad_output, grad_state, trace, weight_ih, weight_hh, bias_ih, bias_hh,
                              want_dx, nonlinearity)[:2]
