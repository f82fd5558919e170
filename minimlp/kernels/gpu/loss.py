"""The squared-error loss on the GPU: its value in one reduction and its gradient in one pass, both read from ŷ
and y (the formula keeps ŷ − y, one pass more: ``minimlp.formulas.loss``, against which these are tested on
``tests/fake_cupy``). What the backward reads is (ŷ, y), so this backward serves this forward only."""
from functools import lru_cache

from ...backend import cupy_module

_BODIES = {
    "backward": ("T p, T t, T scale", "T g", "g = (p - t) * scale"),
    "elements": ("T p, T t", "T loss", "T d = p - t; loss = d * d"),
}


@lru_cache(maxsize=None)
def _kernel(name):
    cp = cupy_module()
    if name == "value":   # Σ (ŷ − y)² in double, scaled and rounded once
        return cp.ReductionKernel("T p, T t, float64 scale", "T total", "(double)(p - t) * (double)(p - t)", "a + b",
                                  "total = a * scale", "0", name="minimlp_squared_error", reduce_type="double")
    in_params, out_params, body = _BODIES[name]
    return cp.ElementwiseKernel(in_params, out_params, body, f"minimlp_squared_error_{name}")


KERNELS = ["value"] + list(_BODIES)


def squared_error(prediction, target, scale=1.0):
    """((ŷ, y), scale·Σ (ŷ − y)²), the loss a 0-d array."""
    return (prediction, target), _kernel("value")(prediction, target, float(scale))


def squared_error_elements(saved):
    return _kernel("elements")(*saved)


def squared_error_backward(saved, scale):
    prediction, target = saved
    return _kernel("backward")(prediction, target, prediction.dtype.type(2.0 * scale))
