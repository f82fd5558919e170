"""CPU matmuls for the layers: two threads of single-threaded BLAS instead of BLAS's own threads.

``Linear`` computes ``x @ W.T``, ``Gᵀ @ x`` and ``G @ W``. For a small batch
these products are thin (16 rows against a 3072 x 512 weight): OpenBLAS's
threads then spend more time synchronising than computing, and on a machine
shared with other work they wait on each other for milliseconds per call
(benchmarks/README.md: a batch-16 step of the paper's network measured 10x
slower with OpenBLAS on 2 threads than on 1, under load). Here the product's
output columns are split in two, each half computed by a single-threaded BLAS
call, one on the calling thread and one on a helper thread (NumPy releases
the GIL inside BLAS). Each output element is the same dot product either way,
so the result is the one ``numpy.matmul`` gives (tests/test_fused_nn.py).

The readable version is ``numpy.matmul(a, b, out=out)``; it is what runs for
small products (under ``MIN_WORK`` multiply-adds, where a thread hand-off
costs more than it saves), for non-NumPy arrays and with one thread.

Threads: ``set_num_threads(n)`` or ``MINIMLP_NN_THREADS`` (default
``min(2, cpu_count)``; 1 turns the split off and leaves BLAS alone).
While a split product runs, the BLAS libraries NumPy uses are set to one
thread (through threadpoolctl, when it is installed) and restored after.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MIN_WORK = 1 << 22  # multiply-adds (M·K·N) below which one plain call is faster
_threads = max(1, int(os.environ.get("MINIMLP_NN_THREADS", min(2, os.cpu_count() or 1))))
_pool = None
_pool_lock = threading.Lock()


def set_num_threads(n):
    """Use ``n`` (1 or 2) threads for large products; 1 means plain ``numpy.matmul``."""
    global _threads
    if int(n) < 1:
        raise ValueError(f"Invalid number of threads: {n} (must be >= 1)")
    _threads = min(2, int(n))


def get_num_threads():
    return _threads


def _executor():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(1, thread_name_prefix="minimlp-nn")
        return _pool


def _after_fork_in_child():
    """A forked child has none of the parent's threads: start a new pool there, and forget BLAS state."""
    global _pool, _pool_lock, _blas_lock
    _pool = None
    _pool_lock = threading.Lock()
    _blas_lock = threading.Lock()
    _blas.update(depth=0, saved=[])


def matmul(a, b, out):
    """``out[...] = a @ b`` for 2-d arrays, split by output columns across two threads when large."""
    m, k = a.shape
    n = b.shape[1]
    if (_threads == 1 or m * k * n < MIN_WORK or n < 2 or type(a) is not np.ndarray
            or type(b) is not np.ndarray or type(out) is not np.ndarray):
        return np.matmul(a, b, out=out)
    h = n // 2
    with blas_single_thread():
        helper = _executor().submit(np.matmul, a, b[:, h:], out=out[:, h:])
        try:
            np.matmul(a, b[:, :h], out=out[:, :h])
        finally:
            helper.result()
    return out


def run_pair(first, second):
    """Run ``first()`` here and ``second()`` on the helper thread, under single-threaded BLAS; wait for both."""
    with blas_single_thread():
        helper = _executor().submit(second)
        try:
            first()
        finally:
            helper.result()


# ------------------------------------------------------------ BLAS threads
_blas = {"controllers": None, "depth": 0, "saved": []}
_blas_lock = threading.Lock()


def _blas_controllers():
    if _blas["controllers"] is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas["controllers"] = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # threadpoolctl is optional: without it BLAS keeps its threads
            _blas["controllers"] = []
    return _blas["controllers"]


class blas_single_thread:
    """Context: NumPy's BLAS libraries on one thread; nested and concurrent uses restore once, at the last exit."""

    def __enter__(self):
        with _blas_lock:
            if _blas["depth"] == 0:
                saved = []
                for c in _blas_controllers():
                    n = c.get_num_threads()
                    if n != 1:
                        c.set_num_threads(1)
                        saved.append((c, n))
                _blas["saved"] = saved
            _blas["depth"] += 1
        return self

    def __exit__(self, *exc):
        with _blas_lock:
            _blas["depth"] -= 1
            if _blas["depth"] == 0:
                for c, n in _blas["saved"]:
                    c.set_num_threads(n)
                _blas["saved"] = []
        return False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
