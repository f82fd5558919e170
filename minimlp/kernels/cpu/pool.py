"""One pool of threads for every parallel CPU kernel: Numba's, the work cut into one piece per thread.

Why one pool, and what the number of threads changes: docs/kernels.md.
"""
import os

from ... import threads

_parent = {"pid": None}


def pieces(size, grain):
    """How many pieces to cut ``size`` items into: one per thread, each at least ``grain`` items.

    1 means "run on the calling thread", and always in a child forked from a process that already
    launched parallel work.
    """
    n = min(threads.get_num_threads(), size // max(1, grain))
    if n <= 1:
        return 1
    if _parent["pid"] is None:
        _parent["pid"] = os.getpid()
    elif _parent["pid"] != os.getpid():
        return 1
    import numba   # here, not at the top: a module that only asks how to split (blas) loads no compiler
    return min(n, numba.get_num_threads())


def launch(count, kernel, *args):
    """``kernel(*args)``, a compiled function, with Numba's pool at ``count`` threads for the call.

    Numba's thread count is set for the calling thread only and put back afterwards, so the host's own
    setting is untouched and a 64-core host wakes as many threads as there are pieces. With one piece the
    kernel just runs.
    """
    if count == 1:
        return kernel(*args)
    import numba
    previous = numba.get_num_threads()
    numba.set_num_threads(count)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(previous)


def by_columns(kernel, kernel_pieces, grain, x, *args):
    """``kernel(x, *args, lo, hi)`` over all of x's columns (axis 1): in one call, or cut into pieces of at least
    ``grain`` elements run by ``kernel_pieces(pieces, x, *args)`` on the pool."""
    n_cols = x.shape[1]
    parts = pieces(n_cols, max(1, grain // max(1, x.size // max(1, n_cols))))
    if parts == 1:
        kernel(x, *args, 0, n_cols)
    else:
        launch(parts, kernel_pieces, parts, x, *args)


def flat(kernel, kernel_pieces, grain, *args):
    """``kernel(*args)`` over flat arrays (the first sets the size): in one call, or in pieces on the pool."""
    parts = pieces(args[0].size, grain)
    if parts == 1:
        kernel(*args)
    else:
        launch(parts, kernel_pieces, parts, *args)
