"""Every environment variable minimlp reads, in one place (the data cache's folder is read in ``data.cache``).

============================  ==========================================================================
``MINIMLP_CPU_KERNELS``       ``numba`` (default): compiled CPU kernels where they apply; ``numpy``: the
                              readable formulas everywhere on the CPU (``minimlp.kernels``)
``MINIMLP_NUM_THREADS``       threads of minimlp's CPU kernels (default: the CPUs this process may use, at
                              most 4; ``minimlp.threads``)
``MINIMLP_DEVICE``            the device of ``resolve_device(None)`` (default ``cpu``) and of the colorizer's
                              command line (default ``auto``)
``MINIMLP_SHARED_DATA``       the shared CIFAR-10 archive, or the folder holding it (``minimlp.data``)
============================  ==========================================================================

Each is read when it is needed, not at import, so a test or a program may change it at run time.
"""
import os

CPU_KERNELS = ("numba", "numpy")
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_kernels():
    """'numba' or 'numpy', from ``MINIMLP_CPU_KERNELS``; anything else is an error naming the variable."""
    value = os.environ.get("MINIMLP_CPU_KERNELS") or "numba"
    if value not in CPU_KERNELS:
        raise ValueError(f"MINIMLP_CPU_KERNELS must be 'numba' or 'numpy', got {value!r}")
    return value


def num_threads():
    """``MINIMLP_NUM_THREADS`` as a positive int, or None when it is not set."""
    value = os.environ.get("MINIMLP_NUM_THREADS")
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"MINIMLP_NUM_THREADS must be a whole number >= 1, got {value!r}")
    return n


def device(default):
    """``MINIMLP_DEVICE``, or ``default`` when it is not set."""
    return os.environ.get("MINIMLP_DEVICE") or default


def shared_data():
    """``MINIMLP_SHARED_DATA`` (a path, unchecked), or None when it is not set."""
    return os.environ.get("MINIMLP_SHARED_DATA") or None


def check():
    """Read every variable that has rules, so that a wrong value is refused (naming the variable) before a
    program starts any work; return None."""
    cpu_kernels()
    num_threads()


def minimlp_variables():
    """Every ``MINIMLP_*`` variable of this process: what a worker started elsewhere must see too."""
    return {k: v for k, v in os.environ.items() if k.startswith("MINIMLP_")}


def one_blas_thread_for_children():
    """Set the BLAS libraries of child processes started from now on to one thread each (they read these
    variables when they load NumPy): on a busy machine, workers side by side on one thread each are faster
    than each on all of them."""
    os.environ.update({name: "1" for name in BLAS_THREAD_VARIABLES})
