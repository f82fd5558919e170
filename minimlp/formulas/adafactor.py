"""Adafactor's update, as ``torch.optim.Adafactor``: second moments factored into row and column means for
parameters of two or more dimensions, a relative step size and update clipping."""
import math

from ..backend import get_array_module


def lerp_(start, end, weight):
    """start ← start + weight·(end − start), in place, written as torch's ``lerp_`` writes it (from the nearer
    end: exact at weight 1, where the first step lands)."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)
    return start


def rms(x):
    """√(mean x²) = ‖x‖₂ / √n, as a Python float."""
    return float(get_array_module(x).linalg.norm(x.reshape(-1))) / math.sqrt(x.size)


def update(p, g, row_var, col_var, variance, *, lr, beta2_decay, eps1, eps2, d, weight_decay, maximize, step):
    r"""One step t = ``step`` of p in place (learning rate :math:`\gamma`, decay :math:`\tau` = ``beta2_decay``,
    clipping threshold d, weight decay :math:`\lambda`):

    .. math::
        G &\leftarrow -g \ \text{(maximize)}, \quad g \ \text{(otherwise)} \\
        \hat\beta_{2,t} &= 1 - t^{\tau}, \qquad \rho_t = \min(\gamma, 1 / \sqrt t), \qquad
            \alpha_t = \max(\epsilon_2, \mathrm{RMS}(p)) \, \rho_t \\
        p &\leftarrow p \, (1 - \gamma \lambda) \\
        R &\leftarrow \hat\beta_{2,t} R + (1 - \hat\beta_{2,t}) \, \mathrm{mean}_{-1}(G^2), \quad
        C \leftarrow \hat\beta_{2,t} C + (1 - \hat\beta_{2,t}) \, \mathrm{mean}_{-2}(G^2), \quad
        \hat V = \frac{R \, C}{\max(\mathrm{mean}_{-2}(R), \epsilon_1)}
            && (\dim \ge 2) \\
        \hat V &\leftarrow \hat\beta_{2,t} \hat V + (1 - \hat\beta_{2,t}) \, G^2 && (\dim < 2) \\
        U &= G / \max(\sqrt{\hat V}, \epsilon_1), \qquad
        p \leftarrow p - \frac{\alpha_t}{\max(1, \mathrm{RMS}(U) / d)} \, U

    where :math:`\mathrm{mean}_{-1}`, :math:`\mathrm{mean}_{-2}` average over the last and the last but one
    axis (kept, of length 1): ``row_var`` R has p's shape with the last axis 1, ``col_var`` C with the last but
    one 1 (leading axes are batches of matrices), and their product is the rank-one estimate of the mean
    square gradient. A vector (or a scalar) keeps the full ``variance`` :math:`\hat V` instead (row_var and
    col_var None). RMS(p) is taken before the weight decay, as torch does. The numbers :math:`t^\tau`,
    :math:`\rho_t`, :math:`\alpha_t` are Python floats; arrays keep p's dtype.
    """
    xp = get_array_module(p)
    if maximize:
        g = -g
    one_minus_beta2 = step ** beta2_decay
    rho = min(lr, 1 / step ** 0.5)
    alpha = max(eps2, rms(p)) * rho
    if weight_decay != 0:
        p *= 1 - lr * weight_decay
    if row_var is not None:
        lerp_(row_var, xp.mean(g * g, axis=-1, keepdims=True), one_minus_beta2)
        lerp_(col_var, xp.mean(g * g, axis=-2, keepdims=True), one_minus_beta2)
        var_estimate = row_var * col_var
        var_estimate /= xp.maximum(xp.mean(row_var, axis=-2, keepdims=True), eps1)
    else:
        lerp_(variance, g * g, one_minus_beta2)
        var_estimate = variance.copy()
    u = 1 / xp.sqrt(xp.maximum(var_estimate, eps1 * eps1))   # max(√V̂, ε₁) = √max(V̂, ε₁²)
    u *= g
    p -= (alpha / max(1.0, rms(u) / d)) * u
