"""A stride-1 3x3 convolution by Winograd's minimal filtering F(2x2, 3x3): the same op as ``conv.conv2d``
(groups 1, dilation 1, zero padding), 16 multiplies per 2x2 block of outputs instead of 36.

The padded input x̃ is cut into 4x4 tiles d, one per 2x2 block of outputs, overlapping by 2. With
    Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]],
    G  = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]],
    Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]],
each tile's outputs are  y = Aᵀ [ Σ_c (G w_{o,c} Gᵀ) ⊙ (Bᵀ d_c B) ] A  (+ b_o):  the sum over input channels is,
for each of the 16 positions of the 4x4 transformed tile, one matrix product U_k V_k with
U = G w Gᵀ (16, O, C) and V = Bᵀ d B (16, C, tiles). The backward is the adjoint, written the same way: with
Γ = A ∂y Aᵀ (16, O, tiles) from each 2x2 block of the output's gradient,
    ∂L/∂w = Σ_tiles Gᵀ (Γ ⊙ V) G,   ∂L/∂d = B (Uᵀ Γ) Bᵀ  added back over the overlapping tiles,   ∂L/∂b = Σ ∂y.
The products are exact in real numbers; in floating point they round differently from the direct sum
(tests/test_winograd.py bounds the difference in float32 and float64).
"""
from ..backend import get_array_module

B_T = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
A_T = ((1, 1, 1, 0), (0, 1, -1, -1))


def takes(geometry):
    """Whether Winograd F(2x2, 3x3) computes this convolution: 3x3, stride 1, dilation 1, one group, zero padding."""
    return (geometry.kernel == (3, 3) and geometry.stride == (1, 1) and geometry.dilation == (1, 1)
            and geometry.groups == 1 and geometry.padding_mode == "zeros")


def matrices(like):
    """Bᵀ, G and Aᵀ as arrays of ``like``'s dtype and backend."""
    xp = get_array_module(like)
    return tuple(xp.asarray(m, dtype=like.dtype) for m in (B_T, G, A_T))


def tile_counts(geometry, h, w):
    """(output height, output width, tile rows, tile columns): one tile per 2x2 block of outputs."""
    ho, wo = geometry.conv_output(h, w)
    return ho, wo, -(-ho // 2), -(-wo // 2)


def _padded(x, geometry, th, tw):
    # x̃: the input with its padding, and zeros past the bottom and right so that every 4x4 tile is whole
    xp = get_array_module(x)
    n, c, h, w = x.shape
    pt, _, pl, _ = geometry.pads
    out = xp.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    rows, cols = min(h, 2 * th + 2 - pt), min(w, 2 * tw + 2 - pl)
    out[:, :, pt:pt + rows, pl:pl + cols] = x[:, :, :rows, :cols]
    return out


def _tiles(padded, th, tw):
    # (N, C, th, tw, 4, 4): tile (t, u) is padded[..., 2t:2t+4, 2u:2u+4]
    xp = get_array_module(padded)
    rows = xp.stack([padded[:, :, i:i + 2 * th:2, :] for i in range(4)], axis=-1)   # (N, C, th, Wp, 4)
    return xp.stack([rows[:, :, :, j:j + 2 * tw:2, :] for j in range(4)], axis=-1)  # (N, C, th, tw, 4, 4)


def transformed_weight(weight):
    """U = G w Gᵀ: (16, O, C), position k = 4a + b of the 4x4 transformed tile first."""
    xp = get_array_module(weight)
    _, g, _ = matrices(weight)
    u = xp.einsum("ai,ocij,bj->aboc", g, weight, g)
    return u.reshape(16, *weight.shape[:2])


def weight_gradient(du):
    """∂L/∂w = Gᵀ ∂U G from ∂L/∂U (16, O, C), the transformed weight's gradient summed over tiles."""
    xp = get_array_module(du)
    _, g, _ = matrices(du)
    return xp.einsum("ai,aboc,bj->ocij", g, du.reshape(4, 4, *du.shape[1:]), g)


def conv2d(x, weight, bias, geometry):
    """y = conv2d(x, w) + b through the transformed tiles (the formula in this module's docstring)."""
    xp = get_array_module(x)
    b_t, _, a_t = matrices(x)
    n, _, h, w = x.shape
    ho, wo, th, tw = tile_counts(geometry, h, w)
    d = _tiles(_padded(x, geometry, th, tw), th, tw)
    v = xp.einsum("ai,nctuij,bj->abnctu", b_t, d, b_t).reshape(16, n, -1, th, tw)
    m = xp.einsum("koc,knctu->knotu", transformed_weight(weight), v).reshape(4, 4, n, -1, th, tw)
    y = xp.einsum("ia,abnotu,jb->notiuj", a_t, m, a_t).reshape(n, -1, 2 * th, 2 * tw)[:, :, :ho, :wo]
    y = xp.ascontiguousarray(y)
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def conv2d_backward(g, x, weight, geometry, want_dx=True):
    """(∂L/∂x or None, ∂L/∂w, ∂L/∂b) for ∂L/∂y = g, as the adjoint of ``conv2d`` (this module's docstring)."""
    xp = get_array_module(x)
    b_t, _, a_t = matrices(x)
    n, c, h, w = x.shape
    ho, wo, th, tw = tile_counts(geometry, h, w)
    o = weight.shape[0]
    g_full = xp.zeros((n, o, 2 * th, 2 * tw), dtype=x.dtype)
    g_full[:, :, :ho, :wo] = g
    g_tiles = g_full.reshape(n, o, th, 2, tw, 2)
    gamma = xp.einsum("ia,notiuj,jb->abnotu", a_t, g_tiles, a_t).reshape(16, n, o, th, tw)
    v = xp.einsum("ai,nctuij,bj->abnctu", b_t, _tiles(_padded(x, geometry, th, tw), th, tw), b_t)
    dw = weight_gradient(xp.einsum("knotu,knctu->koc", gamma, v.reshape(16, n, c, th, tw)))
    db = g.sum(axis=(0, 2, 3))
    if not want_dx:
        return None, dw, db
    dv = xp.einsum("koc,knotu->knctu", transformed_weight(weight), gamma).reshape(4, 4, n, c, th, tw)
    dd = xp.einsum("ai,abnctu,bj->nctuij", b_t, dv, b_t)
    dpad = xp.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    for i in range(4):
        for j in range(4):
            dpad[:, :, i:i + 2 * th:2, j:j + 2 * tw:2] += dd[..., i, j]
    pt, _, pl, _ = geometry.pads
    rows, cols = min(h, 2 * th + 2 - pt), min(w, 2 * tw + 2 - pl)
    dx = xp.zeros_like(x)
    dx[:, :, :rows, :cols] = dpad[:, :, pt:pt + rows, pl:pl + cols]
    return dx, dw, db
