"""Keep freed memory for reuse instead of handing it back to the OS at every step (glibc only).

``keep_freed_memory()`` raises malloc's thresholds with ``mallopt``: it changes the whole process's allocator,
so minimlp never calls it on import; ``minimlp-colorize`` and the benchmarks do. Measurements: docs/kernels.md.
"""
import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20   # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory():
    """Apply the thresholds; returns True when glibc accepted them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

