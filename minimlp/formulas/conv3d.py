"""3-d convolution and its transpose as one gather of every window (``formulas.pooling3d``) and one product per
group.

Windows. Along each axis, output o's tap j reads the padded position q = o·s + j·d, which is the input index
i = q − p_before (zeros: valid inside the input, the padding reads nothing), or ``resample.pad``'s index of q
("reflect", "replicate", "circular": always valid, a border tap reads the voxel it copies). The volume's taps
are their product (``pooling3d.volume_windows``): flat[o, k] the position (i_D·H + i_H)·W + i_W of tap
k = (j_D·k_H + j_H)·k_W + j_W, and X = windows(x) is one gather, (N, D_out, H_out, W_out, C, K) with the
padding's taps zero, viewed per group g as the (M, C_g·K) matrix X_g (M = N·D_out·H_out·W_out).

Conv3d, W (O, C/G, kd, kh, kw) viewed per group as the (O_g, C_g·K) matrix W_g:
    forward   Y_g = X_g W_gᵀ (+ b),                                   y (N, O, D_out, H_out, W_out)
    backward  ∂L/∂W_g = G_gᵀ X_g,  ∂L/∂b = Σ_{n,d,h,w} G,  ∂L/∂x = windowsᵀ(G_g W_g)
with G_g the (M, O_g) matrix of ∂L/∂y and windowsᵀ the gather's adjoint: each tap's value added to the input
voxel it read (one ``bincount``; the padding's taps dropped).

ConvTranspose3d is Conv3d's adjoint in x with W (C_in, C_out/G, kd, kh, kw) read as a Conv3d weight of C_in
outputs and C_out inputs, and the windows those of its output volume (zero padding p, D_out outputs along
each axis, D_out the transpose's input size):
    forward   y = windowsᵀ(X_g W_g) (+ b)                     (Conv3d's ∂L/∂x, with x as the upstream)
    backward  Γ = windows(G):  ∂L/∂x_g = Γ_g W_gᵀ (Conv3d's forward of G),  ∂L/∂W_g = X_gᵀ Γ_g,
              ∂L/∂b = Σ_{n,d,h,w} G.
The windows are built in NumPy, once per input size.
"""
import numpy as np

from ..backend import get_array_module
from .pooling3d import volume_windows
from .resample import pad


def conv_axis(size, kernel, stride, dilation, before, after, mode="zeros", out=None):
    """One axis's (index, valid, None): index and valid (out, kernel), the input index of each output's taps and
    whether it is read (zeros: inside the input). out = ⌊(size + before + after − d(k − 1) − 1)/s⌋ + 1 unless
    given (the transpose's input size)."""
    if out is None:
        out = (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
    q = np.arange(max(out, 0))[:, None] * stride + np.arange(kernel) * dilation
    if mode == "zeros":
        index = q - before
        valid = (index >= 0) & (index < size)
    else:
        taps = pad(size, before, after, mode)
        index, valid = taps.index[q, 0], taps.used[q, 0]
    return np.clip(index, 0, size - 1), valid, None


def windows(axes, shape):
    """(flat, valid), each (D_out, H_out, W_out, K): the volume's taps (``pooling3d.volume_windows``)."""
    return volume_windows(axes, shape)


def _gather(x, flat, valid):
    """X = windows(x): (N, D_out, H_out, W_out, C, K), the padding's taps zero."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    cols = x.reshape(n, c, int(np.prod(x.shape[2:])))[:, :, flat]                      # (N, C, Do, Ho, Wo, K)
    if not bool(valid.all()):
        cols = xp.where(valid, cols, xp.asarray(0, dtype=x.dtype))
    return xp.moveaxis(cols, 1, 4)


def _scatter(cols, flat, valid, shape):
    """windowsᵀ: the (N, D_out, H_out, W_out, C, K) taps added to the voxels they read; ``shape`` (N, C, D, H, W)."""
    xp = get_array_module(cols)
    n, c = shape[:2]
    volume = int(np.prod(shape[2:]))
    out, taps = xp.nonzero(valid.reshape(-1, valid.shape[-1]))   # every (window, inside tap) pair
    targets = flat.reshape(-1, flat.shape[-1])[out, taps]
    per_window = cols.reshape(n, int(np.prod(flat.shape[:-1])), c, flat.shape[-1])
    values = xp.moveaxis(per_window, 2, 1)[:, :, out, taps]     # (N, C, pairs)
    where = (targets[None, :] + xp.arange(n * c)[:, None] * volume).ravel()
    dx = xp.bincount(where, weights=values.reshape(-1), minlength=n * c * volume)[:n * c * volume]
    return dx.astype(cols.dtype, copy=False).reshape(shape)


def _per_group(cols, groups):
    """(N, Do, Ho, Wo, C, K) → (G, M, C_g·K)."""
    m = int(np.prod(cols.shape[:4]))
    c, k = cols.shape[4:]
    return cols.reshape(m, groups, (c // groups) * k).transpose(1, 0, 2)


def _kernel(weight, groups):
    """W (O, C_g, kd, kh, kw) → (G, O_g, C_g·K)."""
    return weight.reshape(groups, weight.shape[0] // groups, int(np.prod(weight.shape[1:])))


def _from_groups(y, spatial):
    """(G, M, O_g) → (N, O, Do, Ho, Wo), ``spatial`` (N, Do, Ho, Wo)."""
    xp = get_array_module(y)
    g, _, o = y.shape
    return xp.moveaxis(y.transpose(1, 0, 2).reshape(tuple(spatial) + (g * o,)), -1, 1)


def _to_groups(g, groups):
    """(N, O, Do, Ho, Wo) → (G, M, O_g)."""
    xp = get_array_module(g)
    o = g.shape[1]
    m = g.shape[0] * int(np.prod(g.shape[2:]))
    return xp.moveaxis(g, 1, -1).reshape(m, groups, o // groups).transpose(1, 0, 2)


def forward(x, weight, bias, flat, valid, groups):
    """Y_g = X_g W_gᵀ + b. Returns (y (N, O, D_out, H_out, W_out), X) with X kept for the backward."""
    cols = _gather(x, flat, valid)
    y = _from_groups(_per_group(cols, groups) @ _kernel(weight, groups).transpose(0, 2, 1), cols.shape[:4])
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y, cols


def backward(g, cols, weight, bias, flat, valid, groups, in_shape, want_dx=True):
    """∂L/∂W_g = G_gᵀ X_g and ∂L/∂b = Σ G added into the parameters ``weight`` and ``bias`` (None: no bias);
    returns ∂L/∂x = windowsᵀ(G_g W_g) (None without ``want_dx``)."""
    gg = _to_groups(g, groups)                                  # (G, M, O_g)
    kernel = _kernel(weight.data, groups)
    weight.accumulate((gg.transpose(0, 2, 1) @ _per_group(cols, groups)).reshape(weight.data.shape))
    if bias is not None:
        bias.accumulate(g.sum(axis=(0, 2, 3, 4)))
    dx = None
    if want_dx:
        dcols = (gg @ kernel).transpose(1, 0, 2).reshape(cols.shape)
        dx = _scatter(dcols, flat, valid, in_shape)
    return dx


def transpose_forward(x, weight, bias, flat, valid, groups, out_shape):
    """y = windowsᵀ(X_g W_g) + b, ``out_shape`` (N, C_out, D_out, H_out, W_out); x (N, C_in, D, H, W) with
    D × H × W the windows' count."""
    xp = get_array_module(x)
    xg = _to_groups(x, groups)                                  # (G, M, C_in/G)
    cols = (xg @ _kernel(weight, groups)).transpose(1, 0, 2)    # (M, G, C_out/G·K)
    k = flat.shape[-1]
    cols = cols.reshape((x.shape[0],) + tuple(x.shape[2:]) + (out_shape[1], k))
    y = _scatter(cols, flat, valid, out_shape)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return xp.ascontiguousarray(y)


def transpose_backward(g, x, weight, bias, flat, valid, groups, want_dx=True):
    """With Γ = windows(G): ∂L/∂W_g = X_gᵀ Γ_g and ∂L/∂b = Σ G added into ``weight`` and ``bias`` (None: no
    bias); returns ∂L/∂x_g = Γ_g W_gᵀ (None without ``want_dx``)."""
    gamma = _per_group(_gather(g, flat, valid), groups)         # (G, M, C_out/G·K)
    xg = _to_groups(x, groups)                                  # (G, M, C_in/G)
    kernel = _kernel(weight.data, groups)
    weight.accumulate((xg.transpose(0, 2, 1) @ gamma).reshape(weight.data.shape))
    if bias is not None:
        bias.accumulate(g.sum(axis=(0, 2, 3, 4)))
    if not want_dx:
        return None
    return _from_groups(gamma @ kernel.transpose(0, 2, 1), (x.shape[0],) + tuple(x.shape[2:]))
