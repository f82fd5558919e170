"""Backpropagation through time: one recurrent cell run along a sequence, and its gradient.

A cell is two functions of one time step (``rnn_cell``, ``lstm_cell``, ``gru_cell``)::

    step(gi, state, weight_hh, bias_hh, *options) -> (state', saved)
    step_backward(grad_state', saved, weight_hh, *options) -> (dgi, dgh, grad_state)

where ``gi = x_t W_ihᵀ + b_ih`` is the step's input projection (N, G·H), ``state`` a tuple whose first entry is
the hidden state h (``(h,)``, or ``(h, c)`` for the LSTM), ``dgi`` = ∂L/∂gi and ``dgh`` = ∂L/∂(h_{t−1} W_hhᵀ + b_hh)
(the same array for the RNN and the LSTM, whose gates add the two projections; the GRU's differ in n).

Only the recurrence loops. The input projections of all T steps are one product, X W_ihᵀ over the (T·N, I)
rows, and so are the weight gradients, summed over time::

    ∂L/∂W_ih = Σ_t dgi_tᵀ x_t = dGIᵀ X        ∂L/∂W_hh = Σ_t dgh_tᵀ h_{t−1} = dGHᵀ H_prev
    ∂L/∂b_ih = Σ_{t,n} dgi                    ∂L/∂b_hh = Σ_{t,n} dgh
    ∂L/∂X = dGI W_ih

A reverse direction (bidirectional layers) runs the same recurrence over the sequence read backwards; its
output at time t is the state after reading x_{T−1} … x_t, torch's alignment.

Sequences of different lengths (a packed batch, sorted longest first and padded) pass ``sizes``: b_t, the number
of sequences still running at step t. Step t updates the first b_t rows only and the others keep their state:
in the forward direction a finished sequence keeps its last state, read backwards a sequence waits at h_0 until
its own last step. In backward those rows pass ∂L/∂state through unchanged and their dgi, dgh are zero.
"""
from ..backend import get_array_module


class Trace:
    """What backward needs from a forward: x (T, N, I) in the order read, the hidden states hs (T + 1, N, H) from
    h_0, each step's saved values, the final state, whether the sequence was read backwards, and the running
    sequences per step in the order read (None: all)."""

    __slots__ = ("x", "hs", "saved", "final", "reverse", "sizes")

    def __init__(self, x, hs, saved, final, reverse, sizes=None):
        self.x, self.hs, self.saved, self.final, self.reverse, self.sizes = x, hs, saved, final, reverse, sizes


def forward(step, x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse, *options, sizes=None):
    """``step`` along x (T, N, I) from ``state`` (a tuple of (N, ·) arrays); x read backwards if ``reverse``;
    ``sizes`` (T,) the sequences running at each step of x (None: all N, else non-increasing: module docstring).

    Returns (output (T, N, H) in x's time order, the final state, a ``Trace`` for ``backward``).
    """
    xp = get_array_module(x)
    if reverse:
        x = x[::-1]
    T, N, width = x.shape
    if sizes is not None:
        sizes = [int(b) for b in (sizes[::-1] if reverse else sizes)]
    gi = x.reshape(T * N, width) @ weight_ih.T          # every step's input projection in one product
    if bias_ih is not None:
        gi += bias_ih
    gi = gi.reshape(T, N, weight_ih.shape[0])
    hs = xp.empty((T + 1,) + tuple(state[0].shape), dtype=x.dtype)
    hs[0] = state[0]
    saved = []
    for t in range(T):
        b = N if sizes is None else sizes[t]
        if b == N:
            state, kept = step(gi[t], state, weight_hh, bias_hh, *options)
        else:
            running, kept = step(gi[t, :b], tuple(s[:b] for s in state), weight_hh, bias_hh, *options)
            state = tuple(_with_rows(s, r) for s, r in zip(state, running))
        hs[t + 1] = state[0]
        saved.append(kept)
    output = hs[:0:-1] if reverse else hs[1:]
    return output, state, Trace(x, hs, saved, state, reverse, sizes)


def _with_rows(whole, first):
    """A copy of ``whole`` with its first rows replaced by ``first``."""
    out = whole.copy()
    out[:first.shape[0]] = first
    return out


def backward(step_backward, grad_output, grad_state, trace, weight_ih, weight_hh, bias_ih, bias_hh, want_dx,
             *options):
    """The gradient through the recurrence of ``forward``'s call ``trace``; adds ∂L/∂θ to the parameters.

    ``grad_output`` (T, N, H) is ∂L/∂output in x's time order, ``grad_state`` ∂L/∂(final state), a tuple like the
    state; None (for either or an entry) is zero. Returns (∂L/∂x (T, N, I), or None unless ``want_dx``;
    ∂L/∂(initial state), a tuple; ∂L/∂h_t (T, N, H), all that reaches each step's output, in the order read:
    what the LSTM's projection needs).
    """
    x, hs, saved, final, reverse = trace.x, trace.hs, trace.saved, trace.final, trace.reverse
    xp = get_array_module(hs)
    T, N, width = x.shape
    if grad_output is not None and reverse:
        grad_output = grad_output[::-1]
    grad_state = tuple(xp.zeros_like(s) if g is None else g for g, s in zip(grad_state, final))
    G = weight_ih.data.shape[0]
    dgi = xp.empty((T, N, G), dtype=hs.dtype)
    dgh = xp.empty_like(dgi)
    grad_h = xp.empty((T,) + tuple(grad_state[0].shape), dtype=hs.dtype)
    for t in reversed(range(T)):
        if grad_output is not None:
            grad_state = (grad_state[0] + grad_output[t],) + grad_state[1:]
        grad_h[t] = grad_state[0]
        b = N if trace.sizes is None else trace.sizes[t]
        if b == N:
            dgi[t], dgh[t], grad_state = step_backward(grad_state, saved[t], weight_hh.data, *options)
        else:
            dgi[t, :b], dgh[t, :b], running = step_backward(tuple(g[:b] for g in grad_state), saved[t],
                                                            weight_hh.data, *options)
            dgi[t, b:] = 0
            dgh[t, b:] = 0
            grad_state = tuple(_with_rows(g, r) for g, r in zip(grad_state, running))
    dgi_rows, dgh_rows = dgi.reshape(T * N, G), dgh.reshape(T * N, G)
    weight_ih.accumulate(dgi_rows.T @ x.reshape(T * N, width))
    weight_hh.accumulate(dgh_rows.T @ hs[:-1].reshape(T * N, hs.shape[-1]))
    if bias_ih is not None:
        bias_ih.accumulate(dgi_rows.sum(axis=0))
    if bias_hh is not None:
        bias_hh.accumulate(dgh_rows.sum(axis=0))
    dx = None
    if want_dx:
        dx = (dgi_rows @ weight_ih.data).reshape(T, N, width)
        if reverse:
            dx = dx[::-1]
    return dx, grad_state, grad_h
