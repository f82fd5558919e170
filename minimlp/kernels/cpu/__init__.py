"""Kernels for NumPy arrays: Numba loops and calls into NumPy's own OpenBLAS (imported when first used)."""
