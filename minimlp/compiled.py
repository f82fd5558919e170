"""Which CPU kernels run: the compiled Numba twins (default) or the readable NumPy code.

``MINIMLP_CPU_KERNELS=numpy`` turns the compiled kernels off everywhere (the
optimizers' updates and the layers' element-wise work); so does a missing or
broken Numba. Read at each call, so tests and users may switch it at run time.
"""
import importlib

from . import settings

_numba_ok = None


def choice(value=None):
    """'numba' or 'numpy': ``value`` checked, or ``MINIMLP_CPU_KERNELS`` (default 'numba')."""
    if value is None:
        return settings.cpu_kernels()
    if value not in settings.CPU_KERNELS:
        raise ValueError(f"MINIMLP_CPU_KERNELS must be 'numba' or 'numpy', got {value!r}")
    return value


def numba_available():
    global _numba_ok
    if _numba_ok is None:
        try:
            importlib.import_module("numba")
            _numba_ok = True
        except Exception:  # not installed, or installed against another NumPy
            _numba_ok = False
    return _numba_ok


def use_compiled():
    """True when the compiled kernels should run."""
    return choice() == "numba" and numba_available()


def layer_kernels(array):
    """``minimlp.nn.fused_numba`` for a NumPy array when compiled kernels are on, else None."""
    if type(array).__module__ != "numpy" or not use_compiled():
        return None
    from .nn import fused_numba
    return fused_numba
