"""Kernels for CuPy arrays (imported when first used)."""
