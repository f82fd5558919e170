"""Fused optimizer updates on NumPy: flat buffers, cache-sized chunks, two threads.

An adaptive update reads and writes several parameter-sized arrays and does
little arithmetic on each element, so it is limited by memory traffic. Done
the plain way, every formula streams all of the arrays through the caches
again. Here the flat buffers are cut into chunks of ``CHUNK_BYTES`` per array, and
each chunk goes through the whole update while it is still in L2, with two
chunk-sized scratch arrays per thread and ``out=`` everywhere, so a step
allocates nothing parameter-sized.

NumPy ufuncs release the GIL, so the chunks of large buffers can be shared
out among a small persistent thread pool: ``set_num_threads(2)`` or
``MINIMLP_OPTIM_THREADS=2``. The default is one thread, because on the
2-core machine it was measured on (shared with other work) a second thread
did not pay: each ufunc call on a chunk must retake the GIL, and a busy
core preempts the helper (see benchmarks/bench_optim.py). Buffers under
``PARALLEL_MIN`` elements always stay on the calling thread.

Each function takes flat arrays and Python-float scalars (so float32 stays
float32 under NEP 50) and follows the operation order of the reference
update, which follows torch's, so the two agree to rounding.
"""
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

CHUNK_BYTES = 1 << 18  # per array: 6 arrays of a chunk (params, grads, 2-3 states, 2 scratch) fit a 2 MB L2
PARALLEL_MIN = 1 << 17
_threads = max(1, int(os.environ.get("MINIMLP_OPTIM_THREADS", 1)))
_pool = None
_local = threading.local()


def set_num_threads(n):
    """Use ``n`` threads (the caller plus ``n - 1`` pool workers) for large updates."""
    global _threads, _pool
    if int(n) < 1:
        raise ValueError(f"Invalid number of threads: {n} (must be >= 1)")
    _threads = int(n)
    if _pool is not None:
        _pool.shutdown()
        _pool = None


def get_num_threads():
    return _threads


def _scratch(dtype):
    """Two chunk-sized work arrays of ``dtype``, one pair per thread, kept for good."""
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    pair = cache.get(dtype)
    if pair is None:
        chunk = _chunk(dtype)
        pair = cache[dtype] = (np.empty(chunk, dtype), np.empty(chunk, dtype))
    return pair


def _chunk(dtype):
    return CHUNK_BYTES // np.dtype(dtype).itemsize


def _span(kernel, start, stop, arrays, consts):
    t, u = _scratch(arrays[0].dtype)
    chunk = t.size
    for a in range(start, stop, chunk):
        b = min(a + chunk, stop)
        kernel(a, b, arrays, consts, t[:b - a], u[:b - a])


def _take(kernel, chunks, n, arrays, consts):
    """Process chunks handed out one at a time (next() on a count is atomic under the GIL)."""
    t, u = _scratch(arrays[0].dtype)
    chunk = t.size
    for k in chunks:
        a = k * chunk
        if a >= n:
            return
        b = min(a + chunk, n)
        kernel(a, b, arrays, consts, t[:b - a], u[:b - a])


def _run(kernel, arrays, consts):
    """Apply ``kernel`` chunk by chunk over the flat ``arrays``, shared among the threads.

    Chunks are handed out dynamically rather than split in fixed halves, so a
    thread that the OS preempts (other processes on the same cores) only
    delays the chunk it holds.
    """
    global _pool
    n = arrays[0].size
    if _threads == 1 or n < PARALLEL_MIN:
        _span(kernel, 0, n, arrays, consts)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(_threads - 1, thread_name_prefix="minimlp-optim")
    chunks = itertools.count()
    futures = [_pool.submit(_take, kernel, chunks, n, arrays, consts) for _ in range(_threads - 1)]
    _take(kernel, chunks, n, arrays, consts)
    for f in futures:
        f.result()


# ---------------------------------------------------------------------- SGD
def _sgd_chunk(a, b, arrays, c, t, u):
    p, g, buf = arrays
    p, g = p[a:b], g[a:b]
    lr, momentum, dampening, wd, nesterov, first = c
    if wd != 0.0:
        np.multiply(p, wd, out=t)
        t += g
        g = t                                   # g <- g + wd p
    if momentum != 0.0:
        buf = buf[a:b]
        if first:
            buf[...] = g                        # b_1 <- g_1
        else:
            buf *= momentum                     # b <- mu b + (1 - tau) g
            np.multiply(g, 1.0 - dampening, out=u)
            buf += u
        if nesterov:
            np.multiply(buf, momentum, out=u)
            u += g
            g = u                               # g <- g + mu b
        else:
            g = buf
    np.multiply(g, -lr, out=u)
    p += u                                      # p <- p - lr g


def sgd(p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov, first):
    _run(_sgd_chunk, (p, g, buf), (lr, momentum, dampening, weight_decay, nesterov, first))


# ------------------------------------------------------------------ RMSprop
def _rmsprop_chunk(a, b, arrays, c, t, u):
    p, g, sq, gavg, buf = arrays
    p, g, sq = p[a:b], g[a:b], sq[a:b]
    lr, alpha, eps, wd, momentum, centered = c
    if wd != 0.0:
        np.multiply(p, wd, out=t)
        t += g
        g = t                                   # g <- g + wd p
    sq *= alpha                                 # v <- alpha v + (1 - alpha) g^2
    np.multiply(g, 1.0 - alpha, out=u)
    u *= g
    sq += u
    if centered:
        gavg = gavg[a:b]
        np.subtract(g, gavg, out=u)             # ga <- ga + (1 - alpha)(g - ga)
        u *= 1.0 - alpha
        gavg += u
        np.multiply(gavg, gavg, out=u)
        np.subtract(sq, u, out=u)               # v~ <- v - ga^2
        np.sqrt(u, out=u)
    else:
        np.sqrt(sq, out=u)
    u += eps                                    # d <- sqrt(v~) + eps
    np.divide(g, u, out=u)
    if momentum > 0.0:
        buf = buf[a:b]
        buf *= momentum                         # b <- mu b + g / d
        buf += u
        np.multiply(buf, -lr, out=u)
    else:
        u *= -lr
    p += u                                      # p <- p - lr (b or g / d)


def rmsprop(p, g, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay,
            momentum, centered):
    _run(_rmsprop_chunk, (p, g, square_avg, grad_avg, momentum_buffer),
         (lr, alpha, eps, weight_decay, momentum, centered))


# --------------------------------------------------------------- Adam/AdamW
def _adam_chunk(a, b, arrays, c, t, u):
    p, g, m, v, vmax = arrays
    p, g, m, v = p[a:b], g[a:b], m[a:b], v[a:b]
    beta1, beta2, eps, wd, decay, step_size, bc2_sqrt = c
    if decay != 1.0:
        p *= decay                              # AdamW: p <- p (1 - lr wd)
    if wd != 0.0:
        np.multiply(p, wd, out=t)
        t += g
        g = t                                   # Adam: g <- g + wd p
    np.subtract(g, m, out=u)                    # m <- m + (1 - b1)(g - m)
    u *= 1.0 - beta1
    m += u
    v *= beta2                                  # v <- b2 v + (1 - b2) g^2
    np.multiply(g, 1.0 - beta2, out=u)
    u *= g
    v += u
    if vmax is not None:
        vmax = vmax[a:b]
        np.maximum(vmax, v, out=vmax)           # vmax <- max(vmax, v)
        v = vmax
    np.sqrt(v, out=u)                           # d <- sqrt(v) / sqrt(1 - b2^t) + eps
    u /= bc2_sqrt
    u += eps
    np.divide(m, u, out=u)
    u *= -step_size
    p += u                                      # p <- p - lr / (1 - b1^t) m / d


def adam(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, *, beta1, beta2, eps, weight_decay, decay,
         step_size, bias_correction2_sqrt):
    """``weight_decay`` is Adam's (coupled, added to g); ``decay`` AdamW's factor 1 - lr wd."""
    _run(_adam_chunk, (p, g, exp_avg, exp_avg_sq, max_exp_avg_sq),
         (beta1, beta2, eps, weight_decay, decay, step_size, bias_correction2_sqrt))
