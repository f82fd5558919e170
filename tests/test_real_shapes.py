"""Every CPU fast path against the readable formula, at the shapes real training uses.

The paper's network is 1024→512→3072 (Linear, BatchNorm1d, Sigmoid, Linear, BatchNorm1d, Tanh, MSE); the
chroma network 1024→2048→2048→2048 (Linear, BatchNorm1d, ReLU). Each op is run on float32 (and, for a subset,
float64) inputs at the batch sizes training uses, 1 … 4096, chosen so that every chunk and block
boundary of the kernels is crossed (64-row loss chunks, 64-column BLAS alignment, 128-row in-backward chunks,
BatchNorm's and the element-wise kernels' thread grains), and its result is compared with the formula computed
in float64 NumPy from the same inputs.

Each test also records which implementation ran (spies on the serial/parallel kernels of ``blas.matmul`` in
``gemm_kernels``, of ``nn.fused_numba``, ``optim.in_backward`` and ``optim.fused_numba``) and asserts that it is
the one the dispatch rules pick for that shape (``_expected_pieces``/``_expected_split`` restate the rules);
``test_cases_cover_every_path`` asserts that the case lists reach every implementation, so a path that stops
running fails a test instead of silently leaving the comparison to another one. (The real weights have 512,
2048 and 3072 rows, whole 128-row chunks: no real shape makes a partial in-backward block, so none is tested.)

Errors are measured relative to the largest magnitude of the reference. Bounds (measured worst in brackets,
on an AMD EPYC with NumPy's OpenBLAS; see the tolerances below) leave a margin of about 10x.
"""
import collections
import os
import zlib

import numba
import numpy as np
import pytest

from minimlp import nn, optim, threads
from minimlp.nn import blas, gemm_kernels
from minimlp.nn import fused_numba as nn_kernels
from minimlp.optim import fused_numba as optim_kernels
from minimlp.optim import in_backward

BATCHES = (1, 2, 3, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 1100, 4096)
PAPER_LINEAR = ((1024, 512), (512, 3072))                         # (in_features, out_features)
CHROMA_LINEAR = ((1024, 2048), (2048, 2048))                      # 2048→2048 twice in the network
CHROMA_BATCHES = (1, 17, 129, 1000)                               # the chroma widths at a few batch sizes
SMALL_BATCHES = tuple(b for b in BATCHES if b <= in_backward.MAX_BATCH)   # 1, 2, 3, 15, 16, 17

# Worst error relative to max |reference| (or the terms' size, see _close), per dtype; the worst measured in
# this file (AMD EPYC, NumPy's OpenBLAS) in brackets. Float32 sums over 4096 rows round to ~1e-6.
TOL = {
    "product": {np.float32: 5e-6, np.float64: 1e-14},             # x Wᵀ + b, G W, Gᵀ x   [7e-7, 1e-15]
    "elementwise": {np.float32: 1e-5, np.float64: 2e-14},         # BN, activations, MSE  [1e-6, 1.6e-15]
    "update": {np.float32: 1e-5, np.float64: 1e-14},              # Adam step ΔW, m, v    [1.6e-7, 3.5e-16]
}
WORST = collections.defaultdict(float)


def _close(label, got, ref, tol, scale=None, slack=None):
    """max |got − ref| / max(|ref|) ≤ tol; records the worst error per label.

    ``scale`` (a number, or an array broadcast against ``ref``: per column) replaces max |ref| where it is
    larger: the size of the terms a sum or a difference cancelled, which bounds its rounding. ``slack``
    (per element) is rounding the formula amplifies by itself, subtracted first (the Adam step near g ≈ 0).
    """
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape, (label, got.shape, ref.shape)
    assert np.all(np.isfinite(got)), f"{label}: non-finite values"
    if not ref.size:
        return
    diff = np.abs(got - ref)
    if slack is not None:
        diff = np.maximum(diff - slack, 0.0)
    denom = np.maximum(0.0 if scale is None else scale, max(float(np.max(np.abs(ref))), 1e-300))
    err = float(np.max(diff / denom))
    WORST[label] = max(WORST[label], err)
    if os.environ.get("REAL_SHAPES_REPORT"):
        print(f"\nERR {label} {err:.3g}")
    assert err <= tol, f"{label}: relative error {err:.3g} > {tol:g}"


def _expected_pieces(size, grain, nthreads):
    """The number of pieces ``threads.pieces`` must choose: one per thread, each at least ``grain`` items."""
    n = min(nthreads, size // max(1, grain))
    return 1 if n <= 1 else min(n, numba.get_num_threads())


def _expected_split(m, n, k, nthreads):
    """(pieces, by_rows) of ``blas.matmul`` for an (m x k) @ (k x n) product, None where numpy.matmul runs."""
    if m * n * k < blas.MIN_WORK:
        return None
    by_rows = m > n and k <= blas.SMALL_K
    return _expected_pieces(m if by_rows else n, blas.ALIGN, nthreads), by_rows


class Case(tuple):
    """A parametrisation whose pytest id says what it is."""

    def __new__(cls, **kw):
        self = super().__new__(cls, kw.values())
        self.kw = kw
        return self

    def __getattr__(self, name):
        try:
            return self.kw[name]
        except KeyError:
            raise AttributeError(name) from None

    def __str__(self):
        parts = []
        for k, v in self.kw.items():
            if k == "dtype":
                parts.append(np.dtype(v).name)
            elif isinstance(v, bool):
                parts.append(k if v else f"no_{k}")
            else:
                parts.append(f"{k}{v}")
        return "-".join(parts)


# ------------------------------------------------------------------------------------------------ spies
class Spies:
    def __init__(self):
        self.blas, self.columns, self.flat, self.loss, self.chunks, self.optim = [], [], [], [], [], []


@pytest.fixture
def spies(monkeypatch):
    """Record every compiled kernel the ops dispatch to. Only Python-level dispatch names are replaced (never a
    name a compiled function refers to), so Numba compiles and caches exactly what it does without the spies."""
    s = Spies()

    def blas_spy(kind, fn):
        def spy(pieces, *args):
            # args: align, address, wide, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc, by_rows, itemsize,
            # bias
            s.blas.append(dict(kind=kind, pieces=pieces, m=args[5], n=args[6], k=args[7], by_rows=bool(args[16]),
                               bias=args[18].size > 0, accumulate=bool(args[13] != 0)))
            return fn(pieces, *args)
        return spy

    monkeypatch.setattr(gemm_kernels, "split_serial", blas_spy("serial", gemm_kernels.split_serial))
    monkeypatch.setattr(gemm_kernels, "split_parallel", blas_spy("parallel", gemm_kernels.split_parallel))

    names = {nn_kernels._batchnorm_forward: "bn_forward", nn_kernels._batchnorm_backward: "bn_backward",
             nn_kernels._column_sums: "column_sums", nn_kernels._activation_backward: "activation",
             nn_kernels._scaled: "scaled"}

    def wrap(log, name, fn, kind, with_parts, extra):
        def call(*args):
            log.append(dict(name=name, kind=kind, pieces=args[0] if with_parts else 1, **extra(args)))
            return fn(*args)
        return call

    by_columns, flat = nn_kernels._by_columns, nn_kernels._flat

    def by_columns_spy(kernel, kernel_pieces, x, *args):
        name, extra = names[kernel], lambda a: dict(shape=x.shape)
        return by_columns(wrap(s.columns, name, kernel, "serial", False, extra),
                          wrap(s.columns, name, kernel_pieces, "parallel", True, extra), x, *args)

    def flat_spy(kernel, kernel_pieces, *args):
        name = names[kernel]
        if name == "activation":
            name = "tanh" if args[-1] else "sigmoid"
        extra = lambda a: dict(size=args[0].size)
        return flat(wrap(s.flat, name, kernel, "serial", False, extra),
                    wrap(s.flat, name, kernel_pieces, "parallel", True, extra), *args)

    monkeypatch.setattr(nn_kernels, "_by_columns", by_columns_spy)
    monkeypatch.setattr(nn_kernels, "_flat", flat_spy)

    def loss_spy(kind, fn):
        def spy(p, t, diff, partial):
            s.loss.append(dict(kind=kind, chunks=partial.size, shape=p.shape))
            return fn(p, t, diff, partial)
        return spy

    monkeypatch.setattr(nn_kernels, "_difference_squares_serial",
                        loss_spy("serial", nn_kernels._difference_squares_serial))
    monkeypatch.setattr(nn_kernels, "_difference_squares_parallel",
                        loss_spy("parallel", nn_kernels._difference_squares_parallel))

    def chunks_spy(kind, fn):
        def spy(chunks, *args):
            # args: address, wide, batch, g, ldg, x, ldx, w, ... , dx_parts, want_dx
            s.chunks.append(dict(kind=kind, chunks=chunks, batch=args[2], rows=args[7].shape[0],
                                 want_dx=bool(args[-1])))
            return fn(chunks, *args)
        return spy

    monkeypatch.setattr(in_backward, "_chunks_serial", chunks_spy("serial", in_backward._chunks_serial))
    monkeypatch.setattr(in_backward, "_chunks_parallel", chunks_spy("parallel", in_backward._chunks_parallel))

    split = optim_kernels._split

    def split_spy(kernel, arrays, scalars):
        name = {optim_kernels._adam: "adam", optim_kernels._sgd: "sgd", optim_kernels._rmsprop: "rmsprop"}[kernel]
        extra = lambda a: dict(size=arrays[0].size)
        serial = wrap(s.optim, name, kernel, "serial", False, extra)
        monkeypatch.setitem(optim_kernels._PIECES, serial,
                            wrap(s.optim, name, optim_kernels._PIECES[kernel], "parallel", True, extra))
        return split(serial, arrays, scalars)

    monkeypatch.setattr(optim_kernels, "_split", split_spy)
    monkeypatch.delenv("MINIMLP_CPU_KERNELS", raising=False)
    return s


def _use_threads(monkeypatch, n):
    monkeypatch.setitem(threads._state, "threads", n)


def _rng(*key):
    return np.random.default_rng([zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in key])


def _normal(rng, shape, dtype):
    return rng.standard_normal(shape, dtype=dtype)


# ----------------------------------------------------------------------------------------- Linear
def _linear_cases():
    cases = []
    for b in BATCHES:                                             # every batch size at the paper's widths
        for i, (fin, fout) in enumerate(PAPER_LINEAR):
            cases.append(Case(batch=b, fin=fin, fout=fout, dtype=np.float32, bias=(b + i) % 4 != 0, threads=2))
    for b in CHROMA_BATCHES:                                      # the chroma widths
        for i, (fin, fout) in enumerate(CHROMA_LINEAR):
            cases.append(Case(batch=b, fin=fin, fout=fout, dtype=np.float32, bias=i == 0, threads=2))
    for b in (1, 16, 65, 1000):                                   # one thread: the serial split kernel
        for fin, fout in PAPER_LINEAR:
            cases.append(Case(batch=b, fin=fin, fout=fout, dtype=np.float32, bias=b != 16, threads=1))
    for b in (2, 17, 128, 1100):                                  # float64
        for i, (fin, fout) in enumerate(PAPER_LINEAR):
            cases.append(Case(batch=b, fin=fin, fout=fout, dtype=np.float64, bias=i == 1 or b == 17,
                              threads=1 if b == 128 else 2))
    cases.append(Case(batch=17, fin=2048, fout=2048, dtype=np.float64, bias=True, threads=2))
    return cases


LINEAR_CASES = _linear_cases()


def _linear_expected(c):
    """The three products of a Linear's step in order: x Wᵀ + b, G W, Gᵀ x."""
    out = []
    for m, n, k, bias in ((c.batch, c.fout, c.fin, c.bias), (c.batch, c.fin, c.fout, False),
                          (c.fout, c.fin, c.batch, False)):
        split = _expected_split(m, n, k, c.threads)
        assert split is not None, f"a real Linear product {m}x{k}x{n} fell below MIN_WORK: choose another case"
        out.append(dict(kind="serial" if split[0] == 1 else "parallel", pieces=split[0], m=m, n=n, k=k,
                        by_rows=split[1], bias=bias, accumulate=False))
    return out


@pytest.mark.parametrize("c", LINEAR_CASES, ids=str)
def test_linear_products(c, spies, monkeypatch):
    """x Wᵀ + b, ∂L/∂x = G W, ∂L/∂W = Gᵀ x (blas.matmul, split by columns or rows) and ∂L/∂b = Σₙ G
    (fused_numba.column_sums) against the float64 formula."""
    _use_threads(monkeypatch, c.threads)
    rng = _rng("linear", c.batch, c.fin, c.fout)
    layer = nn.Linear(c.fin, c.fout, bias=c.bias, dtype=c.dtype)
    x = _normal(rng, (c.batch, c.fin), c.dtype)
    g = _normal(rng, (c.batch, c.fout), c.dtype)
    w = layer.weight.data.astype(np.float64)
    y = layer(x)
    dx = layer.backward(g)

    assert spies.blas == _linear_expected(c)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    ref_y = x64 @ w.T
    if c.bias:
        ref_y += layer.bias.data.astype(np.float64)
    tol = TOL["product"][c.dtype]
    _close(f"linear forward {np.dtype(c.dtype).name}", y, ref_y, tol)
    _close(f"linear dx {np.dtype(c.dtype).name}", dx, g64 @ w, tol)
    _close(f"linear dW {np.dtype(c.dtype).name}", layer.weight.grad, g64.T @ x64, tol)
    if c.bias:
        assert [(e["name"], e["pieces"]) for e in spies.columns] == [
            ("column_sums", _expected_pieces(c.fout, nn_kernels.GRAIN // c.batch, c.threads))]
        _close(f"linear db {np.dtype(c.dtype).name}", layer.bias.grad, g64.sum(axis=0),
               TOL["elementwise"][c.dtype], scale=np.abs(g64).sum(axis=0))
    else:
        assert spies.columns == []


# The by-rows split with a bias: no real Linear product takes it (a forward's inner size is in_features ≥ 512,
# far above SMALL_K), so blas.matmul is called directly with the tall real shape the by-rows split does serve,
# the 3072 x 512 weight gradient Gᵀ x at a small batch, plus a bias row; and with accumulate (gradient added).
ROWS_BIAS_CASES = [Case(batch=b, rows=3072, cols=512, dtype=dt, threads=t, accumulate=acc)
                   for b in SMALL_BATCHES for dt, t, acc in ((np.float32, 2, False), (np.float32, 1, b % 2 == 1))] + [
    Case(batch=b, rows=3072, cols=512, dtype=np.float64, threads=t, accumulate=acc)
    for b, t, acc in ((1, 2, True), (16, 1, False), (17, 2, False))] + [
    Case(batch=16, rows=4096, cols=512, dtype=np.float32, threads=2, accumulate=False)]


@pytest.mark.parametrize("c", ROWS_BIAS_CASES, ids=str)
def test_blas_by_rows_with_bias(c, spies, monkeypatch):
    _use_threads(monkeypatch, c.threads)
    rng = _rng("rows", c.batch, c.rows)
    g = _normal(rng, (c.batch, c.rows), c.dtype)
    x = _normal(rng, (c.batch, c.cols), c.dtype)
    bias = _normal(rng, (c.cols,), c.dtype)
    out = _normal(rng, (c.rows, c.cols), c.dtype)
    before = out.astype(np.float64)
    result = blas.matmul(g.T, x, out=out, accumulate=c.accumulate, bias=bias)
    assert result is out
    pieces, by_rows = _expected_split(c.rows, c.cols, c.batch, c.threads)
    assert by_rows
    assert spies.blas == [dict(kind="serial" if pieces == 1 else "parallel", pieces=pieces, m=c.rows, n=c.cols,
                               k=c.batch, by_rows=True, bias=True, accumulate=c.accumulate)]
    ref = g.astype(np.float64).T @ x.astype(np.float64) + bias.astype(np.float64)
    if c.accumulate:
        ref += before
    _close(f"blas by rows + bias {np.dtype(c.dtype).name}", out, ref, TOL["product"][c.dtype])


# ------------------------------------------------------------------------------------------ BatchNorm
def _bn_cases():
    cases = []
    for b in BATCHES[1:]:                                         # training BatchNorm needs 2 rows at least
        for width in (512, 3072):                                 # the paper's BatchNorm widths
            cases.append(Case(batch=b, width=width, dtype=np.float32, threads=2))
    for b in (2, 17, 129, 1000):
        cases.append(Case(batch=b, width=2048, dtype=np.float32, threads=2))
    for b in (63, 128, 1100):
        cases.append(Case(batch=b, width=3072, dtype=np.float32, threads=1))
    for b in (3, 65, 256, 4096):
        cases.append(Case(batch=b, width=3072 if b == 256 else 512, dtype=np.float64, threads=2))
    return cases


@pytest.mark.parametrize("c", _bn_cases(), ids=str)
def test_batchnorm(c, spies, monkeypatch):
    """BatchNorm1d training forward (y, running statistics) and backward (∂L/∂x, ∂L/∂γ, ∂L/∂β): the compiled
    kernels, columns cut into pieces, against the float64 formula."""
    _use_threads(monkeypatch, c.threads)
    rng = _rng("bn", c.batch, c.width)
    bn = nn.BatchNorm1d(c.width, dtype=c.dtype)
    bn.weight.data[...] = _normal(rng, (c.width,), c.dtype)
    bn.bias.data[...] = _normal(rng, (c.width,), c.dtype)
    x = _normal(rng, (c.batch, c.width), c.dtype) * c.dtype(2) + c.dtype(1)
    g = _normal(rng, (c.batch, c.width), c.dtype)
    y = bn(x)
    dx = bn.backward(g)

    parts = _expected_pieces(c.width, nn_kernels.GRAIN // c.batch, c.threads)
    kind = "serial" if parts == 1 else "parallel"
    assert [(e["name"], e["kind"], e["pieces"]) for e in spies.columns] == [
        ("bn_forward", kind, parts), ("bn_backward", kind, parts)]

    n = c.batch
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    gamma, beta = bn.weight.data.astype(np.float64), bn.bias.data.astype(np.float64)
    mean = x64.mean(axis=0)
    var = ((x64 - mean) ** 2).mean(axis=0)
    k = 1.0 / np.sqrt(var + bn.eps)
    xhat = (x64 - mean) * k
    sum_g, sum_gx = g64.sum(axis=0), (g64 * xhat).sum(axis=0)
    ref_dx = gamma * k * (g64 - sum_g / n - xhat * sum_gx / n)
    tol = TOL["elementwise"][c.dtype]
    name = np.dtype(c.dtype).name
    # x̂ = (x − μ)/√(σ² + ε): the dtype rounds x − μ to |x|·2⁻²⁴ (float32), which a column of small variance
    # (at batch 2, x₁ ≈ x₂) scales up by 1/√(σ² + ε): per column, x̂'s rounding is that of a number of size
    # cx = max(1, max|x|/√(σ² + ε)), and what is computed from x̂ is measured against its terms' size times cx
    cx = np.maximum(1.0, np.abs(x64).max(axis=0) * k)
    _close(f"bn forward {name}", y, xhat * gamma + beta, tol, scale=np.abs(gamma) * cx)
    _close(f"bn running stats {name}", np.concatenate([bn.running_mean, bn.running_var]),
           np.concatenate([0.1 * mean, 0.9 + 0.1 * var * n / (n - 1)]), tol)
    # (at batch 2 ∂L/∂x is 0 in exact arithmetic: only the size of its terms, γ/√(σ²+ε)·G, measures it)
    _close(f"bn dx {name}", dx, ref_dx, tol, scale=np.abs(gamma) * k * np.abs(g64).max(axis=0) * cx)
    _close(f"bn dgamma {name}", bn.weight.grad, sum_gx, tol, scale=np.abs(g64).sum(axis=0) * cx)
    _close(f"bn dbeta {name}", bn.bias.grad, sum_g, tol, scale=np.abs(g64).sum(axis=0))


# ---------------------------------------------------------------------------------------- activations
def _activation_cases():
    cases = []
    for b in (1, 2, 15, 16, 17, 63, 64, 65, 127, 128, 129, 256, 1000, 4096):
        cases.append(Case(act="Sigmoid", batch=b, width=512, dtype=np.float32, threads=2))   # after BN(512)
        cases.append(Case(act="Tanh", batch=b, width=3072, dtype=np.float32, threads=2))     # after BN(3072)
    for b in (17, 129, 1000):
        cases.append(Case(act="ReLU", batch=b, width=2048, dtype=np.float32, threads=2))     # chroma
    for b in (255, 1100):
        cases.append(Case(act="Sigmoid", batch=b, width=512, dtype=np.float32, threads=1))
        cases.append(Case(act="Tanh", batch=b, width=3072, dtype=np.float64, threads=2))
    cases.append(Case(act="Sigmoid", batch=129, width=512, dtype=np.float64, threads=2))
    return cases


@pytest.mark.parametrize("c", _activation_cases(), ids=str)
def test_activations(c, spies, monkeypatch):
    """Sigmoid/Tanh forward and their compiled backward (``_flat`` pieces); ReLU (readable only)."""
    _use_threads(monkeypatch, c.threads)
    rng = _rng("act", c.act, c.batch)
    module = getattr(nn, c.act)()
    x = _normal(rng, (c.batch, c.width), c.dtype) * c.dtype(3)
    g = _normal(rng, (c.batch, c.width), c.dtype)
    y = module(x)
    dx = module.backward(g)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    if c.act == "ReLU":
        ref_y, ref_dx = np.maximum(x64, 0), g64 * (x64 > 0)
        assert spies.flat == []
    else:
        ref_y = 1 / (1 + np.exp(-x64)) if c.act == "Sigmoid" else np.tanh(x64)
        y64 = y.astype(np.float64)                                # the derivative of the cached output
        ref_dx = g64 * y64 * (1 - y64) if c.act == "Sigmoid" else g64 * (1 - y64 * y64)
        parts = _expected_pieces(c.batch * c.width, nn_kernels.GRAIN, c.threads)
        assert [(e["name"], e["kind"], e["pieces"], e["size"]) for e in spies.flat] == [
            (c.act.lower(), "serial" if parts == 1 else "parallel", parts, c.batch * c.width)]
    tol = TOL["elementwise"][c.dtype]
    name = np.dtype(c.dtype).name
    _close(f"{c.act} forward {name}", y, ref_y, tol)
    _close(f"{c.act} backward {name}", dx, ref_dx, tol)


# ---------------------------------------------------------------------------------------------- MSE
def _mse_cases():
    cases = [Case(batch=b, width=3072, dtype=np.float32, threads=2) for b in BATCHES]   # the paper's output
    cases += [Case(batch=b, width=2048, dtype=np.float32, threads=2) for b in CHROMA_BATCHES]
    cases += [Case(batch=b, width=3072, dtype=np.float32, threads=1) for b in (65, 1000)]
    cases += [Case(batch=b, width=3072, dtype=np.float64, threads=2) for b in (1, 64, 65, 1000, 4096)]
    return cases


@pytest.mark.parametrize("c", _mse_cases(), ids=str)
def test_mse_loss(c, spies, monkeypatch):
    """MSELoss value (rows in LOSS_ROWS chunks, float64 sums) and gradient 2(ŷ − y)/M (``scaled``)."""
    _use_threads(monkeypatch, c.threads)
    rng = _rng("mse", c.batch, c.width)
    pred = _normal(rng, (c.batch, c.width), c.dtype)
    target = np.tanh(_normal(rng, (c.batch, c.width), c.dtype))
    loss = nn.MSELoss()
    value = loss(pred, target)
    grad = loss.backward()

    d = pred.astype(np.float64) - target.astype(np.float64)
    tol = TOL["elementwise"][c.dtype]
    name = np.dtype(c.dtype).name
    _close(f"mse value {name}", np.array(value), np.array((d * d).mean()), tol)
    _close(f"mse grad {name}", grad, 2 * d / d.size, tol)

    chunks = -(-c.batch // nn_kernels.LOSS_ROWS)
    parallel = _expected_pieces(pred.size, nn_kernels.GRAIN, c.threads) > 1 and chunks > 1
    assert spies.loss == [dict(kind="parallel" if parallel else "serial", chunks=chunks, shape=pred.shape)]
    parts = _expected_pieces(pred.size, nn_kernels.GRAIN, c.threads)
    assert [(e["name"], e["pieces"]) for e in spies.flat] == [("scaled", parts)]


# -------------------------------------------------------------- Adam inside backward, and the fused step
def _in_backward_cases():
    cases = []
    shapes = PAPER_LINEAR + CHROMA_LINEAR                         # weights of 512, 3072, 2048, 2048 rows
    for i, b in enumerate(SMALL_BATCHES):
        for j, (fin, fout) in enumerate(shapes):
            if fin == fout == 2048 and b not in (1, 17):
                continue
            cases.append(Case(batch=b, fin=fin, fout=fout, dtype=np.float32, bias=(i + j) % 2 == 0,
                              opt=("Adam", "AdamW", "Adam-amsgrad")[(i + j) % 3], threads=1 + (i + j) % 2,
                              want_dx=not (b == 16 and j == 0)))
    for b, (fin, fout) in ((2, (512, 3072)), (15, (1024, 512)), (17, (1024, 2048))):
        cases.append(Case(batch=b, fin=fin, fout=fout, dtype=np.float64, bias=True, opt="AdamW", threads=2,
                          want_dx=True))
    return cases


OPTIMIZERS = {
    "Adam": lambda ps: optim.Adam(ps, lr=1e-3, weight_decay=0.01),
    "AdamW": lambda ps: optim.AdamW(ps, lr=1e-3, weight_decay=0.05),
    "Adam-amsgrad": lambda ps: optim.Adam(ps, lr=1e-3, amsgrad=True),
}


def _adam_reference(opt_name, dtype, w, g, m, v, vmax, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam/AdamW step in float64 from the given state: (new w, m, v, vmax, slack).

    ``slack``: the rounding of the step in ``dtype`` that the formula itself amplifies, per element. The
    kernel rounds d = g + λw (and w) to their dtype; m/(√v̂ + ε) is steep where d is within a few ε of 0
    (∂/∂d ~ ε/(|d| + ε)²), so there one rounding of d moves the step by far more than the dtype's precision.
    """
    unit = np.finfo(dtype).eps
    wd = {"Adam": 0.01, "AdamW": 0.05, "Adam-amsgrad": 0.0}[opt_name]
    if opt_name == "AdamW":
        w = w * (1 - lr * wd)
    elif wd:
        g = g + wd * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    vhat = np.maximum(vmax, v) if opt_name == "Adam-amsgrad" else v
    c2 = np.sqrt(1 - beta2 ** step)
    denom = np.sqrt(vhat) / c2 + eps
    step_size = lr / (1 - beta1 ** step)
    sensitivity = (1 - beta1) / denom + np.abs(m) * (1 - beta2) * np.abs(g) / (
        c2 * np.maximum(np.sqrt(vhat), 1e-300) * denom * denom)
    rounding = unit * (np.abs(g) + (0 if opt_name == "AdamW" else wd * np.abs(w)))
    slack = 4 * step_size * sensitivity * rounding + unit * np.abs(w)
    return w - step_size * m / denom, m, v, vhat, slack


def _state(opt, i):
    s = opt.state[i]
    return [s[k].astype(np.float64) if k in s else None for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")]


@pytest.mark.parametrize("c", _in_backward_cases(), ids=str)
def test_adam_step_and_in_backward(c, spies, monkeypatch):
    """Step 1: backward then ``opt.step()`` (the fused Adam over the flat buffer, ``optim.fused_numba``).
    Step 2: ``step_in_backward()`` (``in_backward``: ∂L/∂x, ∂L/∂W and the update, chunk by chunk and block by
    block). Each against the float64 formula: the products from the inputs, the updates from the state before
    them and the gradient the code computed (itself checked against Gᵀ x)."""
    _use_threads(monkeypatch, c.threads)
    rng = _rng("inb", c.batch, c.fin, c.fout)
    layer = nn.Linear(c.fin, c.fout, bias=c.bias, dtype=c.dtype)
    opt = OPTIMIZERS[c.opt](layer.parameters())
    name = np.dtype(c.dtype).name

    # step 1: the plain way, the whole Linear's parameters in one fused update
    x = _normal(rng, (c.batch, c.fin), c.dtype)
    g = _normal(rng, (c.batch, c.fout), c.dtype)
    w0 = layer.weight.data.astype(np.float64)
    layer(x)
    layer.backward(g)
    grad1 = layer.weight.grad.astype(np.float64)
    _close(f"linear dW {name}", grad1, g.astype(np.float64).T @ x.astype(np.float64), TOL["product"][c.dtype])
    opt.step()
    size = layer.weight.size + (layer.bias.size if c.bias else 0)
    parts = _expected_pieces(size, optim_kernels.GRAIN, c.threads)
    assert [(e["name"], e["kind"], e["pieces"], e["size"]) for e in spies.optim] == [
        ("adam", "serial" if parts == 1 else "parallel", parts, size)]
    zero = np.zeros_like(w0)
    ref_w1, ref_m1, ref_v1, _, slack1 = _adam_reference(c.opt, c.dtype, w0, grad1, zero, zero, zero, 1)
    _close(f"adam fused step dW {name}", layer.weight.data.astype(np.float64) - w0, ref_w1 - w0,
           TOL["update"][c.dtype], slack=slack1)
    m1, v1, vmax1 = _state(opt, 0)
    _close(f"adam fused m,v {name}", np.concatenate([m1, v1]), np.concatenate([ref_m1, ref_v1]),
           TOL["update"][c.dtype])

    # step 2: inside backward
    spies.blas.clear()
    x = _normal(rng, (c.batch, c.fin), c.dtype)
    g = _normal(rng, (c.batch, c.fout), c.dtype)
    w1 = layer.weight.data.astype(np.float64)
    opt.zero_grad()
    layer(x)
    with opt.step_in_backward():
        if c.want_dx:
            dx = layer.backward(g)
        else:
            dx = layer.backward_parameters(g)
    assert layer.weight.update_in_backward is None
    chunks = -(-c.fout // in_backward.CHUNK_ROWS)
    kind = "serial" if _expected_pieces(chunks, 1, c.threads) == 1 else "parallel"
    assert spies.chunks == [dict(kind=kind, chunks=chunks, batch=c.batch, rows=c.fout, want_dx=c.want_dx)]
    assert [e["m"] for e in spies.blas] == [c.batch]              # only the forward went through blas.matmul
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    grad2 = layer.weight.grad.astype(np.float64)
    _close(f"in-backward dW {name}", grad2, g64.T @ x64, TOL["product"][c.dtype])
    if c.want_dx:
        _close(f"in-backward dx {name}", dx, g64 @ w1, TOL["product"][c.dtype])
    else:
        assert dx is None
    if c.bias:
        _close(f"linear db {name}", layer.bias.grad, g64.sum(axis=0), TOL["elementwise"][c.dtype],
               scale=np.abs(g64).sum(axis=0))
    ref_w2, ref_m2, ref_v2, ref_vmax2, slack2 = _adam_reference(
        c.opt, c.dtype, w1, grad2, m1, v1, vmax1 if vmax1 is not None else v1, 2)
    _close(f"in-backward update dW {name}", layer.weight.data.astype(np.float64) - w1, ref_w2 - w1,
           TOL["update"][c.dtype], slack=slack2)
    m2, v2, vmax2 = _state(opt, 0)
    _close(f"in-backward m,v {name}", np.concatenate([m2, v2]), np.concatenate([ref_m2, ref_v2]),
           TOL["update"][c.dtype])
    if vmax2 is not None:
        _close(f"in-backward vmax {name}", vmax2, ref_vmax2, TOL["update"][c.dtype])
    assert opt.state[0]["step"] == 2


# ------------------------------------------------------------------------------------------ coverage
def test_cases_cover_every_path(split_products):
    """The case lists above reach every implementation, by the same rules the tests assert per case."""
    assert numba.get_num_threads() >= 2, "one Numba thread: the parallel kernels cannot run here"
    # (the split_products fixture: NumPy's OpenBLAS gemm found wherever NumPy ships OpenBLAS)
    blas_paths, columns, flat, loss, chunks = set(), set(), set(), set(), set()
    for c in LINEAR_CASES:
        for e in _linear_expected(c):
            blas_paths.add((e["kind"], e["by_rows"], e["bias"], np.dtype(c.dtype).name))
        if c.bias:
            columns.add(("column_sums", _expected_pieces(c.fout, nn_kernels.GRAIN // c.batch, c.threads) > 1))
    for c in ROWS_BIAS_CASES:
        pieces, by_rows = _expected_split(c.rows, c.cols, c.batch, c.threads)
        blas_paths.add(("serial" if pieces == 1 else "parallel", by_rows, True, np.dtype(c.dtype).name))
    for kind in ("serial", "parallel"):
        for dt in ("float32", "float64"):
            for by_rows, bias in ((False, False), (False, True), (True, False), (True, True)):
                if (by_rows, bias) == (True, False) and dt == "float64" and kind == "serial":
                    continue  # not a required combination (by rows in float64 runs serial with a bias)
                assert (kind, by_rows, bias, dt) in blas_paths, (kind, by_rows, bias, dt)
    for c in _bn_cases():
        columns.add(("bn", _expected_pieces(c.width, nn_kernels.GRAIN // c.batch, c.threads) > 1))
    assert columns == {(k, p) for k in ("bn", "column_sums") for p in (False, True)}
    for c in _activation_cases():
        if c.act != "ReLU":
            flat.add((c.act, _expected_pieces(c.batch * c.width, nn_kernels.GRAIN, c.threads) > 1))
    assert flat == {(a, p) for a in ("Sigmoid", "Tanh") for p in (False, True)}
    mse_batches = set()
    for c in _mse_cases():
        n = -(-c.batch // nn_kernels.LOSS_ROWS)
        loss.add(_expected_pieces(c.batch * c.width, nn_kernels.GRAIN, c.threads) > 1 and n > 1)
        mse_batches.add(c.batch)
    assert loss == {False, True} and mse_batches == set(BATCHES)
    assert {c.batch for c in LINEAR_CASES} == set(BATCHES)
    assert {(c.fin, c.fout) for c in LINEAR_CASES} == set(PAPER_LINEAR + CHROMA_LINEAR)
    for c in _in_backward_cases():
        n = -(-c.fout // in_backward.CHUNK_ROWS)
        chunks.add((_expected_pieces(n, 1, c.threads) > 1, c.want_dx, c.bias, c.fout, np.dtype(c.dtype).name))
    assert {p for p, *_ in chunks} == {False, True} and {d for _, d, *_ in chunks} == {False, True}
    assert {r for *_, r, _ in chunks} == {512, 2048, 3072} and {t for *_, t in chunks} == {"float32", "float64"}
    assert {c.batch for c in _in_backward_cases()} == set(SMALL_BATCHES)
