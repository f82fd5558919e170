"""The squared-error loss on the GPU: its value in two reductions and its gradient in one pass, both read from ŷ
and y (the formula writes ŷ − y, takes its dot product and scales it, then scales the difference back:
``minimlp.formulas.loss``, against which these are tested on ``tests/fake_cupy``). What the backward reads is
(ŷ, y), so this backward serves this forward only.

The value takes two reductions because CuPy runs a ``ReductionKernel`` with one output on one block of threads:
the first sums each sample's (ŷ − y)² (one block per sample, in double), the second adds those N sums and
applies the mean's 1/M, rounding once to the prediction's dtype.
"""
from functools import lru_cache

from ...backend import cupy_module

_BODIES = {
    "backward": ("T p, T t, T scale", "T g", "g = (p - t) * scale"),
    "elements": ("T p, T t", "T loss", "T d = p - t; loss = d * d"),
}


@lru_cache(maxsize=None)
def _kernel(name):
    cp = cupy_module()
    if name == "sample_sums":
        return cp.ReductionKernel("T p, T t", "float64 total", "(double)(p - t) * (double)(p - t)", "a + b",
                                  "total = a", "0", name="minimlp_squared_error_samples", reduce_type="double")
    if name == "value":
        return cp.ReductionKernel("float64 sums, float64 scale", "T total", "sums", "a + b", "total = a * scale", "0",
                                  name="minimlp_squared_error", reduce_type="double")
    in_params, out_params, body = _BODIES[name]
    return cp.ElementwiseKernel(in_params, out_params, body, f"minimlp_squared_error_{name}")


KERNELS = ["sample_sums", "value"] + list(_BODIES)


def squared_error(prediction, target, scale=1.0):
    """((ŷ, y), scale·Σ (ŷ − y)²), the loss a 0-d array."""
    sums = _kernel("sample_sums")(prediction, target, axis=tuple(range(1, prediction.ndim)))
    total = cupy_module().empty((), prediction.dtype)
    _kernel("value")(sums, float(scale), total)
    return (prediction, target), total


def squared_error_elements(saved):
    return _kernel("elements")(*saved)


def squared_error_backward(saved, scale):
    prediction, target = saved
    return _kernel("backward")(prediction, target, prediction.dtype.type(2.0 * scale))
