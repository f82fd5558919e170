"""How many CPU threads minimlp's kernels use (as ``torch.set_num_threads`` does for torch).

The default is ``MINIMLP_NUM_THREADS`` when set, else the CPUs this process may use, at most 4: the
kernels are bound by memory bandwidth, which a few cores use up. The kernels share one pool of threads
(``minimlp.kernels.cpu.pool``); nothing here starts a thread or changes a library's setting.
"""
import os

from . import settings

MAX_DEFAULT = 4
_state = {"threads": None}


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
