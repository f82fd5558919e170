"""Finite-difference checks of hand-written backward passes (after Chainer's ``check_backward``).

The check works in float64 along random directions: for a scalar
φ(t) = ⟨G, f(x + t·d)⟩ with a random upstream gradient G and a random
direction d, the central difference (φ(ε) − φ(−ε)) / 2ε must equal the
analytic ⟨∂φ/∂x, d⟩ = ⟨backward(G), d⟩. Each input and each parameter is
checked on its own, so a failure names the variable whose gradient is wrong.
"""
import copy

import numpy as np

from .backend import get_array_module
from .random import get_rng_state, set_rng_state


class GradcheckError(AssertionError):
    """A backward pass disagrees with finite differences."""


def gradcheck(target, inputs, grad_output=None, eps=1e-6, atol=1e-8, rtol=1e-6, directions=3, seed=0,
              raise_exception=True):
    """Check ``target``'s backward against central finite differences, in float64.

    target: a ``Module`` (its input gradient and every parameter gradient are
        checked, on a float64 copy; the module itself is left untouched), or a
        pair ``(forward, backward)`` of functions where ``forward(*inputs)``
        returns one array and ``backward(G)`` returns the gradient of each input
        (an array, or a tuple of arrays for several inputs).
    inputs: an array or a tuple of arrays.
    Returns True; raises GradcheckError listing the failures (or returns False
    with ``raise_exception=False``).
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    rng = np.random.default_rng(seed)
    from .nn.module import Module
    if isinstance(target, Module):
        module = copy.deepcopy(target).to(dtype=np.float64)
        forward, backward = module.forward, module.backward
        params = module.named_parameters()
    else:
        forward, backward = target
        module = None
        params = []
    params = list(params)
    xs = [_float64(x) for x in inputs]
    xp = get_array_module(*xs)
    rng_state = get_rng_state()

    def run_forward(values):
        set_rng_state(rng_state)
        return forward(*values)

    y = run_forward(xs)
    G = xp.asarray(rng.standard_normal(y.shape)) if grad_output is None else _float64(grad_output)
    if module is not None:
        module.zero_grad()
    dxs = backward(G)
    if not isinstance(dxs, (tuple, list)):
        dxs = (dxs,)
    if len(dxs) != len(xs):
        raise GradcheckError(f"backward returned {len(dxs)} gradients for {len(xs)} inputs")

    def phi():
        return float(xp.sum(G * run_forward(xs)))

    failures = []
    variables = [(f"input {i}", xs[i], dxs[i]) for i in range(len(xs))]
    variables += [(name, p.data, p.grad if p.grad is not None else xp.zeros_like(p.data)) for name, p in params]
    for name, value, analytic_grad in variables:
        if analytic_grad is None or tuple(analytic_grad.shape) != tuple(value.shape):
            failures.append(f"{name}: backward gave shape {None if analytic_grad is None else analytic_grad.shape}, "
                            f"expected {value.shape}")
            continue
        for _ in range(directions):
            d = xp.asarray(rng.standard_normal(value.shape))
            original = value.copy()
            value += eps * d
            plus = phi()
            value[...] = original - eps * d
            minus = phi()
            value[...] = original
            numeric = (plus - minus) / (2 * eps)
            analytic = float(xp.sum(analytic_grad * d))
            if abs(numeric - analytic) > atol + rtol * max(abs(numeric), abs(analytic)):
                failures.append(f"{name}: finite difference {numeric:.10g} vs backward {analytic:.10g} "
                                f"(difference {abs(numeric - analytic):.3g})")
                break
    set_rng_state(rng_state)
    if failures:
        if raise_exception:
            raise GradcheckError("gradcheck failed:\n  " + "\n  ".join(failures))
        return False
    return True


def _float64(x):
    xp = get_array_module(x)
    if getattr(x, "dtype", None) is None or x.dtype.kind != "f":
        raise TypeError(f"gradcheck needs floating-point inputs, got {getattr(x, 'dtype', type(x).__name__)}")
    return xp.array(x, dtype=np.float64, copy=True)


__all__ = ["gradcheck", "GradcheckError"]
