"""Every implementation registered in ``minimlp.kernels.ops`` against its formula, at the shapes training uses.

The cases are the paper's network 1024→512→3072 (Linear, BatchNorm1d, Sigmoid, Tanh, MSE) at every batch size
training uses, 1 … 4096, chosen so that every chunk and block boundary of the kernels is crossed (64-row loss
chunks, 64-column BLAS alignment, 128-row in-backward chunks, the thread grains); the chroma network's
1024→2048→2048 widths; the U-Net's convolutions and BatchNorm2d (widths 32-64-128 at 32x32, batch 1 … 64)
and every convolution configuration of the torch comparisons; the optimizers over the paper's parameters.

For each case and each implementation of the op (read from the registry, forced with ``kernels.use``), the
result is compared with the formula run in float64 on the same values (``kernels.use("formula")``). Each case
also runs unforced, and the implementations the selector picked are collected: every registered kernel must be
picked for at least one real case (``test_the_selector_picks_every_kernel_for_a_real_case``). Errors are
relative to the largest magnitude of the reference, or to the size of the terms a sum cancelled where that is
larger (``scale``); the bounds leave about 10x over the worst measured on an AMD EPYC with NumPy's OpenBLAS.
"""
import collections
import hashlib
import os
import zlib

import numpy as np
import pytest

import minimlp
from minimlp import kernels, nn, optim, threads
from minimlp.formulas import winograd as f_winograd
from minimlp.kernels import ops
from minimlp.kernels.cpu import linear_adam
from minimlp.nn.parameter import Parameter

BATCHES = (1, 2, 3, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 1100, 4096)
PAPER_LINEAR = ((1024, 512), (512, 3072))
CHROMA_LINEAR = ((1024, 2048), (2048, 2048))
SMALL_BATCHES = tuple(b for b in BATCHES if b <= linear_adam.MAX_BATCH)
TOL = {
    "product": {np.float32: 5e-6, np.float64: 1e-14},       # x Wᵀ + b, G W, Gᵀ x, convolutions   [7e-7, 1e-15]
    "elementwise": {np.float32: 1e-5, np.float64: 2e-14},   # BatchNorm, activations, MSE          [1e-6, 1.6e-15]
    "update": {np.float32: 1e-5, np.float64: 1e-14},        # an optimizer step Δp and its state  [1.6e-7, 3.5e-16]
}
# CuPy kernels: tested against their formulas in tests/test_fake_gpu.py (on the CuPy stand-in, and on a real GPU
# where one works), since these cases' arrays are NumPy's; the other kernels take NumPy arrays too, where forced
CUPY_ONLY = {"gpu-elementwise", "gpu-fused", "gpu-running-stats"}


class Case(tuple):
    """One real-shaped call of an op: its settings, and an id saying what it is."""

    def __new__(cls, op, **kw):
        self = super().__new__(cls, (op,) + tuple(kw.values()))
        self.op, self.kw = op, kw
        return self

    def __getattr__(self, name):
        try:
            return self.kw[name]
        except KeyError:
            raise AttributeError(name) from None

    def __str__(self):
        parts = [self.op]
        for k, v in self.kw.items():
            parts.append(np.dtype(v).name if k == "dtype" else (k if v is True else f"no_{k}" if v is False
                                                                 else f"{k}{v}"))
        return "-".join(str(p).replace(" ", "") for p in parts)


def _rng(*key):
    return np.random.default_rng([zlib.crc32(str(k).encode()) for k in key])


def _close(label, got, ref, tol, scale=None, slack=None):
    """max |got − ref| / max(|ref|, scale) ≤ tol, after subtracting ``slack`` (rounding the formula amplifies)."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, (label, got.shape, ref.shape)
    assert np.all(np.isfinite(got)), f"{label}: non-finite values"
    if not ref.size:
        return
    diff = np.abs(got - ref)
    if slack is not None:
        diff = np.maximum(diff - slack, 0.0)
    denom = np.maximum(0.0 if scale is None else scale, max(float(np.max(np.abs(ref))), 1e-300))
    err = float(np.max(diff / denom))
    assert err <= tol, f"{label}: relative error {err:.3g} > {tol:g}"


@pytest.fixture
def use_threads():
    before = threads._state["threads"]
    yield threads.set_num_threads
    threads._state["threads"] = before


# ------------------------------------------------------------------------------------- Linear
def linear_cases():
    cases = []
    for b in BATCHES:
        for i, (fin, fout) in enumerate(PAPER_LINEAR):
            cases.append(Case("linear", batch=b, fin=fin, fout=fout, dtype=np.float32, bias=(b + i) % 4 != 0,
                              threads=1 if b in (16, 65, 1000) and i == 0 else 2, training=b != 1000))
    for b in (1, 17, 129, 1000):
        for i, (fin, fout) in enumerate(CHROMA_LINEAR):
            cases.append(Case("linear", batch=b, fin=fin, fout=fout, dtype=np.float32, bias=i == 0, threads=2,
                              training=True))
    for b in (2, 17, 128, 1100):
        for i, (fin, fout) in enumerate(PAPER_LINEAR):
            cases.append(Case("linear", batch=b, fin=fin, fout=fout, dtype=np.float64, bias=i == 1 or b == 17,
                              threads=1 if b == 128 else 2, training=b != 128))
    return cases


def run_linear(c, dtype):
    rng = _rng("linear", c.batch, c.fin, c.fout)
    minimlp.manual_seed(0)
    layer = nn.Linear(c.fin, c.fout, bias=c.bias, dtype=c.dtype).to(dtype=dtype).train(c.training)
    x = rng.standard_normal((c.batch, c.fin), dtype=c.dtype).astype(dtype)
    g = rng.standard_normal((c.batch, c.fout), dtype=c.dtype).astype(dtype)
    y = layer(x)
    dx = layer.backward(g)
    out = {"y": y, "dx": dx, "dW": layer.weight.grad}
    if c.bias:
        out["db"] = layer.bias.grad
    return out, {"g": g}


def check_linear(c, got, ref, inputs):
    tol = TOL["product"][c.dtype]
    for key in ("y", "dx", "dW"):
        _close(f"linear {key}", got[key], ref[key], tol)
    if c.bias:
        _close("linear db", got["db"], ref["db"], TOL["elementwise"][c.dtype], scale=np.abs(inputs["g"]).sum(axis=0))


# ------------------------------------------------------------------------- BatchNorm1d, BatchNorm2d
def batch_norm_cases():
    cases = batch_norm2d_cases()
    for b in BATCHES[1:]:                                     # training BatchNorm needs 2 rows at least
        for width in (512, 3072):
            cases.append(Case("batch_norm", batch=b, width=width, dtype=np.float32,
                              threads=1 if b in (63, 128, 1100) and width == 3072 else 2))
    for b in (2, 17, 129, 1000):
        cases.append(Case("batch_norm", batch=b, width=2048, dtype=np.float32, threads=2))
    for b in (3, 65, 256, 4096):
        cases.append(Case("batch_norm", batch=b, width=3072 if b == 256 else 512, dtype=np.float64, threads=2))
    return cases


def batch_norm2d_cases():
    shapes = [(1, 3, 1, 2), (4, 5, 7, 3), (64, 32, 32, 32), (64, 64, 16, 16), (64, 128, 8, 8), (3, 32, 32, 32),
              (1, 4, 7), (16, 64, 128), (64, 256, 33)]               # BatchNorm1d on sequences (N, C, L)
    cases = [Case("batch_norm", shape=s, dtype=dt, threads=t) for s in shapes
             for dt, t in ((np.float32, 2), (np.float64, 1 if s[0] == 3 else 2))]
    return cases + [Case("batch_norm", shape=s, dtype=np.float32, threads=2, bias=False)
                    for s in ((64, 512), (16, 64, 128), (64, 32, 32, 32))]


def run_batch_norm(c, dtype):
    shape = c.shape if "shape" in c.kw else (c.batch, c.width)
    width = shape[1]
    rng = _rng(c.op, shape)
    bias = c.kw.get("bias", True)
    bn = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(width, dtype=dtype, bias=bias)
    bn.weight.data[...] = rng.standard_normal(width, dtype=c.dtype)
    beta = rng.standard_normal(width, dtype=c.dtype)
    if bias:
        bn.bias.data[...] = beta
    x = (rng.standard_normal(shape, dtype=c.dtype) * c.dtype(2) + c.dtype(1)).astype(dtype)
    g = rng.standard_normal(shape, dtype=c.dtype).astype(dtype)
    return _batch_norm_results(bn, bn(x), bn.backward, x, g)


def check_batch_norm(c, got, ref, inputs):
    """x̂ = (x − μ)/√(σ² + ε): the dtype rounds x − μ to |x|·2⁻²⁴ (float32), which a channel of small variance
    scales up by 1/√(σ² + ε): per channel, x̂'s rounding is that of a number of size cx = max(1, max|x|/√(σ² + ε)),
    and what is computed from x̂ is measured against its terms' size times cx."""
    axes = (0,) + tuple(range(2, inputs["x"].ndim))
    x, g = inputs["x"].astype(np.float64), inputs["g"].astype(np.float64)
    gamma = np.abs(inputs["gamma"].astype(np.float64))
    k = 1.0 / np.sqrt(x.var(axis=axes) + inputs["eps"])
    cx = np.maximum(1.0, np.abs(x).max(axis=axes) * k)
    channel = (slice(None),) + (None,) * (x.ndim - 2)
    sum_g = np.abs(g).sum(axis=axes)
    tol = TOL["elementwise"][c.dtype]
    _close("bn y", got["y"], ref["y"], tol, scale=(gamma * cx)[channel])
    _close("bn running stats", np.concatenate([got["running_mean"], got["running_var"]]),
           np.concatenate([ref["running_mean"], ref["running_var"]]), tol)
    _close("bn dx", got["dx"], ref["dx"], tol, scale=(gamma * k * np.abs(g).max(axis=axes) * cx)[channel])
    _close("bn dgamma", got["dgamma"], ref["dgamma"], tol, scale=sum_g * cx)
    if "dbeta" in ref:
        _close("bn dbeta", got["dbeta"], ref["dbeta"], tol, scale=sum_g)


def batch_norm_relu_cases():
    """The U-Net's BatchNorm2d + ReLU pairs (widths 32-64-128, batch 16 and 64), odd shapes, rows (N, C)."""
    shapes = [(16, 32, 32, 32), (16, 64, 16, 16), (16, 128, 8, 8), (64, 32, 32, 32), (4, 5, 7, 3), (2, 3, 1, 2),
              (64, 512), (3, 7), (16, 64, 128)]
    cases = [Case("batch_norm_relu", shape=s, dtype=dt, threads=t) for s in shapes
             for dt, t in ((np.float32, 2), (np.float64, 2), (np.float32, 1))]
    return cases + [Case("batch_norm_relu", shape=s, dtype=np.float32, threads=2, bias=False)
                    for s in ((64, 512), (16, 32, 32, 32))]


def run_batch_norm_relu(c, dtype):
    """Sequential(BatchNorm, ReLU), which runs as one pass (``nn.fusion``). x is drawn from [−2, −1), [−0.5, 0.5)
    and [1, 2), and β puts each channel's ReLU threshold (γ x̂ + β = 0) at x = ±0.75, in a gap: float32 and
    float64 then agree on every value's mask, and a mask that dropped β (threshold at x = μ) would differ."""
    shape, width = c.shape, c.shape[1]
    rng = _rng(c.op, shape)
    bias = c.kw.get("bias", True)
    bn = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(width, dtype=dtype, bias=bias)
    bn.weight.data[...] = rng.standard_normal(width, dtype=c.dtype)
    x = (rng.integers(-1, 2, size=shape) * 1.5 + rng.uniform(-0.5, 0.5, size=shape)).astype(c.dtype)
    axes = (0,) + tuple(range(2, len(shape)))
    x64 = x.astype(np.float64)
    threshold = rng.choice([-0.75, 0.75], size=width)
    beta = -bn.weight.data.astype(np.float64) * (threshold - x64.mean(axis=axes)) / np.sqrt(x64.var(axis=axes) + 1e-5)
    if bias:
        bn.bias.data[...] = beta.astype(c.dtype)
    x = x.astype(dtype)
    g = rng.standard_normal(shape, dtype=c.dtype).astype(dtype)
    pair = nn.Sequential(bn, nn.ReLU())
    return _batch_norm_results(bn, pair(x), pair.backward, x, g)


def _batch_norm_results(bn, y, backward, x, g):
    """What the BatchNorm cases compare: y, ∂x = backward(G), ∂γ (∂β), the running statistics; and the inputs."""
    out = {"y": y, "dx": backward(g), "dgamma": bn.weight.grad, "running_mean": bn.running_mean,
           "running_var": bn.running_var}
    if bn.bias is not None:
        out["dbeta"] = bn.bias.grad
    return out, {"x": x, "g": g, "gamma": bn.weight.data, "eps": bn.eps}


# ------------------------------------------------------------------------------- activations, MSE
def activation_cases():
    cases = []
    for b in (1, 2, 15, 16, 17, 63, 64, 65, 127, 128, 129, 256, 1000, 4096):
        cases.append(Case("sigmoid", batch=b, width=512, dtype=np.float32, threads=2))
        cases.append(Case("tanh", batch=b, width=3072, dtype=np.float32, threads=2))
    for b in (255, 1100):
        cases.append(Case("sigmoid", batch=b, width=512, dtype=np.float32, threads=1))
        cases.append(Case("tanh", batch=b, width=3072, dtype=np.float64, threads=2))
    cases.append(Case("sigmoid", batch=129, width=512, dtype=np.float64, threads=2))
    for b, dtype, n in ((1, np.float32, 2), (3, np.float64, 2), (16, np.float32, 1), (64, np.float32, 2)):
        cases.append(Case("relu", batch=b, width=(32, 32, 32), dtype=dtype, threads=n))   # the U-Net's widest
    cases.append(Case("relu", batch=5, width=(7,), dtype=np.float64, threads=2, zeros=True))
    return cases


def run_activation(c, dtype):
    rng = _rng(c.op, c.batch)
    module = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[c.op]()
    shape = (c.batch,) + (c.width if isinstance(c.width, tuple) else (c.width,))
    x = (rng.standard_normal(shape, dtype=c.dtype) * c.dtype(3)).astype(dtype)
    if c.kw.get("zeros"):
        x[:, ::2] = 0                     # ReLU's gradient at exactly 0 is 0, as torch's
    g = rng.standard_normal(shape, dtype=c.dtype).astype(dtype)
    y = module(x)
    return {"y": y, "dx": module.backward(g)}, {}


def check_activation(c, got, ref, inputs):
    tol = TOL["elementwise"][c.dtype]
    _close(f"{c.op} y", got["y"], ref["y"], tol)
    _close(f"{c.op} dx", got["dx"], ref["dx"], tol)


def squared_error_cases():
    cases = [Case("squared_error", batch=b, width=3072, dtype=np.float32, threads=1 if b in (65, 1000) else 2)
             for b in BATCHES]
    cases += [Case("squared_error", batch=b, width=2048, dtype=np.float32, threads=2) for b in (1, 17, 129, 1000)]
    cases += [Case("squared_error", batch=b, width=3072, dtype=np.float64, threads=2) for b in (1, 64, 65, 4096)]
    cases.append(Case("squared_error", batch=16, width=(2, 32, 32), dtype=np.float32, threads=2, formula_only=True))
    return cases


def run_squared_error(c, dtype):
    rng = _rng("mse", c.batch, c.width)
    shape = (c.batch,) + (c.width if isinstance(c.width, tuple) else (c.width,))
    pred = rng.standard_normal(shape, dtype=c.dtype).astype(dtype)
    target = np.tanh(rng.standard_normal(shape, dtype=c.dtype)).astype(dtype)
    loss = nn.MSELoss()
    value = loss(pred, target)
    return {"value": np.array(value), "grad": loss.backward()}, {}


def check_squared_error(c, got, ref, inputs):
    tol = TOL["elementwise"][c.dtype]
    _close("mse value", got["value"], ref["value"], tol)
    _close("mse grad", got["grad"], ref["grad"], tol)


# ------------------------------------------------------------------- LayerNorm, GELU, Softmax
def layer_norm_cases():
    """A transformer's rows (batch x 128 tokens x 768), one row, odd sizes over two normalised axes, no γ or β."""
    cases = [Case("layer_norm", shape=s, ndim=1, dtype=np.float32, threads=2, affine=True)
             for s in ((64, 128, 768), (1, 768), (3, 129, 768))]
    cases += [Case("layer_norm", shape=(5, 7, 13), ndim=2, dtype=dt, threads=t, affine=a)
              for dt, t, a in ((np.float32, 2, True), (np.float64, 1, True), (np.float32, 2, False))]
    cases += [Case("layer_norm", shape=(17, 128, 768), ndim=1, dtype=np.float64, threads=2, affine=True),
              Case("layer_norm", shape=(16, 128, 768), ndim=1, dtype=np.float32, threads=1, affine=True, bias=False)]
    return cases


def run_layer_norm(c, dtype):
    rng = _rng(c.op, c.shape, c.ndim)
    bias = c.kw.get("bias", True)
    module = nn.LayerNorm(c.shape[len(c.shape) - c.ndim:], elementwise_affine=c.affine, bias=bias, dtype=dtype)
    if c.affine:
        module.weight.data[...] = rng.standard_normal(module.weight.shape, dtype=c.dtype)
        if bias:
            module.bias.data[...] = rng.standard_normal(module.bias.shape, dtype=c.dtype)
    x = (rng.standard_normal(c.shape, dtype=c.dtype) * c.dtype(2) + c.dtype(1)).astype(dtype)
    g = rng.standard_normal(c.shape, dtype=c.dtype).astype(dtype)
    out = {"y": module(x), "dx": module.backward(g)}
    if c.affine:
        out["dgamma"] = module.weight.grad
        if bias:
            out["dbeta"] = module.bias.grad
    return out, {"x": x, "g": g}


def check_layer_norm(c, got, ref, inputs):
    """y and ∂L/∂x relative to their largest values (x is drawn well-conditioned: σ = 2 per row); ∂L/∂γ and ∂L/∂β
    relative to the sizes of the terms summed over the rows (Σ|G|, with |x̂| up to a few)."""
    tol = TOL["elementwise"][c.dtype]
    lead = tuple(range(len(c.shape) - c.ndim))
    sum_g = np.abs(inputs["g"].astype(np.float64)).sum(axis=lead)
    _close("layer_norm y", got["y"], ref["y"], tol)
    _close("layer_norm dx", got["dx"], ref["dx"], tol)
    if "dgamma" in ref:
        _close("layer_norm dgamma", got["dgamma"], ref["dgamma"], tol, scale=5 * sum_g)
    if "dbeta" in ref:
        _close("layer_norm dbeta", got["dbeta"], ref["dbeta"], tol, scale=sum_g)


def group_norm_cases():
    """GroupNorm(8, 64) on the U-Net's 16x16 maps, odd groups and sizes, one sample, a sequence (N, C, L), no γ or β,
    float64; InstanceNorm2d (one channel per group) with a gradient that is a transposed view."""
    cases = [Case("group_norm", shape=s, groups=gr, dtype=dt, threads=t, affine=a)
             for s, gr, dt, t, a in (((64, 64, 16, 16), 8, np.float32, 2, True), ((1, 6, 5, 7), 3, np.float32, 2, True),
                                     ((3, 32, 33), 4, np.float32, 2, True), ((64, 32, 32, 32), 32, np.float32, 1, False),
                                     ((4, 64, 16, 16), 8, np.float64, 2, True), ((1, 6, 5, 7), 2, np.float64, 1, True))]
    return cases + [Case("group_norm", shape=(16, 32, 32, 32), groups=0, dtype=np.float32, threads=2, affine=True,
                         transposed_g=True)]


def run_group_norm(c, dtype):
    rng = _rng(c.op, c.shape, c.groups)
    width = c.shape[1]
    if c.groups:
        module = nn.GroupNorm(c.groups, width, affine=c.affine, dtype=dtype)
    else:
        module = nn.InstanceNorm2d(width, affine=c.affine, dtype=dtype)
    if c.affine:
        module.weight.data[...] = rng.standard_normal(width, dtype=c.dtype)
        module.bias.data[...] = rng.standard_normal(width, dtype=c.dtype)
    x = (rng.standard_normal(c.shape, dtype=c.dtype) * c.dtype(2) + c.dtype(1)).astype(dtype)
    g = rng.standard_normal(c.shape, dtype=c.dtype).astype(dtype)
    if c.kw.get("transposed_g"):
        g = np.ascontiguousarray(g.swapaxes(2, 3)).swapaxes(2, 3)
    out = {"y": module(x), "dx": module.backward(g)}
    if c.affine:
        out["dgamma"], out["dbeta"] = module.weight.grad, module.bias.grad
    return out, {"g": g}


def check_group_norm(c, got, ref, inputs):
    """As LayerNorm's: ∂L/∂γ_c and ∂L/∂β_c relative to Σ|G| over the samples and positions of channel c."""
    tol = TOL["elementwise"][c.dtype]
    axes = (0,) + tuple(range(2, len(c.shape)))
    sum_g = np.abs(inputs["g"].astype(np.float64)).sum(axis=axes)
    _close("group_norm y", got["y"], ref["y"], tol)
    _close("group_norm dx", got["dx"], ref["dx"], tol)
    if "dgamma" in ref:
        _close("group_norm dgamma", got["dgamma"], ref["dgamma"], tol, scale=5 * sum_g)
        _close("group_norm dbeta", got["dbeta"], ref["dbeta"], tol, scale=sum_g)


def gelu_cases():
    """A transformer's MLP activations (tokens x 3072), one row, an odd size, float64; the tanh form (the formula)."""
    cases = [Case("gelu", shape=s, approximate="none", dtype=dt, threads=t)
             for s, dt, t in (((8, 128, 3072), np.float32, 2), ((1, 3072), np.float32, 2), ((5, 7, 13), np.float32, 2),
                              ((3, 129, 3072), np.float64, 2), ((5, 7, 13), np.float64, 1))]
    return cases + [Case("gelu", shape=(4, 128, 3072), approximate="tanh", dtype=np.float32, threads=2,
                         formula_only=True)]


def run_gelu(c, dtype):
    rng = _rng(c.op, c.shape)
    module = nn.GELU(c.approximate)
    x = (rng.standard_normal(c.shape, dtype=c.dtype) * c.dtype(3)).astype(dtype)
    g = rng.standard_normal(c.shape, dtype=c.dtype).astype(dtype)
    return {"y": module(x), "dx": module.backward(g)}, {}


def softmax_cases():
    """Class scores along the last axis (tokens x 1000 classes), one row, odd sizes, float64; along another axis
    (the formula)."""
    cases = [Case("softmax", shape=s, dim=-1, dtype=dt, threads=t)
             for s, dt, t in (((16, 128, 1000), np.float32, 2), ((1, 1000), np.float32, 2), ((5, 7, 13), np.float32, 2),
                              ((3, 129, 1000), np.float64, 2), ((5, 7, 13), np.float64, 1))]
    return cases + [Case("softmax", shape=(64, 10, 9), dim=1, dtype=np.float32, threads=2, formula_only=True)]


def run_softmax(c, dtype):
    rng = _rng(c.op, c.shape, c.dim)
    module = nn.Softmax(dim=c.dim)
    x = (rng.standard_normal(c.shape, dtype=c.dtype) * c.dtype(3)).astype(dtype)
    g = rng.standard_normal(c.shape, dtype=c.dtype).astype(dtype)
    return {"y": module(x), "dx": module.backward(g)}, {}


def check_pointwise(c, got, ref, inputs):
    """y and ∂L/∂x relative to their largest values."""
    tol = TOL["elementwise"][c.dtype]
    _close(f"{c.op} y", got["y"], ref["y"], tol)
    _close(f"{c.op} dx", got["dx"], ref["dx"], tol)


# --------------------------------------------------------------------------------- convolutions
def conv_cases():
    from test_conv_vs_torch import CONV_T, CONVS
    cases = [Case("conv2d", args=a, kwargs=kw, shape=s, dtype=np.float64, threads=2) for a, kw, s in CONVS]
    cases += [Case("conv_transpose2d", args=a, kwargs=kw, shape=s, dtype=np.float64, threads=2)
              for a, kw, s in CONV_T]
    unet = [("conv2d", (1, 32, 3), (1, 1, 32, 32)), ("conv2d", (32, 32, 3), (3, 32, 32, 32)),
            ("conv2d", (64, 32, 3), (64, 64, 32, 32)), ("conv2d", (128, 128, 3), (64, 128, 8, 8)),
            ("conv2d", (32, 2, 1), (64, 32, 32, 32)), ("conv_transpose2d", (128, 64, 2), (64, 128, 8, 8)),
            ("conv_transpose2d", (64, 32, 2), (2, 64, 16, 16))]
    for op, args, shape in unet:
        kwargs = {"stride": 2} if op == "conv_transpose2d" else {"padding": args[2] // 2}
        for dtype, n in ((np.float32, 2), (np.float64, 1 if shape[0] <= 3 else 2)):
            cases.append(Case(op, args=args, kwargs=kwargs, shape=shape, dtype=dtype, threads=n))
    for args, shape in (((64, 64, 3), (5, 64, 16, 16)),    # Winograd's row-wise transforms at 8 tiles a row,
                        ((16, 24, 3), (3, 16, 16, 20)),    # on a wider than high image,
                        ((16, 16, 3), (2, 16, 14, 14)),    # its per-tile loops at 7 tiles a row,
                        ((32, 16, 3), (2, 32, 14, 14))):   # and there with more channels in than out
        for dtype in (np.float32, np.float64):
            cases.append(Case("conv2d", args=args, kwargs={"padding": 1}, shape=shape, dtype=dtype, threads=2))
    cases.append(Case("conv2d", args=(4, 5, 3), kwargs={"padding": 1}, shape=(1, 4, 37, 29), dtype=np.float64,
                      threads=3))                       # one image cut into blocks of output rows
    cases.append(Case("conv2d", args=(4, 5, 2), kwargs={"stride": 2}, shape=(1, 4, 8, 6), dtype=np.float64,
                      threads=3))                       # windows tiling the image, in blocks of output rows
    for n in (1, 2, 3):                                 # images per thread: none to several, and a remainder
        for batch in (1, 2, 5):
            cases.append(Case("conv2d", args=(3, 6, 3), kwargs={"padding": 1, "stride": 2}, shape=(batch, 3, 12, 10),
                              dtype=np.float64, threads=n))
            cases.append(Case("conv_transpose2d", args=(6, 3, 2), kwargs={"stride": 2}, shape=(batch, 6, 6, 5),
                              dtype=np.float64, threads=n))
    return cases


def run_conv(c, dtype):
    minimlp.manual_seed(0)
    module = (nn.Conv2d if c.op == "conv2d" else nn.ConvTranspose2d)(*c.args, **c.kwargs, dtype=c.dtype).to(dtype=dtype)
    rng = _rng(c.op, c.args, c.shape)
    x = rng.standard_normal(c.shape, dtype=c.dtype).astype(dtype)
    y = module(x)
    g = _rng("g", c.args, c.shape).standard_normal(y.shape, dtype=c.dtype).astype(dtype)
    dx = module.backward(g)
    out = {"y": y, "dx": dx, "dW": module.weight.grad}
    if module.bias is not None:
        out["db"] = module.bias.grad
    return out, {}


def check_conv(c, got, ref, inputs):
    tol = 1e-12 if c.dtype == np.float64 else 2e-5
    for key in ref:
        _close(f"{c.op} {key}", got[key], ref[key], tol)


POOLS = [((2,), (64, 32, 32, 32)), ((2,), (64, 64, 16, 16)), ((2,), (1, 3, 7, 9)),
         ((3,), {"stride": 2, "padding": 1}, (2, 3, 7, 6)), (((3, 2),), {"stride": 1, "dilation": (1, 2)}, (1, 2, 5, 6))]


def max_pool_cases():
    cases = []
    for spec in POOLS:
        args, kwargs, shape = (spec[0], {}, spec[1]) if len(spec) == 2 else spec
        for dtype, n in ((np.float32, 2), (np.float64, 1)):
            cases.append(Case("max_pool2d", args=args, kwargs=kwargs, shape=shape, dtype=dtype, threads=n))
    cases.append(Case("max_pool2d", args=(2,), kwargs={}, shape=(2, 3, 8, 8), dtype=np.float64, threads=2,
                      ties=True))
    return cases


def run_max_pool(c, dtype):
    module = nn.MaxPool2d(*c.args, **c.kwargs)
    rng = _rng("pool", c.args, c.shape)
    x = rng.standard_normal(c.shape, dtype=c.dtype).astype(dtype)
    if c.kw.get("ties"):
        x = np.round(x)                   # ties: the first maximum in row-major kernel order takes the gradient
    y = module(x)
    g = _rng("g", c.args, c.shape).standard_normal(y.shape, dtype=c.dtype).astype(dtype)
    return {"y": y, "dx": module.backward(g)}, {}


def check_max_pool(c, got, ref, inputs):
    for key in ref:
        _close(f"max_pool2d {key}", got[key], ref[key], 1e-15 if c.dtype == np.float64 else 1e-7)


# ------------------------------------------------------------------------------ separable maps
SEPARABLE = [("pool", 1, (64, 128, 8, 8)), ("pool", (3, 2), (2, 3, 7, 9)), ("nearest", 2, (4, 8, 16, 16)),
             ("bilinear", 2, (2, 3, 5, 7))]


def separable_cases():
    return [Case("separable_map", kind=kind, size=size, shape=shape, dtype=dt, threads=2)
            for kind, size, shape in SEPARABLE for dt in (np.float32, np.float64)]


def run_separable(c, dtype):
    module = nn.AdaptiveAvgPool2d(c.kw["size"]) if c.kw["kind"] == "pool" else \
        nn.Upsample(scale_factor=c.kw["size"], mode=c.kw["kind"])
    x = _rng("separable", c.kw["kind"], c.shape).standard_normal(c.shape, dtype=c.dtype).astype(dtype)
    y = module(x)
    g = _rng("g", c.kw["kind"], c.shape).standard_normal(y.shape, dtype=c.dtype).astype(dtype)
    return {"y": y, "dx": module.backward(g)}, {}


def check_separable(c, got, ref, inputs):
    for key in ref:
        _close(f"separable_map {key}", got[key], ref[key], 1e-15 if c.dtype == np.float64 else 1e-6)


# ------------------------------------------------------------------------------ soft encoding
def soft_encode_cases():
    return [Case("soft_encode", points=m, dtype=dt, threads=2) for m in (1, 4095, 65536)
            for dt in (np.float32, np.float64)]


def run_soft_encode(c, dtype):
    rng = _rng("soft", c.points)
    grid = np.arange(-1.1, 1.11, 0.1)
    centres = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)[::2]      # a grid of about 250 bins
    points = (rng.random((c.points, 2)) - 0.5).astype(c.dtype).astype(dtype)
    idx, weights = ops.soft_encode.run("forward", points, centres, 5, 5.0 / 128)
    dense = np.zeros((c.points, len(centres)))
    np.put_along_axis(dense, idx, weights.astype(np.float64), axis=-1)
    return {"nearest": idx[:, 0], "dense": dense}, {}


def check_soft_encode(c, got, ref, inputs):
    np.testing.assert_array_equal(got["nearest"], ref["nearest"])
    _close("soft encoding", got["dense"], ref["dense"], 2e-5 if c.dtype == np.float32 else 1e-12)


# ------------------------------------------------------------- cross-entropy on sparse soft targets
def soft_cross_entropy_cases():
    """The vivid colorizer's loss: 298 chroma bins over a 32x32 image's pixels (batch 1, 3, 17; threads split
    the images), and a batch of 64 on 4x4 images."""
    return [Case("soft_cross_entropy", n=n, pixels=p, dtype=dt, threads=2) for n, p in ((1, 1024), (3, 1024),
            (17, 1024), (64, 16)) for dt in (np.float32, np.float64)]


def run_soft_cross_entropy(c, dtype):
    rng = _rng("soft_ce", c.n, c.pixels)
    classes, k = 298, 5
    z = (rng.standard_normal((c.n, classes, c.pixels)) * 3).astype(c.dtype).astype(dtype)
    idx = np.argsort(rng.random((c.n, c.pixels, classes)), axis=2)[..., :k]        # k distinct classes a pixel
    w = (rng.random((c.n, c.pixels, k)) * 2).astype(c.dtype).astype(dtype)
    value, softmax = ops.soft_cross_entropy.run("forward", z, idx, w)
    softmax = softmax.copy()
    grad = ops.soft_cross_entropy.run("backward", softmax.copy(), idx, w)
    return {"value": np.asarray(value)[None], "softmax": softmax, "grad": grad}, {}


def check_soft_cross_entropy(c, got, ref, inputs):
    for key in ref:
        _close(f"soft_cross_entropy {key}", got[key], ref[key], TOL["elementwise"][c.dtype])


# --------------------------------------------------------------------------- optimizer updates
OPTIMIZERS = {
    "sgd": [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-3)),
            ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=1e-3, nesterov=True)),
            ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=1e-3, maximize=True))],
    "rmsprop": [("RMSprop", dict(lr=1e-2)),
                ("RMSprop", dict(lr=1e-2, alpha=0.9, eps=1e-6, weight_decay=1e-2, momentum=0.9, centered=True)),
                ("RMSprop", dict(lr=1e-2, weight_decay=1e-2, momentum=0.5, maximize=True))],
    "adam": [("Adam", dict(lr=1e-3, weight_decay=0.01)), ("AdamW", dict(lr=1e-3, weight_decay=0.05)),
             ("Adam", dict(lr=1e-3, betas=(0.8, 0.99), eps=1e-6, amsgrad=True)),
             ("Adam", dict(lr=1e-3, weight_decay=0.01, maximize=True)),
             ("AdamW", dict(lr=1e-3, weight_decay=0.05, amsgrad=True, maximize=True))],
}


def update_cases():
    """The paper's network's parameters, and one long flat buffer (many pieces of the pool, an odd tail);
    warm: from a random state at step 5 (the step's amplification of rounding near g ≈ 0 needs no slack
    then); cold: from zero state at step 1 (SGD's first momentum step)."""
    paper = ((512, 1024), (512,), (512,), (512,), (3072, 512), (3072,), (3072,), (3072,))
    cases = [Case(op, optimizer=name, options=kw, shapes=paper if i != 1 else ((300_001,), (300, 7)), dtype=dt,
                  threads=2 if dt == np.float32 else 1, warm=True)
             for op, variants in OPTIMIZERS.items() for i, (name, kw) in enumerate(variants)
             for dt in (np.float32, np.float64)]
    return cases + [Case("sgd", optimizer="SGD", options=OPTIMIZERS["sgd"][2][1], shapes=paper, dtype=dt, threads=2,
                         warm=False) for dt in (np.float32, np.float64)]


def _warm_state(opt, rng, dtype):
    """A random state at step 5 for every parameter: momenta of either sign, squares positive and above the
    square of the running mean (a centered RMSprop needs v − ḡ² > 0)."""
    state = {}
    for i, p in enumerate(opt._params):
        entries = {"step": 5}
        for name in opt._state_names(opt.param_groups[opt._group_of[i]]):
            if name in ("exp_avg_sq", "square_avg", "max_exp_avg_sq"):
                entries[name] = rng.uniform(0.5, 1.5, p.shape).astype(dtype)
            else:
                entries[name] = (rng.standard_normal(p.shape) * (0.1 if name == "grad_avg" else 1)).astype(dtype)
        state[i] = entries
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})


def run_update(c, dtype):
    """One step from the same values on both sides; Δp and the state after it."""
    rng = _rng(c.op, c.optimizer, c.options, c.warm)
    params = [Parameter(rng.standard_normal(s, dtype=c.dtype).astype(dtype)) for s in c.shapes]
    opt = getattr(optim, c.optimizer)(params, **c.options)
    if c.warm:
        _warm_state(opt, rng, c.dtype)
    before = np.concatenate([p.data.reshape(-1) for p in params]).astype(np.float64)
    for p in params:
        p.grad = rng.standard_normal(p.shape, dtype=c.dtype).astype(dtype)
    opt.step()
    out = {"dp": np.concatenate([p.data.reshape(-1) for p in params]) - before}
    for name in opt.state[0]:
        if name != "step":
            out[name] = np.concatenate([s[name].reshape(-1) for s in opt.state])
    return out, {"before": before}


def check_update(c, got, ref, inputs):
    """Δp = p_after − p_before is measured with p_after rounded to the dtype (and p rounded once more where
    weight decay scales it first): that rounding, a few units of |p|, is slack."""
    tol = TOL["update"][c.dtype]
    for key in ref:
        slack = 4 * np.finfo(c.dtype).eps * np.abs(inputs["before"]) if key == "dp" else None
        _close(f"{c.optimizer} {key}", got[key], ref[key], tol, slack=slack)


FAMILIES = {
    "linear": (linear_cases, run_linear, check_linear),
    "batch_norm": (batch_norm_cases, run_batch_norm, check_batch_norm),
    "batch_norm_relu": (batch_norm_relu_cases, run_batch_norm_relu, check_batch_norm),
    "sigmoid": (activation_cases, run_activation, check_activation),
    "tanh": (None, run_activation, check_activation),
    "relu": (None, run_activation, check_activation),
    "max_pool2d": (max_pool_cases, run_max_pool, check_max_pool),
    "squared_error": (squared_error_cases, run_squared_error, check_squared_error),
    "layer_norm": (layer_norm_cases, run_layer_norm, check_layer_norm),
    "group_norm": (group_norm_cases, run_group_norm, check_group_norm),
    "gelu": (gelu_cases, run_gelu, check_pointwise),
    "softmax": (softmax_cases, run_softmax, check_pointwise),
    "conv2d": (conv_cases, run_conv, check_conv),
    "conv_transpose2d": (None, run_conv, check_conv),
    "soft_encode": (soft_encode_cases, run_soft_encode, check_soft_encode),
    "soft_cross_entropy": (soft_cross_entropy_cases, run_soft_cross_entropy, check_soft_cross_entropy),
    "separable_map": (separable_cases, run_separable, check_separable),
    "sgd": (update_cases, run_update, check_update),
    "rmsprop": (None, run_update, check_update),
    "adam": (None, run_update, check_update),
}
CASES = [c for make, _, _ in FAMILIES.values() if make is not None for c in make()]
KERNELS = [(op.name, impl.name) for op in ops.ALL for impl in op.kernels]


def _run(c, use_threads, **forced):
    """The case's results in its dtype with ``forced`` implementations, the picks made, and the inputs."""
    use_threads(c.threads)
    run = FAMILIES[c.op][1]
    with kernels.use(**forced), kernels.record() as log:
        got, inputs = run(c, c.dtype)
    return got, set(log), inputs


_REFERENCES = {}


def _reference(c):
    """The formula in float64 on the same values (kept: every implementation of a case shares it)."""
    if str(c) not in _REFERENCES:
        with kernels.use("formula"):
            ref, _ = FAMILIES[c.op][1](c, np.float64)
        _REFERENCES.clear()
        _REFERENCES[str(c)] = {k: np.array(v, dtype=np.float64) for k, v in ref.items()}
    return _REFERENCES[str(c)]


def _winograd_takes(c):
    """Whether Winograd F(2x2, 3x3) computes the convolution of case ``c``."""
    return c.op == "conv2d" and f_winograd.takes(nn.Conv2d(*c.args, **c.kwargs)._geometry)


ONLY_FOR = {"cpu-winograd": _winograd_takes}   # kernels that take some configurations of their op only


def _implementation_cases():
    out = []
    for c in CASES:
        op = getattr(ops, c.op)
        for impl in op.kernels:
            if impl.name == "cpu-adam-in-backward":
                continue                       # needs an optimizer's offer: its own test below
            if c.kw.get("formula_only") or not ONLY_FOR.get(impl.name, bool)(c):
                continue
            if impl.name in CUPY_ONLY:
                continue
            out.append(pytest.param(c, impl.name, id=f"{c}-{impl.name}"))
    return out


@pytest.mark.parametrize("c,impl", _implementation_cases())
def test_implementation_agrees_with_the_formula(c, impl, use_threads, split_products):
    got, picked, inputs = _run(c, use_threads, **{c.op: impl})
    assert (c.op, impl) in {(op, name) for op, _, name in picked}, f"{impl} did not run: {sorted(picked)}"
    FAMILIES[c.op][2](c, got, _reference(c), inputs)


_SELECTED = collections.defaultdict(set)


@pytest.mark.parametrize("c", CASES, ids=str)
def test_selected_implementations_agree_with_the_formula(c, use_threads, split_products):
    """Unforced, as training runs it: the picks are kept for the coverage test below."""
    got, picked, inputs = _run(c, use_threads)
    _SELECTED[c.op].update(name for op, _, name in picked if op == c.op)
    FAMILIES[c.op][2](c, got, _reference(c), inputs)


def test_the_selector_picks_every_kernel_for_a_real_case(use_threads, split_products):
    """Every registered kernel is what the selector chooses for at least one real case (the coverage comes from
    the registry: a kernel that stops being chosen fails here instead of leaving its comparison to another)."""
    if len(_SELECTED) < len({c.op for c in CASES}):      # run alone: collect the picks here
        for c in CASES:
            _SELECTED[c.op].update(name for op, _, name in _run(c, use_threads)[1] if op == c.op)
    _SELECTED["linear"].update(_in_backward_picks())
    wanted = {(op, name) for op, name in KERNELS if not name.startswith("gpu-")}   # NumPy cases: the CPU's picks
    found = {(op, name) for op, names in _SELECTED.items() for name in names}
    assert wanted <= found, sorted(wanted - found)


# -------------------------------------------------------------- Linear with Adam inside backward
def in_backward_cases():
    cases = []
    shapes = PAPER_LINEAR + CHROMA_LINEAR
    for i, b in enumerate(SMALL_BATCHES):
        for j, (fin, fout) in enumerate(shapes):
            if fin == fout == 2048 and b not in (1, 17):
                continue
            cases.append(Case("linear", batch=b, fin=fin, fout=fout, dtype=np.float32, bias=(i + j) % 2 == 0,
                              opt=("Adam", "AdamW", "Adam-amsgrad")[(i + j) % 3], threads=1 + (i + j) % 2,
                              want_dx=not (b == 16 and j == 0)))
    for b, (fin, fout) in ((2, (512, 3072)), (15, (1024, 512)), (17, (1024, 2048))):
        cases.append(Case("linear", batch=b, fin=fin, fout=fout, dtype=np.float64, bias=True, opt="AdamW",
                          threads=2, want_dx=True))
    for b, dtype in ((3, np.float32), (16, np.float64)):
        cases.append(Case("linear", batch=b, fin=1024, fout=512, dtype=dtype, bias=True, opt="AdamW-maximize",
                          threads=2, want_dx=True))
    return cases


ADAMS = {
    "Adam": lambda ps: optim.Adam(ps, lr=1e-3, weight_decay=0.01),
    "AdamW": lambda ps: optim.AdamW(ps, lr=1e-3, weight_decay=0.05),
    "Adam-amsgrad": lambda ps: optim.Adam(ps, lr=1e-3, amsgrad=True),
    "AdamW-maximize": lambda ps: optim.AdamW(ps, lr=1e-3, weight_decay=0.05, maximize=True),
}


def _linear_and_adam(c, dtype, weights=None, state=None):
    minimlp.manual_seed(0)
    layer = nn.Linear(c.fin, c.fout, bias=c.bias, dtype=c.dtype)
    if weights is not None:
        layer.load_state_dict(weights)
    layer.to(dtype=dtype)
    opt = ADAMS[c.opt](layer.parameters())
    if state is not None:
        opt.load_state_dict({"state": {i: {k: (v if k == "step" else np.asarray(v, dtype=dtype)) for k, v in s.items()}
                                       for i, s in state["state"].items()}, "param_groups": state["param_groups"]})
    return layer, opt


def _second_step(c, layer, opt, x, g, in_backward):
    opt.zero_grad()
    layer(x)
    with kernels.record() as log:
        if in_backward:
            with opt.step_in_backward():
                dx = layer.backward(g) if c.want_dx else layer.backward_parameters(g)
        else:
            dx = layer.backward(g) if c.want_dx else layer.backward_parameters(g)
            opt.step()
    state = opt.state[0]
    out = {"w": layer.weight.data, "grad": layer.weight.grad, "m": state["exp_avg"], "v": state["exp_avg_sq"]}
    if c.want_dx:
        out["dx"] = dx
    if c.bias:
        out["b"] = layer.bias.data
    return out, {name for op, role, name in log if (op, role) == ("linear", "backward")}


def _in_backward_picks():
    c = in_backward_cases()[0]
    layer, opt = _linear_and_adam(c, c.dtype)
    x = np.ones((c.batch, c.fin), c.dtype)
    return _second_step(c, layer, opt, x, np.ones((c.batch, c.fout), c.dtype), True)[1]


@pytest.mark.parametrize("c", in_backward_cases(), ids=str)
def test_adam_inside_linear_backward_agrees_with_backward_then_step(c, use_threads, split_products):
    """A step taken inside backward (∂L/∂x, ∂L/∂W and the update chunk by chunk, block by block) against
    backward-then-step with the formulas in float64, from the same weights and Adam state (after a first step
    the plain way, so that the state is not zero)."""
    use_threads(c.threads)
    rng = _rng("inb", c.batch, c.fin, c.fout)
    layer, opt = _linear_and_adam(c, c.dtype)
    x, g = (rng.standard_normal((c.batch, n), dtype=c.dtype) for n in (c.fin, c.fout))
    layer(x)
    layer.backward(g)
    opt.step()
    weights, state = layer.state_dict(), opt.state_dict()
    x, g = (rng.standard_normal((c.batch, n), dtype=c.dtype) for n in (c.fin, c.fout))
    got, picked = _second_step(c, layer, opt, x, g, True)
    assert picked == {"cpu-adam-in-backward"} and opt.state[0]["step"] == 2
    with kernels.use("formula"):
        ref_layer, ref_opt = _linear_and_adam(c, np.float64, weights, state)
        ref, _ = _second_step(c, ref_layer, ref_opt, x.astype(np.float64), g.astype(np.float64), False)
    tol = TOL["product"][c.dtype]
    _close("in-backward dW", got["grad"], ref["grad"], tol)
    if c.want_dx:
        _close("in-backward dx", got["dx"], ref["dx"], tol)
    for key in ("m", "v"):
        _close(f"in-backward {key}", got[key], ref[key], TOL["update"][c.dtype])
    w0 = weights["weight"].astype(np.float64)
    slack = _adam_slack(c, ref, w0, np.abs(got["grad"] - ref["grad"]))
    _close("in-backward Δw", got["w"] - w0, ref["w"] - w0, TOL["update"][c.dtype], slack=slack)


def _adam_slack(c, ref, w0, grad_error):
    """What Adam's step makes of differences it is given, per element: the gradient's (already checked as a
    product) and the dtype's rounding of d = g + λw, through ∂step/∂d = γ_t·((1 − β₁)/D + |m|(1 − β₂)|d|/(c₂√v̂ D²)),
    which is steep where v̂ is small; plus the rounding of w − step in the dtype."""
    unit = np.finfo(c.dtype).eps
    g = ref["grad"]
    step_size, c2 = 1e-3 / (1 - 0.9 ** 2), np.sqrt(1 - 0.999 ** 2)
    denom = np.sqrt(ref["v"]) / c2 + 1e-8
    sensitivity = 0.1 / denom + np.abs(ref["m"]) * 0.001 * np.abs(g) / (
        c2 * np.maximum(np.sqrt(ref["v"]), 1e-300) * denom * denom)
    d_error = grad_error + unit * (np.abs(g) + 0.05 * np.abs(w0))
    return 4 * step_size * sensitivity * d_error + 4 * unit * np.abs(w0)


@pytest.mark.parametrize("impl", [i.name for i in ops.linear.implementations() if i.provides("backward")
                                  and i.name != "cpu-adam-in-backward"])
def test_linear_gradients_accumulate_over_backward_calls_on_every_implementation(impl):
    """A second backward adds to the gradients (torch's accumulation), whichever implementation writes them."""
    rng = _rng("accumulate", impl)
    layer = nn.Linear(512, 3072, dtype=np.float64)
    x, g = rng.standard_normal((16, 512)), rng.standard_normal((16, 3072))
    with kernels.use(linear=impl), kernels.record() as picked:
        for _ in range(2):
            layer(x)
            layer.backward(g)
    assert ("linear", "backward", impl) in picked
    _close("twice Gᵀ x", layer.weight.grad, 2 * g.T @ x, 1e-14)
    _close("twice Σ G", layer.bias.grad, 2 * g.sum(axis=0), 1e-14)


@pytest.mark.parametrize("threads,accumulate", [(1, False), (2, False), (2, True)])
@pytest.mark.parametrize("batch", SMALL_BATCHES)
def test_split_product_by_rows_with_a_bias(batch, threads, accumulate, use_threads, split_products):
    """The by-rows split with a bias, which no real Linear product takes (a forward's inner size is in_features,
    far above ``blas.SMALL_K``), at the tall shape the by-rows split serves: the 3072 x 512 Gᵀ x of a small batch."""
    from minimlp.kernels.cpu import blas
    use_threads(threads)
    rng = _rng("rows", batch, threads, accumulate)
    g, x = rng.standard_normal((batch, 3072), dtype=np.float32), rng.standard_normal((batch, 512), dtype=np.float32)
    bias, out = rng.standard_normal(512, dtype=np.float32), rng.standard_normal((3072, 512), dtype=np.float32)
    before = out.astype(np.float64)
    assert blas.matmul(g.T, x, out=out, accumulate=accumulate, bias=bias) is out
    ref = g.astype(np.float64).T @ x.astype(np.float64) + bias + (before if accumulate else 0)
    _close("by rows + bias", out, ref, TOL["product"][np.float32])


def test_soft_encoding_breaks_exact_ties_as_the_formula_does():
    """Equidistant centres: the lower index first, on every implementation."""
    centres = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.5], [0.5, 0.5]])
    points = np.array([[0.25, 0.0], [0.25, 0.25], [0.0, 0.25]])
    results = []
    for impl in ops.soft_encode.implementations():
        with kernels.use(soft_encode=impl.name):
            results.append(ops.soft_encode.run("forward", points, centres, 3, 0.1)[0])
    np.testing.assert_array_equal(results[0], [[0, 1, 2], [0, 1, 2], [0, 2, 1]])
    for idx in results[1:]:
        np.testing.assert_array_equal(idx, results[0])


def test_batch_norm2d_takes_a_non_contiguous_input():
    """A transposed view (not C-contiguous) gives the same output as its contiguous copy, on every implementation."""
    x = np.random.default_rng(0).normal(size=(3, 5, 4, 6)).astype(np.float32)
    view = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not view.flags.c_contiguous
    for impl in ops.batch_norm.implementations():
        with kernels.use(batch_norm=impl.name):
            np.testing.assert_array_equal(nn.BatchNorm2d(5)(view), nn.BatchNorm2d(5)(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm2d_kernel_makes_y_from_the_x_hat_it_keeps(dtype):
    """The compiled forward's y is γ x̂ + β in the input's dtype from the very x̂ it keeps for the backward (x̂
    rounded before y is made from it), for γ and β other than 1 and 0."""
    from minimlp.kernels.cpu import batch_norm
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
    gamma, beta = np.array([1.7, -0.3, 2.2], dtype=dtype), np.array([0.3, -1.1, 0.05], dtype=dtype)
    y, (xhat, _), _, _ = batch_norm.forward_train(x, gamma, beta, 1e-5)
    np.testing.assert_array_equal(y, xhat * gamma.reshape(1, 3, 1, 1) + beta.reshape(1, 3, 1, 1))


@pytest.mark.parametrize("shape, forward", [((16, 3072), "cpu-compiled"), ((8, 2, 32, 32), "formula")])
def test_the_mse_gradient_is_the_compiled_kernels_after_either_forward(shape, forward):
    """The paper network's 2-d prediction takes the compiled forward, the U-Net's 4-d one the formula's: both
    keep ŷ − y, and the compiled kernel makes the gradient from it after either (``nn.loss._Loss._run``)."""
    rng = np.random.default_rng(6)
    p, t = rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)
    loss = nn.MSELoss()
    with kernels.record() as log:
        value = loss(p, t)
        grad = loss.backward()
    assert {("squared_error", "forward", forward), ("squared_error", "backward", "cpu-compiled-gradient")} <= set(log)
    assert value == pytest.approx(float(np.mean((p - t).astype(np.float64) ** 2)), rel=1e-6)
    np.testing.assert_allclose(grad, 2 * (p - t) / p.size, rtol=1e-6)


# -------------------------------------------------------------------------------- Numba's cache
def test_the_compiled_in_digests_are_current():
    """Numba caches a kernel by its own file, but some compile in code from other files (``COMPILED_IN``): the
    digest of those files, written in the kernel's file, must be current, or an edit there would leave a stale
    compiled kernel in use."""
    import importlib
    import pkgutil
    import minimlp.kernels.cpu as cpu
    root = os.path.dirname(os.path.dirname(os.path.dirname(cpu.__file__)))
    checked = 0
    for info in pkgutil.iter_modules(cpu.__path__):
        module = importlib.import_module(f"minimlp.kernels.cpu.{info.name}")
        if not hasattr(module, "COMPILED_IN"):
            continue
        digest = hashlib.sha256()
        for name in module.COMPILED_IN:
            with open(os.path.join(root, name), "rb") as f:
                digest.update(f.read())
        assert digest.hexdigest()[:16] == module.COMPILED_IN_SHA256, \
            f"set COMPILED_IN_SHA256 in {module.__file__} to {digest.hexdigest()[:16]!r}"
        checked += 1
    assert checked >= 2


def test_evaluation_of_the_normalisations_and_activations_loads_no_compiler():
    """LayerNorm, GroupNorm, InstanceNorm2d, GELU and Softmax in evaluation take their formulas: Numba is never
    imported (their compiled kernels are chosen for training only)."""
    import subprocess
    import sys
    code = ("import sys, numpy as np\n"
            "from minimlp import nn\n"
            "x = np.random.default_rng(0).standard_normal((4, 8, 6, 6), dtype=np.float32)\n"
            "for m in (nn.LayerNorm(6), nn.GroupNorm(2, 8), nn.InstanceNorm2d(8), nn.GELU(), nn.Softmax(dim=-1)):\n"
            "    m.eval()(x)\n"
            "assert 'numba' not in sys.modules, sorted(k for k in sys.modules if 'numba' in k)[:3]\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
