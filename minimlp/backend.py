"""Choosing between NumPy (CPU) and CuPy (GPU).

Every operation picks its array module from the arrays it is given
(``get_array_module``), as Chainer and DeZero do, so one code path serves both
backends. A model is built on the CPU and moved with ``model.to("cpu" | "gpu" |
"auto")``; ``resolve_device(None)`` reads ``MINIMLP_DEVICE`` (``minimlp.settings``).
"""
import sys
import warnings

import numpy as np

from . import settings

_GPU_NAMES = ("gpu", "cuda")
_CPU_NAMES = ("cpu", "numpy")
_cupy = None
_gpu_error = None


class DeviceError(RuntimeError):
    """The device that was asked for cannot be used here."""


def _probe_gpu():
    """Import CuPy and touch the GPU once; remember why it failed, if it did."""
    global _cupy, _gpu_error
    if _cupy is not None or _gpu_error is not None:
        return
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        _gpu_error = f"CuPy is not installed ({exc.__class__.__name__}: {exc})"
        return
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            raise RuntimeError("no CUDA device found")
        cupy.zeros(1, dtype=cupy.float32) + 1
    except Exception as exc:
        _gpu_error = f"CuPy is installed but no GPU works ({exc.__class__.__name__}: {exc})"
        return
    _cupy = cupy
    _apply_matmul_precision(cupy)


def gpu_available():
    """True when CuPy imports and a GPU answers."""
    _probe_gpu()
    return _cupy is not None


def gpu_unavailable_reason():
    """Why the GPU cannot be used, or None when it can."""
    _probe_gpu()
    return _gpu_error


def cupy_module():
    """The cupy module; raises DeviceError saying why when the GPU cannot be used."""
    _probe_gpu()
    if _cupy is None:
        raise DeviceError(
            f"device 'gpu' was requested but {_gpu_error}. Install the GPU extra with "
            "`pip install -e .[gpu]` (CuPy for CUDA 12) on a machine with an NVIDIA GPU, "
            "or use device='cpu' (or 'auto' to fall back to the CPU).")
    return _cupy


# torch on CUDA: "high" and "medium" both allow TF32 (CuPy 14's COMPUTE_TYPE_BF16 does nothing for float32 GEMMs)
_COMPUTE_TYPES = {"highest": "COMPUTE_TYPE_DEFAULT", "high": "COMPUTE_TYPE_TF32", "medium": "COMPUTE_TYPE_TF32"}
_matmul_precision = {"precision": "highest", "asked": False}


def get_float32_matmul_precision():
    """The precision of the GPU's float32 products last set: "highest" (the default), "high" or "medium"."""
    return _matmul_precision["precision"]


def set_float32_matmul_precision(precision):
    """torch's switch for the GPU's float32 products (cuBLAS, through CuPy; the Linear and convolution layers).

    "highest", the default: computed in float32. "high": cuBLAS may round their inputs to TF32 (10 bits of
    mantissa instead of 23: relative errors near 1e-3, on Ampere GPUs and newer, which run them on tensor cores).
    "medium": the same as "high", as torch on CUDA (CuPy has no bfloat16 mode for float32 products). As torch,
    any other value warns and changes nothing. NumPy's products on the CPU have no such mode and stay float32.
    Nothing changes unless a program asks: until this is called, CuPy's own setting (``CUPY_TF32=1`` in the
    environment) is left alone.
    """
    if precision not in _COMPUTE_TYPES:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      f"set_float32_matmul_precision call has no effect.", UserWarning, stacklevel=2)
        return
    _matmul_precision.update(precision=precision, asked=True)
    if _cupy is not None:
        _apply_matmul_precision(_cupy)


def _apply_matmul_precision(cp):
    """Give CuPy the precision asked for (when CuPy is loaded, and at each change); nothing if none was asked."""
    if _matmul_precision["asked"]:
        codes = cp._core._routines_linalg
        cp._core.set_compute_type(np.float32, getattr(codes, _COMPUTE_TYPES[_matmul_precision["precision"]]))


def resolve_device(device=None, announce=False):
    """Turn 'cpu' | 'gpu' | 'cuda' | 'auto' | None into 'cpu' or 'gpu'.

    None reads ``MINIMLP_DEVICE`` (default 'cpu'). 'auto' picks the GPU when it
    works, else the CPU, and with ``announce=True`` prints which and why.
    An explicit 'gpu' where none works raises DeviceError.
    """
    if device is None:
        device = settings.device("cpu")
    name = str(device).lower()
    if name.startswith("cuda:") or name.startswith("gpu:"):
        name = name.split(":")[0]
    if name in _CPU_NAMES:
        return "cpu"
    if name in _GPU_NAMES:
        cupy_module()
        return "gpu"
    if name == "auto":
        if gpu_available():
            picked = "gpu"
            why = "CuPy and a GPU work"
        else:
            picked = "cpu"
            why = gpu_unavailable_reason()
        if announce:
            print(f"minimlp: device 'auto' picked {picked} ({why})", file=sys.stderr)
        return picked
    raise ValueError(f"unknown device {device!r}: use 'cpu', 'gpu' (or 'cuda') or 'auto'")


def get_array_module(*arrays):
    """numpy, or cupy when any of the arrays is a CuPy array."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            return cupy_module()
    return np


def device_of(array):
    """'gpu' for a CuPy array, 'cpu' otherwise."""
    return "gpu" if type(array).__module__.startswith("cupy") else "cpu"


def xp_for(device):
    """The array module for a resolved device name."""
    return cupy_module() if resolve_device(device) == "gpu" else np


def to_device(array, device):
    """Copy an array to 'cpu' (NumPy) or 'gpu' (CuPy); a no-op when already there."""
    device = resolve_device(device)
    if device == "gpu":
        cp = cupy_module()
        return cp.asarray(array)
    return to_numpy(array)


def to_numpy(array):
    """A NumPy array for any NumPy or CuPy array (copies from the GPU)."""
    if type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)
