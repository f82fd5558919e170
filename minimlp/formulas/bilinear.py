"""The bilinear map y[n, o] = Σ_{i,j} x1[n, i]·W[o, i, j]·x2[n, j] + b[o], each sum one matrix product."""
from ..backend import get_array_module


def forward(x1, x2, weight, bias):
    """y = x1ᵀ W_o x2 + b_o for each output o: first T[n, o, j] = Σ_i x1[n, i]·W[o, i, j] (one product), then
    y[n, o] = Σ_j T[n, o, j]·x2[n, j]. Returns (y, T)."""
    n, (out, in1, in2) = x1.shape[0], weight.shape
    t = (x1 @ weight.transpose(1, 0, 2).reshape(in1, out * in2)).reshape(n, out, in2)
    y = (t @ x2[:, :, None])[:, :, 0]
    if bias is not None:
        y += bias
    return y, t


def backward(g, x1, x2, t, weight, bias, want_dx=True):
    """∂L/∂W[o, i, j] = Σ_n G[n, o]·x1[n, i]·x2[n, j];  ∂L/∂b = Σ_n G;  ∂L/∂x1[n, i] = Σ_o G[n, o]·(W_o x2[n])[i];
    ∂L/∂x2[n, j] = Σ_o G[n, o]·T[n, o, j]. Adds the parameters' gradients; returns (∂L/∂x1, ∂L/∂x2) or None."""
    xp = get_array_module(g)
    n, (out, in1, in2) = g.shape[0], weight.data.shape
    gx1 = (g[:, :, None] * x1[:, None, :]).reshape(n, out * in1)
    weight.accumulate((gx1.T @ x2).reshape(out, in1, in2))
    if bias is not None:
        bias.accumulate(g.sum(axis=0))
    if not want_dx:
        return None
    w_x2 = (x2 @ weight.data.reshape(out * in1, in2).T).reshape(n, out, in1)
    dx1 = (g[:, None, :] @ w_x2)[:, 0, :]
    dx2 = (g[:, None, :] @ t)[:, 0, :]
    return xp.ascontiguousarray(dx1), xp.ascontiguousarray(dx2)
