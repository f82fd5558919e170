"""The LSTM cell (Hochreiter & Schmidhuber 1997, with a forget gate), torch's gate order i, f, g, o.

    a = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh  (N, 4H),  split [a_i, a_f, a_g, a_o]
    i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
    c' = f ⊙ c + i ⊙ g        h' = o ⊙ tanh(c')

Backward, for G_h = ∂L/∂h' and G_c = ∂L/∂c' (from the next step and from above):

    δc = G_c + G_h ⊙ o ⊙ (1 − tanh²c')
    ∂L/∂a_i = δc ⊙ g ⊙ i(1 − i)      ∂L/∂a_f = δc ⊙ c ⊙ f(1 − f)
    ∂L/∂a_g = δc ⊙ i ⊙ (1 − g²)      ∂L/∂a_o = G_h ⊙ tanh c' ⊙ o(1 − o)
    ∂L/∂h = ∂L/∂a W_hh               ∂L/∂c = δc ⊙ f

With a projection W_hr (P, H) (torch's ``proj_size``), h' = (o ⊙ tanh c') W_hrᵀ is P wide (and W_hh (4H, P)): G_h
above is then (∂L/∂h') W_hr, and ∂L/∂W_hr = Σ_t (∂L/∂h_t)ᵀ (o_t ⊙ tanh c_t), one product over time.
"""
from ..backend import get_array_module
from . import recurrent
from .activation import sigmoid


def step(gi, state, weight_hh, bias_hh, weight_hr=None):
    """One step from (h, c) with gi = x W_ihᵀ + b_ih: ((h', c'), (i, f, g, o, c, tanh c', o ⊙ tanh c'))."""
    xp = get_array_module(gi)
    h, c = state
    H = c.shape[-1]
    a = h @ weight_hh.T
    a += gi
    if bias_hh is not None:
        a += bias_hh
    i, f, o = (sigmoid(a[:, k * H:(k + 1) * H])[0] for k in (0, 1, 3))
    g = xp.tanh(a[:, 2 * H:3 * H])
    c_new = f * c
    c_new += i * g
    tanh_c = xp.tanh(c_new)
    m = o * tanh_c
    return (m if weight_hr is None else m @ weight_hr.T, c_new), (i, f, g, o, c, tanh_c, m)


def step_backward(grad_state, saved, weight_hh, weight_hr=None):
    """((∂L/∂h', ∂L/∂c'), saved) → (∂L/∂a, ∂L/∂a, (∂L/∂h, ∂L/∂c)), as the module docstring."""
    xp = get_array_module(saved[0])
    gh, gc = grad_state
    i, f, g, o, c, tanh_c, _ = saved
    if weight_hr is not None:
        gh = gh @ weight_hr
    dc = gh * o * (1.0 - tanh_c * tanh_c)
    dc += gc
    da = xp.concatenate([dc * g * i * (1.0 - i), dc * c * f * (1.0 - f), dc * i * (1.0 - g * g),
                         gh * tanh_c * o * (1.0 - o)], axis=1)
    return da, da, (da @ weight_hh, dc * f)


def forward(x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse=False, weight_hr=None, sizes=None):
    """The cell along x (T, N, I) from (h_0, c_0) (``recurrent.forward``, ``sizes`` for sequences of different
    lengths): (output (T, N, H or P), (h_T, c_T), trace); ``weight_hr`` (P, H) projects h."""
    return recurrent.forward(step, x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse, weight_hr,
                             sizes=sizes)


def backward(grad_output, grad_state, trace, weight_ih, weight_hh, bias_ih, bias_hh, want_dx=True, weight_hr=None):
    """Backpropagation through time (``recurrent.backward``): (∂L/∂x, (∂L/∂h_0, ∂L/∂c_0)); ∂L/∂W_hr added to
    the parameter ``weight_hr`` where there is one."""
    dx, grad_state, grad_h = recurrent.backward(step_backward, grad_output, grad_state, trace, weight_ih, weight_hh,
                                                bias_ih, bias_hh, want_dx,
                                                None if weight_hr is None else weight_hr.data)
    if weight_hr is not None:
        xp = get_array_module(grad_h)
        m = xp.zeros(grad_h.shape[:2] + trace.saved[0][-1].shape[1:], dtype=grad_h.dtype)
        for t, saved in enumerate(trace.saved):   # a step of fewer running sequences leaves the other rows 0
            m[t, :saved[-1].shape[0]] = saved[-1]
        weight_hr.accumulate(grad_h.reshape(-1, grad_h.shape[-1]).T @ m.reshape(-1, m.shape[-1]))
    return dx, grad_state
