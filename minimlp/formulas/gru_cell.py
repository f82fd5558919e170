"""The GRU cell (Cho et al. 2014), torch's form and gate order r, z, n.

    gi = x W_ihᵀ + b_ih,  gh = h W_hhᵀ + b_hh  (N, 3H each), split [·_r, ·_z, ·_n]
    r = σ(gi_r + gh_r)   z = σ(gi_z + gh_z)   n = tanh(gi_n + r ⊙ gh_n)
    h' = (1 − z) ⊙ n + z ⊙ h

The reset gate multiplies the hidden projection *with* its bias b_hn (torch's and cuDNN's form), so the two
projections' gradients differ in their n part. Backward, for G = ∂L/∂h':

    ∂L/∂a_n = G ⊙ (1 − z) ⊙ (1 − n²)          (a_n = gi_n + r ⊙ gh_n)
    ∂L/∂a_z = G ⊙ (h − n) ⊙ z(1 − z)
    ∂L/∂a_r = ∂L/∂a_n ⊙ gh_n ⊙ r(1 − r)
    ∂L/∂gi = [∂L/∂a_r, ∂L/∂a_z, ∂L/∂a_n]      ∂L/∂gh = [∂L/∂a_r, ∂L/∂a_z, r ⊙ ∂L/∂a_n]
    ∂L/∂h = ∂L/∂gh W_hh + G ⊙ z
"""
from ..backend import get_array_module
from . import recurrent
from .activation import sigmoid


def step(gi, state, weight_hh, bias_hh):
    """One step from (h,) with gi = x W_ihᵀ + b_ih: ((h',), (h, r, z, n, gh_n))."""
    xp = get_array_module(gi)
    (h,) = state
    H = h.shape[-1]
    gh = h @ weight_hh.T
    if bias_hh is not None:
        gh += bias_hh
    r = sigmoid(gi[:, :H] + gh[:, :H])[0]
    z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])[0]
    gh_n = gh[:, 2 * H:]
    n = xp.tanh(gi[:, 2 * H:] + r * gh_n)
    h_new = h - n
    h_new *= z
    h_new += n
    return (h_new,), (h, r, z, n, gh_n)


def step_backward(grad_state, saved, weight_hh):
    """((∂L/∂h',), saved) → (∂L/∂gi, ∂L/∂gh, (∂L/∂h,)), as the module docstring."""
    xp = get_array_module(saved[0])
    (g,) = grad_state
    h, r, z, n, gh_n = saved
    da_n = g * (1.0 - z) * (1.0 - n * n)
    da_z = g * (h - n) * z * (1.0 - z)
    da_r = da_n * gh_n * r * (1.0 - r)
    dgi = xp.concatenate([da_r, da_z, da_n], axis=1)
    dgh = xp.concatenate([da_r, da_z, da_n * r], axis=1)
    dh = dgh @ weight_hh
    dh += g * z
    return dgi, dgh, (dh,)


def forward(x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse=False, sizes=None):
    """The cell along x (T, N, I) (``recurrent.forward``, ``sizes`` for sequences of different lengths):
    (output (T, N, H), (h_T,), trace)."""
    return recurrent.forward(step, x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse, sizes=sizes)


def backward(grad_output, grad_state, trace, weight_ih, weight_hh, bias_ih, bias_hh, want_dx=True):
    """Backpropagation through time (``recurrent.backward``): (∂L/∂x, (∂L/∂h_0,))."""
    return recurrent.backward(step_backward, grad_output, grad_state, trace, weight_ih, weight_hh, bias_ih, bias_hh,
                              want_dx)[:2]
