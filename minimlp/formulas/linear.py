"""Linear: y = x Wᵀ + b."""


def forward(x, weight, bias):
    """y = x Wᵀ + b, for x (N, in), W (out, in) and b (out,) or None: y is (N, out)."""
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def backward(g, x, weight, bias, want_dx=True):
    """With G = ∂L/∂y: ∂L/∂W = Gᵀ x,  ∂L/∂b = Σₙ G  (added to the parameters),  ∂L/∂x = G W (returned).

    ``weight`` and ``bias`` are parameters (``bias`` may be None); ∂L/∂x is skipped (None) unless ``want_dx``.
    """
    weight.accumulate(g.T @ x)
    if bias is not None:
        bias.accumulate(g.sum(axis=0))
    return g @ weight.data if want_dx else None
