"""torch's ``set_float32_matmul_precision`` for the GPU's float32 products (cuBLAS, through CuPy).

"highest", the default: float32 products are computed in float32. "high": cuBLAS may round their inputs to TF32
(10 bits of mantissa instead of 23: relative errors near 1e-3, on Ampere GPUs and newer, where it runs the
products on tensor cores). "medium": to bfloat16. The convolutions and Linear layers are such products.
NumPy's products on the CPU have no such mode and stay float32 whatever is set. Nothing changes unless a
program asks: minimlp leaves CuPy's own setting (``CUPY_TF32=1`` in the environment) alone until this is called.
"""
import warnings

import numpy as np

from . import backend

_COMPUTE_TYPES = {"highest": "COMPUTE_TYPE_DEFAULT", "high": "COMPUTE_TYPE_TF32", "medium": "COMPUTE_TYPE_BF16"}
_state = {"precision": "highest", "asked": False}


def get_float32_matmul_precision():
    """The precision last set: "highest" (the default), "high" or "medium"."""
    return _state["precision"]


def set_float32_matmul_precision(precision):
    """Let the GPU's float32 products round their inputs to TF32 ("high") or bfloat16 ("medium"), or not
    ("highest"). As torch, any other value warns and changes nothing."""
    if precision not in _COMPUTE_TYPES:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      f"set_float32_matmul_precision call has no effect.", UserWarning, stacklevel=2)
        return
    _state.update(precision=precision, asked=True)
    if backend.gpu_loaded():
        apply(backend.cupy_module())


def apply(cp):
    """Give CuPy the precision asked for (when CuPy is loaded, and at each change); nothing if none was asked."""
    if _state["asked"]:
        codes = cp._core._routines_linalg
        cp._core.set_compute_type(np.float32, getattr(codes, _COMPUTE_TYPES[_state["precision"]]))
