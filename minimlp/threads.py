"""CPU threads: one pool for everything minimlp runs in parallel on the CPU.

minimlp's compiled kernels (optimizer updates, BatchNorm, the loss) and its
matrix products run their pieces side by side on Numba's thread pool
(``parallel=True`` functions, one piece per thread). The products call NumPy's
own OpenBLAS from inside that pool, one single-threaded call per piece
(``minimlp.nn.blas``, which sets OpenBLAS to one thread for the length of the
call and then back). One pool matters: two thread pools that each keep their
threads spinning between jobs (OpenBLAS's and an OpenMP runtime's) fight over
the cores, and on a 2-core machine a step then takes several times longer
(benchmarks/README.md).

Numba picks its threading layer as configured by the host program (minimlp
changes none of Numba's settings). Its OpenMP layer, whose threads wait for
the next job by spinning a moment, starts a parallel region in a few
microseconds, against about 50 on a layer whose threads sleep; where TBB is
installed Numba prefers TBB, and ``NUMBA_THREADING_LAYER=omp`` gives the
faster one.

``set_num_threads(n)`` sets how many threads minimlp uses (as
``torch.set_num_threads`` does for torch); the default is
``MINIMLP_NUM_THREADS`` when set, else the CPUs this process may use, at most
4 (the kernels are bound by memory bandwidth, which a few cores use up).
Each element of an element-wise update is computed by the same code whichever
piece holds it, and every column sum stays on one thread, so the compiled
kernels' results do not depend on the number of threads; the split products'
may, by rounding, on some CPUs (``minimlp.nn.blas``). ``launch`` sets Numba's
pool to the number of pieces for each parallel call, for the calling thread
only, and puts it back. In a child forked after minimlp ran parallel
work, everything runs on the calling thread: an OpenMP runtime does not
survive ``fork()`` (Numba kills a child that tries).
"""
import os

from . import settings

MAX_DEFAULT = 4
_state = {"threads": None, "pid": None}


def _default_threads():
    n = settings.num_threads()
    if n is not None:
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT, cpus))


def get_num_threads():
    """Threads minimlp uses on the CPU."""
    if _state["threads"] is None:
        _state["threads"] = _default_threads()
    return _state["threads"]


def set_num_threads(n):
    """Use ``n`` threads for minimlp's CPU kernels and matrix products."""
    n = int(n)
    if n < 1:
        raise ValueError(f"Invalid number of threads: {n} (must be >= 1)")
    _state["threads"] = n


def pieces(size, grain):
    """How many pieces to cut ``size`` items into: one per thread, each at least ``grain`` items.

    1 means "run on the calling thread": callers then skip the parallel launch.
    Always 1 in a child forked from a process that already launched parallel
    work (an OpenMP runtime is not fork-safe: Numba kills such a child).
    """
    n = min(get_num_threads(), size // max(1, grain))
    if n <= 1:
        return 1
    if _state["pid"] is None:
        _state["pid"] = os.getpid()
    elif _state["pid"] != os.getpid():
        return 1
    import numba
    return min(n, numba.get_num_threads())


def launch(pieces, kernel, *args):
    """``kernel(*args)``, a compiled function, with Numba's pool at ``pieces`` threads for the call.

    Numba's thread count is set for the calling thread only and put back
    afterwards, so the host's own setting is untouched, and a 64-core host
    wakes as many threads as there are pieces, not 64. With one piece the
    kernel just runs.
    """
    if pieces == 1:
        return kernel(*args)
    import numba
    previous = numba.get_num_threads()
    numba.set_num_threads(pieces)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(previous)
