"""BatchNorm's training passes on the GPU in four kernels each way (the formula takes about 17 forward, 12 back).

Forward: μ and σ² as two reductions over every axis but the channel's (summed in double, as the formula's
float64 sums), 1/√(σ² + ε) on the C channels, then one element-wise pass writing x̂ and y = γ x̂ + β (and the
ReLU, for ``forward_train_relu``). Backward: Σ G and Σ G·x̂ as two reductions written into the parameters'
gradients, then one pass for ∂L/∂x (the ReLU's mask recomputed from x̂ inside each, for ``backward_train_relu``).
The maths is ``minimlp.formulas.batch_norm``; these are tested against it on ``tests/fake_cupy``.
"""
from functools import lru_cache

from ...backend import cupy_module
from ...formulas.batch_norm import _channel, _others

_SUM = dict(reduce_expr="a + b", identity="0", reduce_type="double")


@lru_cache(maxsize=None)
def _kernel(name):
    cp = cupy_module()
    if name == "mean":
        return cp.ReductionKernel("T x, float64 inv_m", "T mean", "(double)x", post_map_expr="mean = a * inv_m",
                                  name="minimlp_bn_mean", **_SUM)
    if name == "var":
        return cp.ReductionKernel("T x, T mean, float64 inv_m", "T var",
                                  "((double)x - (double)mean) * ((double)x - (double)mean)",
                                  post_map_expr="var = a * inv_m", name="minimlp_bn_var", **_SUM)
    if name == "inv_std":
        return cp.ElementwiseKernel("T var, float64 eps", "T inv_std", "inv_std = 1 / sqrt(var + (T)eps)",
                                    "minimlp_bn_inv_std")
    if name in ("normalize", "normalize_relu"):
        return cp.ElementwiseKernel(
            "T x, T mean, T inv_std, T gamma, T beta", "T xhat, T y",
            "xhat = (x - mean) * inv_std; y = gamma * xhat + beta;"
            + (" y = y < 0 ? (T)0 : y;" if name == "normalize_relu" else ""), f"minimlp_bn_{name}")
    if name in ("sum_g", "sum_g_relu"):
        g = "((gamma * xhat + beta <= 0) ? 0.0 : (double)g)" if name == "sum_g_relu" else "(double)g"
        return cp.ReductionKernel("T g, T xhat, T gamma, T beta", "T sum_g", g, post_map_expr="sum_g = a",
                                  name=f"minimlp_bn_{name}", **_SUM)
    if name in ("sum_gx", "sum_gx_relu"):
        g = "((gamma * xhat + beta <= 0) ? 0.0 : (double)g)" if name == "sum_gx_relu" else "(double)g"
        return cp.ReductionKernel("T g, T xhat, T gamma, T beta", "T sum_gx", f"{g} * (double)xhat",
                                  post_map_expr="sum_gx = a", name=f"minimlp_bn_{name}", **_SUM)
    if name in ("dx", "dx_relu"):
        g = "((gamma * xhat + beta <= 0) ? (T)0 : g)" if name == "dx_relu" else "g"
        return cp.ElementwiseKernel(
            "T g, T xhat, T gamma, T beta, T inv_std, T sum_g, T sum_gx, T inv_m", "T dx",
            f"dx = gamma * inv_std * ({g} - (xhat * (sum_gx * inv_m) + sum_g * inv_m))", f"minimlp_bn_{name}")
    if name == "running":
        return cp.ElementwiseKernel(
            "T mean, T var, T keep, T momentum, T var_momentum", "T running_mean, T running_var",
            "running_mean = running_mean * keep + momentum * mean;"
            "running_var = running_var * keep + var_momentum * var;", "minimlp_bn_running")
    raise KeyError(name)


def _statistics(x, eps):
    axes = _others(x)
    inv_m = x.shape[1] / x.size
    mean = _kernel("mean")(x, inv_m, axis=axes)
    var = _kernel("var")(x, _channel(mean, x), inv_m, axis=axes)
    return mean, var, _kernel("inv_std")(var, float(eps))


def _forward(x, weight, bias, eps, name):
    mean, var, inv_std = _statistics(x, eps)
    xp = cupy_module()
    xhat, y = xp.empty_like(x), xp.empty_like(x)
    beta = x.dtype.type(0) if bias is None else _channel(bias, x)
    _kernel(name)(x, _channel(mean, x), _channel(inv_std, x), _channel(weight, x), beta, xhat, y)
    return y, (xhat, inv_std), mean, var


def forward_train(x, weight, bias, eps):
    return _forward(x, weight, bias, eps, "normalize")


def forward_train_relu(x, weight, bias, eps):
    return _forward(x, weight, bias, eps, "normalize_relu")


def _backward(g, saved, weight, bias, want_dx, relu):
    xhat, inv_std = saved
    suffix = "_relu" if relu else ""
    axes = _others(g)
    gamma = _channel(weight.data, g)
    beta = g.dtype.type(0) if bias is None else _channel(bias.data, g)
    sums = {}
    for name, param in (("sum_g", bias), ("sum_gx", weight)):
        kernel = _kernel(name + suffix)
        out, add = param.grad_target() if param is not None else (None, True)
        if add:
            sums[name] = kernel(g, xhat, gamma, beta, axis=axes)
            if param is not None:
                param.accumulate(sums[name])
        else:
            sums[name] = kernel(g, xhat, gamma, beta, out=out, axis=axes)
    if not want_dx:
        return None
    dx = cupy_module().empty_like(g)
    _kernel("dx" + suffix)(g, xhat, gamma, beta, _channel(inv_std, g), _channel(sums["sum_g"], g),
                           _channel(sums["sum_gx"], g), g.dtype.type(inv_std.size / g.size), dx)
    return dx


def backward_train(g, saved, weight, bias, want_dx=True):
    return _backward(g, saved, weight, bias, want_dx, relu=False)


def backward_train_relu(g, saved, weight, bias, want_dx=True):
    return _backward(g, saved, weight, bias, want_dx, relu=True)


def update_running_stats(running_mean, running_var, mean, var, count, momentum):
    t = running_mean.dtype.type
    _kernel("running")(mean, var, t(1.0 - momentum), t(momentum), t(momentum * count / (count - 1)),
                       running_mean, running_var)
