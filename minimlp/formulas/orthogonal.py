"""Orthogonal parametrization (torch.nn.utils.parametrizations.orthogonal): a weight, or a batch of them on the
last two axes, kept with orthonormal columns (tall) or rows (wide). A wide (…, k, n) weight is worked on
transposed, so below X is tall: (…, n, k), n ≥ k, and the map's value M is (…, n, k) with MᵀM = I.

    matrix_exp, cayley:  Y = [tril(X) | 0] (n × n),  A = Y − Yᵀ  (skew; X's diagonal cancels)
                         M = exp(A)[:, :k]   or   M = (I − A/2)⁻¹(I + A/2)[:, :k]
    householder:         V = tril(X, −1),  v_j = e_j + V[:, j],  τ_j = 2/(1 + ‖V[:, j]‖²) = 2/‖v_j‖²
                         M = (H_0 H_1 … H_{k−1})[:, :k] · trunc(diag X)   (H_j = I − τ_j v_j v_jᵀ; the diagonal,
                         ±1, picks each column's sign and is no variable of the gradient)
    trivialization:      Q = B M with B an orthogonal (…, n, n) buffer, the "base" (no gradient)

Backward, for G = ∂L/∂Q (transposed as the weight was): ∂L/∂M = Bᵀ G, then per map

    matrix_exp:   ∂L/∂A = L_exp(Aᵀ, [∂L/∂M | 0]), the adjoint of exp's Fréchet derivative, the top-right block of
                  exp([[Aᵀ, G'], [0, Aᵀ]])  (G' scaled to A's size, the block being linear in G')
    cayley:       ∂L/∂A = ½ (I − A/2)⁻ᵀ G' (I + Q)ᵀ,   Q the full n × n value
    both:         ∂L/∂X = tril((∂L/∂A − ∂L/∂Aᵀ)[:, :k])   (zero on the diagonal)
    householder:  with Y_j = H_j … H_{k−1} E (Y_0 = M before the signs) and Z_j = H_{j−1} … H_0 ∂L/∂Y_0,
                  ∂L/∂H_j = Z_j Y_{j+1}ᵀ and, H being 2vvᵀ/vᵀv's reflection,
                  ∂L/∂v_j = −τ (∂L/∂H_j + ∂L/∂H_jᵀ) v_j + τ² (v_jᵀ ∂L/∂H_j v_j) v_j,  kept below the diagonal.

The matrix exponential is Higham's (2005) scaling and squaring with a [m/m] Padé approximant (m = 3, 5, 7, 9 or
13 after s halvings, chosen by the 1-norm), the QR by Householder reflections as LAPACK's geqrf (β = −sign(α)‖x‖,
τ = (β − α)/β, τ = 0 where the column is already zero below the diagonal).
"""
import math

from ..backend import get_array_module

MAPS = ("matrix_exp", "cayley", "householder")

# [m/m] Padé numerator coefficients b_0 … b_m and the 1-norm up to which each degree is exact in double precision
PADE = {3: (120., 60., 12., 1.),
        5: (30240., 15120., 3360., 420., 30., 1.),
        7: (17297280., 8648640., 1995840., 277200., 25200., 1512., 56., 1.),
        9: (17643225600., 8821612800., 2075673600., 302702400., 30270240., 2162160., 110880., 3960., 90., 1.),
        13: (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800., 129060195264000.,
             10559470521600., 670442572800., 33522128640., 1323241920., 40840800., 960960., 16380., 182., 1.)}
THETA = {3: 1.495585217958292e-2, 5: 2.539398330063230e-1, 7: 9.504178996162932e-1, 9: 2.097847961257068,
         13: 5.371920351148152}


def _t(a):
    return a.swapaxes(-1, -2)


def _eye(xp, n, like):
    return xp.eye(n, dtype=like.dtype)


def norm1(a):
    """The largest 1-norm (largest column sum of |a|) over a batch of matrices, as a float."""
    xp = get_array_module(a)
    return float(xp.abs(a).sum(axis=-2).max()) if a.size else 0.0


def expm_degree(norm):
    """(m, s): the Padé degree and the number of squarings for a matrix of 1-norm ``norm``."""
    for m in (3, 5, 7, 9):
        if norm <= THETA[m]:
            return m, 0
    return 13, max(0, int(math.ceil(math.log2(norm / THETA[13]))))


def expm(a):
    """exp(a) for a (…, n, n) batch: scaling and squaring with a Padé approximant (the batch shares m and s)."""
    xp = get_array_module(a)
    m, s = expm_degree(norm1(a))
    a = a / a.dtype.type(2.0 ** s)
    b = [a.dtype.type(c) for c in PADE[m]]
    eye = _eye(xp, a.shape[-1], a)
    a2 = a @ a
    if m == 13:
        a4 = a2 @ a2
        a6 = a4 @ a2
        u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    else:
        powers = [eye, a2]
        for _ in range(2, m // 2 + 1):
            powers.append(powers[-1] @ a2)
        u = a @ sum(b[2 * i + 1] * p for i, p in enumerate(powers))
        v = sum(b[2 * i] * p for i, p in enumerate(powers))
    r = xp.linalg.solve(v - u, v + u)
    for _ in range(s):
        r = r @ r
    return r


def expm_adjoint(a, grad):
    """∂L/∂a for L depending on exp(a) through G = ∂L/∂exp(a): the top-right block of exp([[aᵀ, G], [0, aᵀ]])."""
    xp = get_array_module(a)
    scale = norm1(grad)
    if scale == 0.0:
        return xp.zeros_like(grad)
    size = norm1(a)
    factor = (size if size > 0.0 else 1.0) / scale   # linear in G: keep G the size of a, not of the loss
    n = a.shape[-1]
    block = xp.zeros(a.shape[:-2] + (2 * n, 2 * n), dtype=a.dtype)
    block[..., :n, :n] = block[..., n:, n:] = _t(a)
    block[..., :n, n:] = grad * a.dtype.type(factor)
    return expm(block)[..., :n, n:] / a.dtype.type(factor)


def skew(x):
    """A = Y − Yᵀ for the tall (…, n, k) x, Y = [tril(x) | 0] (n × n)."""
    xp = get_array_module(x)
    n, k = x.shape[-2:]
    y = xp.zeros(x.shape[:-2] + (n, n), dtype=x.dtype)
    y[..., :k] = xp.tril(x)
    return y - _t(y)


def skew_backward(grad, k):
    """∂L/∂x from ∂L/∂A (``skew``'s adjoint): tril((G − Gᵀ)[:, :k])."""
    xp = get_array_module(grad)
    return xp.tril((grad - _t(grad))[..., :k])


def cayley(a):
    """(I − a/2)⁻¹(I + a/2)."""
    xp = get_array_module(a)
    eye = _eye(xp, a.shape[-1], a)
    half = a * a.dtype.type(0.5)
    return xp.linalg.solve(eye - half, eye + half)


def cayley_backward(grad, a, q):
    """∂L/∂a = ½ (I − a/2)⁻ᵀ G (I + q)ᵀ for G = ∂L/∂q, q = cayley(a)."""
    xp = get_array_module(a)
    eye = _eye(xp, a.shape[-1], a)
    return xp.linalg.solve(_t(eye - a * a.dtype.type(0.5)), grad @ _t(eye + q)) * a.dtype.type(0.5)


def _reflector(reflectors, j):
    """v_j = e_j + reflectors[:, j] below the diagonal (…, n)."""
    v = reflectors[..., :, j].copy()
    v[..., :j] = 0
    v[..., j] = 1
    return v


def _reflect(y, v, tau):
    """(I − τ v vᵀ) y, batched: v (…, n), τ (…), y (…, n, c)."""
    return y - (tau[..., None] * v)[..., :, None] * (v[..., None, :] @ y)


def householder_product(reflectors, tau):
    """The first k columns of H_0 H_1 … H_{k−1}, H_j = I − τ_j v_j v_jᵀ, v_j = e_j + reflectors[:, j] below the
    diagonal (torch.linalg.householder_product, LAPACK's orgqr) for (…, n, k) reflectors and (…, k) τ."""
    xp = get_array_module(reflectors)
    n, k = reflectors.shape[-2:]
    y = xp.broadcast_to(xp.eye(n, k, dtype=reflectors.dtype), reflectors.shape).copy()
    for j in reversed(range(tau.shape[-1])):
        y = _reflect(y, _reflector(reflectors, j), tau[..., j])
    return y


def householder_tau(x):
    """τ_j = 2/(1 + ‖tril(x, −1)[:, j]‖²): each H_j an exact reflection."""
    xp = get_array_module(x)
    low = xp.tril(x, -1)
    return 2.0 / (1.0 + (low * low).sum(axis=-2))


def householder_backward(grad, reflectors, tau, y0):
    """∂L/∂reflectors (below the diagonal; τ = 2/‖v‖² differentiated through) for G = ∂L/∂y0, y0 =
    householder_product(reflectors, tau)."""
    xp = get_array_module(grad)
    out = xp.zeros_like(reflectors)
    y, z = y0, grad
    for j in range(reflectors.shape[-1]):
        v, t = _reflector(reflectors, j), tau[..., j]
        y = _reflect(y, v, t)                                   # Y_{j+1} = H_j Y_j (H_j is its own inverse)
        yv = (_t(y) @ v[..., None])[..., 0]                     # Y_{j+1}ᵀ v   (…, k)
        zv = (_t(z) @ v[..., None])[..., 0]                     # Z_jᵀ v
        gv = (z @ yv[..., None])[..., 0]                        # ∂L/∂H v
        gtv = (y @ zv[..., None])[..., 0]                       # ∂L/∂Hᵀ v
        vgv = (zv * yv).sum(axis=-1)                            # vᵀ ∂L/∂H v
        dv = -t[..., None] * (gv + gtv) + (t * t * vgv)[..., None] * v
        out[..., j + 1:, j] = dv[..., j + 1:]
        z = _reflect(z, v, t)                                   # Z_{j+1} = H_j Z_j
    return out


def geqrf(a):
    """LAPACK's geqrf: (h, τ) with R on and above h's diagonal and the reflectors' tails below it, for (…, n, k)."""
    xp = get_array_module(a)
    h = a.copy()
    n, k = a.shape[-2:]
    tau = xp.zeros(a.shape[:-2] + (min(n, k),), dtype=a.dtype)
    for j in range(min(n, k)):
        alpha = h[..., j, j].copy()
        below = h[..., j + 1:, j]
        xnorm = xp.sqrt((below * below).sum(axis=-1))
        beta = -xp.where(alpha >= 0, 1.0, -1.0).astype(a.dtype) * xp.sqrt(alpha * alpha + xnorm * xnorm)
        zero = xnorm == 0
        safe = xp.where(zero, 1.0, beta).astype(a.dtype)
        t = xp.where(zero, 0.0, (beta - alpha) / safe).astype(a.dtype)
        denominator = xp.where(zero, 1.0, alpha - beta).astype(a.dtype)
        h[..., j + 1:, j] = below / denominator[..., None]
        h[..., j, j] = xp.where(zero, alpha, beta)
        tau[..., j] = t
        v = _reflector(h, j)
        h[..., :, j + 1:] = _reflect(h[..., :, j + 1:], v, t)
    return h, tau


def make_orthogonal(a):
    """Q of a = QR with diag(R) ≥ 0, for a tall (…, n, k) a (zero columns where R's diagonal is zero, as torch's)."""
    xp = get_array_module(a)
    h, tau = geqrf(a)
    diag = xp.diagonal(h, axis1=-2, axis2=-1)
    return householder_product(h, tau) * xp.sign(diag)[..., None, :]


def is_orthogonal(q):
    """QᵀQ = I up to 10·n·ε in every matrix of the batch (torch's test)."""
    xp = get_array_module(q)
    n, k = q.shape[-2:]
    eps = 10.0 * n * float(xp.finfo(q.dtype).eps)
    return bool(xp.allclose(_t(q) @ q, xp.eye(k, dtype=q.dtype), atol=eps))


def forward(weight, orthogonal_map, base):
    """(Q, saved): the orthogonal value of ``weight`` by ``orthogonal_map`` (module docstring), B·M where ``base``
    is not None; ``saved`` is what ``backward`` needs."""
    xp = get_array_module(weight)
    transposed = weight.shape[-2] < weight.shape[-1]
    x = _t(weight) if transposed else weight
    n, k = x.shape[-2:]
    if orthogonal_map == "householder":
        tau = householder_tau(x)
        y0 = householder_product(x, tau)
        m = y0 * xp.trunc(xp.diagonal(x, axis1=-2, axis2=-1))[..., None, :]
        saved = (x, tau, y0)
    else:
        a = skew(x)
        full = expm(a) if orthogonal_map == "matrix_exp" else cayley(a)
        m = full[..., :k]
        saved = (a, full)
    q = m if base is None else base @ m
    return (_t(q) if transposed else q), (transposed, k) + saved


def backward(grad, saved, orthogonal_map, base):
    """∂L/∂weight for G = ∂L/∂Q (module docstring)."""
    xp = get_array_module(grad)
    transposed, k, *saved = saved
    g = _t(grad) if transposed else grad
    if base is not None:
        g = _t(base) @ g
    if orthogonal_map == "householder":
        x, tau, y0 = saved
        signs = xp.trunc(xp.diagonal(x, axis1=-2, axis2=-1))[..., None, :]
        out = householder_backward(g * signs, x, tau, y0)
    else:
        a, full = saved
        n = a.shape[-1]
        padded = xp.zeros(a.shape[:-2] + (n, n), dtype=grad.dtype)
        padded[..., :k] = g
        grad_a = expm_adjoint(a, padded) if orthogonal_map == "matrix_exp" else cayley_backward(padded, a, full)
        out = skew_backward(grad_a, k)
    return _t(out) if transposed else out


def right_inverse(value, orthogonal_map, trivialization, completion=None):
    """(original, base) that give ``value`` (torch's right_inverse): with the trivialization, base = ``value``
    if orthogonal (square), else the Q of its QR (a tall one completed by the (…, n, n − k) ``completion``
    first), and original = −I; without, householder's geqrf with diag ±1 (base None)."""
    xp = get_array_module(value)
    transposed = value.shape[-2] < value.shape[-1]
    q = _t(value) if transposed else value
    n, k = q.shape[-2:]
    if not trivialization:
        h, tau = geqrf(q)
        diag = xp.sign(xp.diagonal(h, axis1=-2, axis2=-1)) * xp.where(tau == 0, -1.0, 1.0).astype(h.dtype)
        idx = xp.arange(k)
        h[..., idx, idx] = diag
        return (_t(h) if transposed else h).copy(), None
    if n == k:
        base = q.copy() if is_orthogonal(q) else make_orthogonal(q)
    else:
        base = make_orthogonal(xp.concatenate([q, completion.astype(q.dtype)], axis=-1))
    original = xp.zeros_like(value)
    idx = xp.arange(min(value.shape[-2:]))
    original[..., idx, idx] = -1.0
    return original, base
