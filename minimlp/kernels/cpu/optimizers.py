"""The optimizers' updates compiled for the CPU: one pass over the flat buffers, cut over the pool.

The public functions take the formulas' arguments; each element's update does not depend on the piece
holding it, so the bits do not depend on the number of threads.
"""
import numba
import numpy as np
from numba import prange

from . import pool

GRAIN = 1 << 16  # elements per thread at least: below, a hand-off costs more than it saves
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)


@_jit
def _sgd(p, g, buf, lr, momentum, one_minus_dampening, wd, sign, has_momentum, nesterov, first):
    for i in range(p.size):
        d = g[i] * sign                             # sign −1 with maximize: g <- −g
        if wd != 0:
            d = p[i] * wd + d                       # g <- g + wd p
        if has_momentum:
            b = d if first else buf[i] * momentum + d * one_minus_dampening
            buf[i] = b                              # b <- mu b + (1 - tau) g
            d = b * momentum + d if nesterov else b
        p[i] = p[i] + d * lr                        # lr is passed negated: p <- p - lr g


@_jit
def _rmsprop(p, g, sq, gavg, buf, neg_lr, alpha, one_minus_alpha, eps, wd, momentum, sign, centered, has_momentum):
    for i in range(p.size):
        d = g[i] * sign                             # sign −1 with maximize: g <- −g
        if wd != 0:
            d = p[i] * wd + d                       # g <- g + wd p
        s = sq[i] * alpha + d * one_minus_alpha * d
        sq[i] = s                                   # v <- alpha v + (1 - alpha) g^2
        if centered:
            ga = gavg[i] + (d - gavg[i]) * one_minus_alpha
            gavg[i] = ga
            denom = np.sqrt(s - ga * ga) + eps      # sqrt(v - ga^2) + eps
        else:
            denom = np.sqrt(s) + eps
        step = d / denom
        if has_momentum:
            step = buf[i] * momentum + step
            buf[i] = step                           # b <- mu b + g / d
        p[i] = p[i] + step * neg_lr


@_jit
def _adam(p, g, m, v, vmax, amsgrad, one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, neg_step_size,
          bias_correction2_sqrt, sign):
    for i in range(p.size):
        w = p[i]
        if decay != 1:
            w = w * decay                           # AdamW: p <- p (1 - lr wd)
        d = g[i] * sign                             # sign −1 with maximize: g <- −g
        if wd != 0:
            d = w * wd + d                          # Adam: g <- g + wd p
        mi = m[i] + (d - m[i]) * one_minus_beta1
        m[i] = mi                                   # m <- m + (1 - b1)(g - m)
        vi = v[i] * beta2 + d * one_minus_beta2 * d
        v[i] = vi                                   # v <- b2 v + (1 - b2) g^2
        if amsgrad:
            previous = vmax[i]
            if previous > vi or previous != previous:
                vi = previous                       # vmax <- max(vmax, v), NaN propagating as np.maximum
            vmax[i] = vi
        denom = np.sqrt(vi) / bias_correction2_sqrt + eps
        p[i] = w + mi / denom * neg_step_size       # p <- p - lr / (1 - b1^t) m / d


# One piece of the flat buffers per thread; an optional buffer (size 0 when unused) is sliced to nothing.
@_parallel
def _sgd_pieces(pieces, p, g, buf, lr, momentum, one_minus_dampening, wd, sign, has_momentum, nesterov, first):
    n = p.size
    for i in prange(pieces):
        lo, hi = n * i // pieces, n * (i + 1) // pieces
        _sgd(p[lo:hi], g[lo:hi], buf[min(lo, buf.size):min(hi, buf.size)], lr, momentum, one_minus_dampening, wd,
             sign, has_momentum, nesterov, first)


@_parallel
def _rmsprop_pieces(pieces, p, g, sq, gavg, buf, neg_lr, alpha, one_minus_alpha, eps, wd, momentum, sign, centered,
                    has_momentum):
    n = p.size
    for i in prange(pieces):
        lo, hi = n * i // pieces, n * (i + 1) // pieces
        _rmsprop(p[lo:hi], g[lo:hi], sq[lo:hi], gavg[min(lo, gavg.size):min(hi, gavg.size)],
                 buf[min(lo, buf.size):min(hi, buf.size)], neg_lr, alpha, one_minus_alpha, eps, wd, momentum, sign,
                 centered, has_momentum)


@_parallel
def _adam_pieces(pieces, p, g, m, v, vmax, amsgrad, one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay,
                 neg_step_size, bias_correction2_sqrt, sign):
    n = p.size
    for i in prange(pieces):
        lo, hi = n * i // pieces, n * (i + 1) // pieces
        _adam(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], vmax[min(lo, vmax.size):min(hi, vmax.size)], amsgrad,
              one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay, neg_step_size, bias_correction2_sqrt, sign)


def _none_or(array, like):
    return like[:0] if array is None else array


def _split(kernel, arrays, scalars):
    """The kernel over the whole (flat) buffers: in one call, or in pieces on the thread pool when large."""
    arrays = tuple(a.reshape(-1) for a in arrays)
    parts = pool.pieces(arrays[0].size, GRAIN)
    if parts == 1:
        kernel(*arrays, *scalars)
    else:
        pool.launch(parts, _PIECES[kernel], parts, *arrays, *scalars)


def sgd(p, g, momentum_buffer, *, lr, momentum, dampening, weight_decay, nesterov, maximize, step):
    t = p.dtype.type
    _split(_sgd, (p, g, _none_or(momentum_buffer, p)), (t(-lr), t(momentum), t(1.0 - dampening), t(weight_decay),
                                                         t(-1.0 if maximize else 1.0), momentum_buffer is not None,
                                                         bool(nesterov), step == 1))


def rmsprop(p, g, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay, momentum, maximize):
    t = p.dtype.type
    _split(_rmsprop, (p, g, square_avg, _none_or(grad_avg, p), _none_or(momentum_buffer, p)),
           (t(-lr), t(alpha), t(1.0 - alpha), t(eps), t(weight_decay), t(momentum), t(-1.0 if maximize else 1.0),
            grad_avg is not None, momentum_buffer is not None))


def adam_scalars(dtype, *, lr, beta1, beta2, eps, weight_decay, decoupled, maximize, step):
    """The scalar arguments of ``_adam`` after ``amsgrad``, in the parameters' dtype, from the formula's (the
    gradient's sign last: −1 with ``maximize``)."""
    t = np.dtype(dtype).type
    lr, beta1, beta2, weight_decay = float(lr), float(beta1), float(beta2), float(weight_decay)
    step_size = lr / (1 - beta1 ** step)
    decay = 1 - lr * weight_decay if decoupled else 1.0
    coupled = 0.0 if decoupled else weight_decay
    return (t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(eps), t(coupled), t(decay), t(-step_size),
            t((1 - beta2 ** step) ** 0.5), t(-1.0 if maximize else 1.0))


def adam(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, **hyper):
    _split(_adam, (p, g, exp_avg, exp_avg_sq, _none_or(max_exp_avg_sq, p)),
           (max_exp_avg_sq is not None,) + adam_scalars(p.dtype, **hyper))


_PIECES = {_sgd: _sgd_pieces, _rmsprop: _rmsprop_pieces, _adam: _adam_pieces}
