"""BatchNorm's training passes on the GPU: three kernels forward, two back, its activation inside them.

Forward: μ as one reduction, σ² with 1/√(σ² + ε) as a second (both summed in double, as the formula's float64
sums, two passes as the formula's), then one element-wise pass writing x̂ and y = γ x̂ + β, or the activation
of it: ReLU, sigmoid or tanh (``forward_train_relu``, ``…_sigmoid``, ``…_tanh``, for a BatchNorm followed by
that layer, ``nn.fusion``). The running statistics and the batch count move in one more kernel. Backward: Σ G and
Σ G·x̂ as one reduction of pairs written into the parameters' gradients, then one pass for ∂L/∂x; with an
activation, G is first multiplied by its derivative inside both (ReLU's mask found again from x̂, the sigmoid's
y(1 − y) and tanh's 1 − y² from the output y kept by the forward). The maths is ``minimlp.formulas.batch_norm``;
these are tested against it on ``tests/fake_cupy`` and compiled by nvcc there.
"""
from functools import lru_cache

from ...backend import cupy_module
from ...formulas.batch_norm import _channel, _others

_SUM = dict(reduce_expr="a + b", identity="0", reduce_type="double")
_PAIR_SUM = dict(reduce_expr="make_double2(a.x + b.x, a.y + b.y)", identity="make_double2(0, 0)",
                 reduce_type="double2")

# y from p = γ x̂ + β, and G·f'(p) from G (the activation's derivative), per activation
_OUTPUT = {"": "", "relu": " y = y < 0 ? (T)0 : y;", "sigmoid": " y = (tanh(y * (T)0.5) + 1) * (T)0.5;",
           "tanh": " y = tanh(y);"}
_GRADIENT = {"": "g", "relu": "((gamma * xhat + beta <= 0) ? (T)0 : g)", "sigmoid": "((1 - y) * y * g)",
             "tanh": "((1 - y * y) * g)"}
_KEEPS_OUTPUT = ("sigmoid", "tanh")        # their derivative is read from y


@lru_cache(maxsize=None)
def _kernel(name, activation=""):
    cp = cupy_module()
    suffix = f"_{activation}" if activation else ""
    if name == "mean":
        return cp.ReductionKernel("T x, float64 inv_m", "T mean", "(double)x", post_map_expr="mean = a * inv_m",
                                  name="minimlp_bn_mean", **_SUM)
    if name == "var":
        return cp.ReductionKernel("T x, T mean, float64 inv_m, float64 eps", "T var, T inv_std",
                                  "((double)x - (double)mean) * ((double)x - (double)mean)",
                                  post_map_expr="var = a * inv_m, inv_std = 1 / sqrt(var + (T)eps)",
                                  name="minimlp_bn_var", **_SUM)
    if name == "normalize":
        return cp.ElementwiseKernel(
            "T x, T mean, T inv_std, T gamma, T beta", "T xhat, T y",
            "xhat = (x - mean) * inv_std; y = gamma * xhat + beta;" + _OUTPUT[activation],
            f"minimlp_bn_normalize{suffix}")
    y = ", T y" if activation in _KEEPS_OUTPUT else ""
    gradient = _GRADIENT[activation]
    if name == "sums":
        return cp.ReductionKernel(f"T g, T xhat, T gamma, T beta{y}", "T sum_g, T sum_gx",
                                  f"make_double2((double){gradient}, (double){gradient} * (double)xhat)",
                                  post_map_expr="sum_g = a.x, sum_gx = a.y", name=f"minimlp_bn_sums{suffix}",
                                  **_PAIR_SUM)
    if name == "dx":
        return cp.ElementwiseKernel(
            f"T g, T xhat, T gamma, T beta{y}, T inv_std, T sum_g, T sum_gx, T inv_m", "T dx",
            f"dx = gamma * inv_std * ({gradient} - (xhat * (sum_gx * inv_m) + sum_g * inv_m))",
            f"minimlp_bn_dx{suffix}")
    if name == "running":
        return cp.ElementwiseKernel(
            "T mean, T var, T keep, T momentum, T var_momentum", "T running_mean, T running_var, raw int64 batches",
            "running_mean = running_mean * keep + momentum * mean;"
            "running_var = running_var * keep + var_momentum * var;"
            "if (i == 0) batches[0] += 1", "minimlp_bn_running")
    raise KeyError(name)


KERNELS = [("mean", ""), ("var", ""), ("running", "")] + [
    (name, activation) for name in ("normalize", "sums", "dx") for activation in _OUTPUT]


def _forward(x, weight, bias, eps, activation):
    xp = cupy_module()
    axes = _others(x)
    inv_m = x.shape[1] / x.size
    mean = _kernel("mean")(x, inv_m, axis=axes)
    var, inv_std = xp.empty_like(mean), xp.empty_like(mean)
    _kernel("var")(x, _channel(mean, x), inv_m, float(eps), var, inv_std, axis=axes)
    xhat, y = xp.empty_like(x), xp.empty_like(x)
    beta = x.dtype.type(0) if bias is None else _channel(bias, x)
    _kernel("normalize", activation)(x, _channel(mean, x), _channel(inv_std, x), _channel(weight, x), beta, xhat, y)
    saved = (xhat, inv_std, y) if activation in _KEEPS_OUTPUT else (xhat, inv_std)
    return y, saved, mean, var


def forward_train(x, weight, bias, eps):
    return _forward(x, weight, bias, eps, "")


def forward_train_relu(x, weight, bias, eps):
    return _forward(x, weight, bias, eps, "relu")


def forward_train_sigmoid(x, weight, bias, eps):
    return _forward(x, weight, bias, eps, "sigmoid")


def forward_train_tanh(x, weight, bias, eps):
    return _forward(x, weight, bias, eps, "tanh")


def _backward(g, saved, weight, bias, want_dx, activation):
    xp = cupy_module()
    xhat, inv_std = saved[:2]
    kept = saved[2:]                                    # y, for an activation whose derivative reads it
    gamma = _channel(weight.data, g)
    beta = g.dtype.type(0) if bias is None else _channel(bias.data, g)
    targets = [param.grad_target() if param is not None else (None, True) for param in (bias, weight)]
    sum_g, sum_gx = (xp.empty_like(inv_std) if add else out for out, add in targets)
    _kernel("sums", activation)(g, xhat, gamma, beta, *kept, sum_g, sum_gx, axis=_others(g))
    for param, (_, add), total in zip((bias, weight), targets, (sum_g, sum_gx)):
        if add and param is not None:
            param.accumulate(total)
    if not want_dx:
        return None
    dx = xp.empty_like(g)
    _kernel("dx", activation)(g, xhat, gamma, beta, *kept, _channel(inv_std, g), _channel(sum_g, g),
                              _channel(sum_gx, g), g.dtype.type(inv_std.size / g.size), dx)
    return dx


def backward_train(g, saved, weight, bias, want_dx=True):
    return _backward(g, saved, weight, bias, want_dx, "")


def backward_train_relu(g, saved, weight, bias, want_dx=True):
    return _backward(g, saved, weight, bias, want_dx, "relu")


def backward_train_sigmoid(g, saved, weight, bias, want_dx=True):
    return _backward(g, saved, weight, bias, want_dx, "sigmoid")


def backward_train_tanh(g, saved, weight, bias, want_dx=True):
    return _backward(g, saved, weight, bias, want_dx, "tanh")


def update_running_stats(running_mean, running_var, mean, var, count, momentum, batches):
    t = running_mean.dtype.type
    _kernel("running")(mean, var, t(1.0 - momentum), t(momentum), t(momentum * count / (count - 1)),
                       running_mean, running_var, batches.reshape(1))   # raw output: CuPy's raw inputs are const
