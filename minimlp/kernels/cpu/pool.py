"""One pool of threads for every parallel CPU kernel: Numba's, cut into one piece per thread.

The products call NumPy's own OpenBLAS from inside the pool, one single-threaded call per piece
(``blas``): two pools that each keep their threads spinning between jobs (OpenBLAS's and an OpenMP
runtime's) fight over the cores, and on a 2-core machine a step then takes several times longer
(benchmarks/README.md).

Numba picks its threading layer as the host program configured it (minimlp changes none of Numba's
settings); its OpenMP layer starts a parallel region in a few microseconds, against about 50 on a layer
whose threads sleep, and ``NUMBA_THREADING_LAYER=omp`` selects it where TBB is also installed. Each
element of an element-wise kernel is computed by the same code whichever piece holds it, and every
column sum stays on one thread, so those kernels' results do not depend on the number of threads; the
split products' may, by rounding, on some CPUs (``blas``). In a child forked after minimlp ran parallel
work everything runs on the calling thread: an OpenMP runtime does not survive ``fork()`` (Numba kills
a child that tries).
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
    """``kernel(x, *args, lo, hi)`` over all of 2-d x's columns: in one call, or cut into pieces of at least
    ``grain`` elements run by ``kernel_pieces(pieces, x, *args)`` on the pool."""
    n_rows, n_cols = x.shape
    parts = pieces(n_cols, max(1, grain // max(1, n_rows)))
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
