"""BatchNorm's training passes on the GPU: two kernels forward, two back, its activation inside them.

Forward: μ and σ² in one reduction (Welford's running mean and sum of squared deviations, merged pairwise as in
Chan, Golub and LeVeque, in double: one pass over x, with none of Σx² − (Σx)²/M's cancellation), whose
post-map also makes 1/√(σ² + ε) and moves the running statistics; x may arrive without the bias of the layer
before, added in both passes instead (``shift``, ``nn.fusion``); then one element-wise pass writing x̂ and
y = γ x̂ + β, or the activation of it: ReLU, sigmoid or tanh (``forward_train_relu``, ``…_sigmoid``, ``…_tanh``,
for a BatchNorm followed by that layer, ``nn.fusion``), its first element counting the batch. Backward: Σ G and
Σ G·x̂ as one reduction of pairs written into the parameters' gradients, then one pass for ∂L/∂x; with an
activation, G is first multiplied by its derivative inside both (ReLU's mask found again from x̂, the sigmoid's
y(1 − y) and tanh's 1 − y² from the output y kept by the forward). The maths is ``minimlp.formulas.batch_norm``;
these are tested against it on ``tests/fake_cupy`` and compiled by nvcc there, the merge also run by the host.
"""
from functools import lru_cache

from ...backend import cupy_module
from ...formulas.batch_norm import _channel, _others

# (count, mean, M2) of two parts merged: M2 = Σ (x − mean)² over the part
WELFORD = """
__host__ __device__ double3 minimlp_welford(const double3& a, const double3& b) {
    const double n = a.x + b.x;
    if (n == 0) return a;
    const double d = b.y - a.y, w = b.x / n;
    return make_double3(n, a.y + d * w, a.z + b.z + d * d * a.x * w);
}
"""
_PAIR_SUM = dict(reduce_expr="make_double2(a.x + b.x, a.y + b.y)", identity="make_double2(0, 0)",
                 reduce_type="double2")
_RUNNING = (", float64 keep, float64 momentum, float64 var_momentum", ", T running_mean, T running_var",
            ", running_mean = running_mean * (T)keep + (T)momentum * mean,"
            " running_var = running_var * (T)keep + (T)var_momentum * var")

# y from p = γ x̂ + β, and G·f'(p) from G (the activation's derivative), per activation
_OUTPUT = {"": "", "relu": " y = y < 0 ? (T)0 : y;", "sigmoid": " y = (tanh(y * (T)0.5) + 1) * (T)0.5;",
           "tanh": " y = tanh(y);"}
_GRADIENT = {"": "g", "relu": "((gamma * xhat + beta <= 0) ? (T)0 : g)", "sigmoid": "((1 - y) * y * g)",
             "tanh": "((1 - y * y) * g)"}
_KEEPS_OUTPUT = ("sigmoid", "tanh")        # their derivative is read from y


@lru_cache(maxsize=None)
def _kernel(name, activation="", tracking=False):
    cp = cupy_module()
    suffix = f"_{activation}" if activation else ""
    if name == "statistics":
        scalars, outputs, post = _RUNNING if tracking else ("", "", "")
        return cp.ReductionKernel(f"T x, T shift, float64 eps{scalars}", f"T mean, T var, T inv_std{outputs}",
                                  "make_double3(1, (double)(T)(x + shift), 0)", "minimlp_welford(a, b)",
                                  "mean = a.y, var = a.z / a.x, inv_std = 1 / sqrt(var + (T)eps)" + post,
                                  "make_double3(0, 0, 0)", name="minimlp_bn_statistics" + ("_tracking" * tracking),
                                  reduce_type="double3", preamble=WELFORD)
    if name == "normalize":
        count = ", raw int64 batches" if tracking else ""
        return cp.ElementwiseKernel(
            "T x, T shift, T mean, T inv_std, T gamma, T beta", "T xhat, T y" + count,
            "T v = x + shift; xhat = (v - mean) * inv_std; y = gamma * xhat + beta;" + _OUTPUT[activation]
            + (" if (i == 0) batches[0] += 1;" if tracking else ""),
            f"minimlp_bn_normalize{suffix}" + ("_tracking" * tracking))
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
    raise KeyError(name)


KERNELS = [("statistics", "", tracking) for tracking in (False, True)] + [
    ("normalize", activation, tracking) for activation in _OUTPUT for tracking in (False, True)] + [
    (name, activation) for name in ("sums", "dx") for activation in _OUTPUT]


def _forward(x, weight, bias, eps, activation, running, shift):
    xp = cupy_module()
    axes = _others(x)
    shift = x.dtype.type(0) if shift is None else _channel(shift, x)     # the bias of the layer before
    mean, var, inv_std = (xp.empty(x.shape[1], x.dtype) for _ in range(3))
    tracking = running is not None
    moved = ()
    if tracking:
        running_mean, running_var, momentum, batches = running
        count = x.size // x.shape[1]
        moved = (1.0 - momentum, float(momentum), momentum * count / (count - 1))
    _kernel("statistics", "", tracking)(x, shift, float(eps), *moved, mean, var, inv_std,
                                        *((running_mean, running_var) if tracking else ()), axis=axes)
    xhat, y = xp.empty_like(x), xp.empty_like(x)
    beta = x.dtype.type(0) if bias is None else _channel(bias, x)
    _kernel("normalize", activation, tracking)(x, shift, _channel(mean, x), _channel(inv_std, x), _channel(weight, x),
                                               beta, xhat, y, *((batches.reshape(1),) if tracking else ()))
    saved = (xhat, inv_std, y) if activation in _KEEPS_OUTPUT else (xhat, inv_std)
    return y, saved, mean, var


def forward_train(x, weight, bias, eps, running=None, shift=None):
    return _forward(x, weight, bias, eps, "", running, shift)


def forward_train_relu(x, weight, bias, eps, running=None, shift=None):
    return _forward(x, weight, bias, eps, "relu", running, shift)


def forward_train_sigmoid(x, weight, bias, eps, running=None, shift=None):
    return _forward(x, weight, bias, eps, "sigmoid", running, shift)


def forward_train_tanh(x, weight, bias, eps, running=None, shift=None):
    return _forward(x, weight, bias, eps, "tanh", running, shift)


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
