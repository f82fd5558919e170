"""The GPU paths without a GPU: ``tests/fake_cupy`` (NumPy under CuPy's rules) stands in for CuPy.

What it shows: the colorizer trains, checkpoints and scores on the 'GPU' as on the CPU; a training step reads
nothing back from the device (a read is a host synchronisation on a real GPU); the loss stays on the device and
``fit`` reads it once per ``READ_EVERY`` steps, stopping a diverged run there; the whole device-aware suite
passes on the fake (``pytest -m device --device fake-gpu``). Speed and CUDA compilation still need a GPU
(``benchmarks/gpu_check.sh``).
"""
import contextlib
import json
import math
import os
import subprocess
import sys
import warnings

import fake_cupy
import numpy as np
import pytest
from PIL import Image

import minimlp
from minimlp import backend, kernels, nn, optim, random
from minimlp.colorize import cli
from minimlp.colorize.cli.app import build_parser
from minimlp.colorize.cli.commands import make_config
from minimlp.colorize.running.training import _prepare
from minimlp.colorize.task.arrays import task_loss
from minimlp.data import Batches
from minimlp.kernels.gpu import optimizers as gpu_optimizers
from minimlp.train import TrainingDiverged, fit
from minimlp.train.fit import READ_EVERY, _backward_and_step

TINY = ["--train-size", "64", "--batch-size", "16", "--quiet"]


def _clear_kernel_caches():
    """Forget the kernels every GPU module built (for the fake, or for a real CuPy): each is built again."""
    import importlib
    import pkgutil

    import minimlp.kernels.gpu as gpu
    for info in pkgutil.iter_modules(gpu.__path__):
        module = importlib.import_module(f"{gpu.__name__}.{info.name}")
        if hasattr(getattr(module, "_kernel", None), "cache_clear"):
            module._kernel.cache_clear()


@contextlib.contextmanager
def _on_the_fake():
    _clear_kernel_caches()
    cp = fake_cupy.install()
    try:
        yield cp
    finally:
        fake_cupy.uninstall()
        _clear_kernel_caches()


@pytest.fixture
def fake_gpu():
    with _on_the_fake() as cp:
        yield cp


class Gpu:
    """The GPU a test runs on: 'fake' (``tests/fake_cupy``, everywhere) or 'cuda' (CuPy on a real GPU)."""

    def __init__(self, kind, xp):
        self.kind, self.xp = kind, xp

    def large_work(self):
        """A block of whole-dataset work: on the fake the convolutions run the formula's strided copies, since the
        interpreter evaluates a kernel's index arithmetic on whole arrays, for every column of 1,000 images
        (``test_convolution_gpu_kernels_agree_with_the_formula`` checks those kernels at batch 64)."""
        if self.kind == "fake":
            return kernels.use(conv2d="formula", conv_transpose2d="formula")
        return contextlib.nullcontext()

    def no_host_reads(self):
        """A block in which reading a device value raises: the fake's own check, or CuPy's synchronisation
        detector (``cupyx.allow_synchronize``, deprecated but in CuPy 14: it sees ``get()``, which every read
        goes through)."""
        return fake_cupy.forbid_host_reads() if self.kind == "fake" else _cupy_refusing_synchronisation()


@contextlib.contextmanager
def _cupy_refusing_synchronisation():
    import cupyx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # "cupyx.allow_synchronize will be removed in future releases"
        with cupyx.allow_synchronize(False):
            yield


@pytest.fixture(params=["fake", "cuda"])
def gpu(request):
    """Each GPU test twice: on the fake, and on a real GPU where CuPy and one work (skipped elsewhere, saying
    why): ``benchmarks/gpu_check.sh`` runs the 'cuda' ones on the device machine."""
    if request.param == "fake":
        with _on_the_fake() as cp:
            yield Gpu("fake", cp)
        return
    if fake_cupy.installed():
        pytest.skip("the fake GPU serves this run (--device fake-gpu)")
    if not backend.gpu_available():
        pytest.skip(f"no real GPU: {backend.gpu_unavailable_reason()}")
    _clear_kernel_caches()
    yield Gpu("cuda", backend.cupy_module())
    _clear_kernel_caches()


def test_the_fake_refuses_what_cupy_refuses_and_counts_host_reads(fake_gpu):
    cp = fake_gpu
    a = cp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert backend.device_of(a) == "gpu" and backend.get_array_module(a) is cp
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Unsupported type"):
        a + np.ones(3, dtype=np.float32)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        a[0] = np.zeros(3, dtype=np.float32)
    with pytest.raises(AttributeError, match="normal"):
        cp.random.default_rng(0).normal(size=3)        # CuPy's Generator has standard_normal, not normal
    with pytest.raises(NotImplementedError, match="multiply.at"):
        cp.multiply.at(a, [0], 2.0)
    with pytest.raises(TypeError):
        range(a.sum().astype(np.int64))                # no __index__ on a CuPy array
    total = a.sum()
    assert type(total) is cp.ndarray and total.shape == ()   # reductions stay on the device
    fake_cupy.host_reads.clear()
    assert float(total) == 15.0 and a[1, 2].item() == 5.0
    assert [what for what, _ in fake_cupy.host_reads] == ["float", "item"]
    with fake_cupy.forbid_host_reads(), pytest.raises(fake_cupy.HostRead):
        bool(total)
    fake_cupy.host_reads.clear()
    assert f"{total:.1f}" == "15.0" and [what for what, _ in fake_cupy.host_reads] == ["format"]


def test_the_fakes_kernels_take_device_arrays_only_and_count_one_launch_each(fake_gpu):
    cp = fake_gpu
    double = cp.ElementwiseKernel("T x", "T y", "y = x * 2", "double_it")
    total = cp.ReductionKernel("T x, float64 scale", "T y", "x", "a + b", "y = a * scale", "0", "sum_it")
    with pytest.raises(TypeError, match="Unsupported type"):
        double(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="Unsupported type"):
        total(np.ones(3, np.float32), 1.0)
    with pytest.raises(TypeError, match="Unsupported type"):
        total(cp.ones(3, np.float32), [1.0])
    with pytest.raises(NameError):           # CuPy's post_map_expr sees the scalar inputs only
        cp.ReductionKernel("T x", "T y", "x", "a + b", "y = a + x", "0", "post_reads_x")(cp.ones(3, np.float32))
    a = cp.asarray(np.arange(4, dtype=np.float32))
    fake_cupy.launches.clear()
    assert double(a).get().tolist() == [0, 2, 4, 6] and float(total(a, 0.5)) == 3.0
    assert fake_cupy.launches == ["ElementwiseKernel double_it", "ReductionKernel sum_it"]


def test_the_fakes_reduction_without_reduce_type_reduces_in_its_first_outputs_type(fake_gpu):
    """CuPy's ReductionKernel reduces in ``reduce_type``, by default the first output's type (not the map's):
    2²⁶ + six 1s added one at a time stay 2²⁶ in float32, and round to 2²⁶ + 8 from double."""
    cp = fake_gpu
    x = cp.asarray(np.array([2.0 ** 26] + [1.0] * 6, np.float32))
    in_t = cp.ReductionKernel("T x", "T y", "(double)x", "a + b", "y = a", "0", "sum_in_t")
    in_double = cp.ReductionKernel("T x", "T y", "(double)x", "a + b", "y = a", "0", "sum_in_double",
                                   reduce_type="double")
    assert float(in_t(x)) == 2.0 ** 26
    assert float(in_double(x)) == 2.0 ** 26 + 8


def test_the_gpu_mse_value_is_summed_in_double_and_rounded_once(gpu):
    """(ŷ − y)² = 2²⁶ then six 1s: float32 sums lose the 1s (2²⁶), the kernel's double sums round once to
    2²⁶ + 8, for 'sum' and for 'mean' (scaled before rounding)."""
    p = gpu.xp.asarray(np.array([[8192.0] + [1.0] * 6], np.float32))
    exact = 2.0 ** 26 + 6
    for reduction, want in (("sum", exact), ("mean", exact / 7)):
        got = nn.MSELoss(reduction=reduction)(p, gpu.xp.zeros_like(p))
        assert float(got) == float(np.float32(want)), reduction


def test_the_fakes_reduction_outputs_are_references_and_welford_triples_merge(fake_gpu):
    """A reduction's output is a T& in CuPy's C: its post-map reads what was passed in (an update in place), and
    reads poison from one the call made; a double3 of Welford's (count, mean, M2) merges to the whole's."""
    cp = fake_gpu
    moving = cp.ReductionKernel("T x", "T total, T running", "x", "a + b", "total = a, running = running + total",
                                "0", "moving_sum")
    x, running = cp.asarray(np.ones((4, 3), np.float32)), cp.asarray(np.array([1, 2, 3], np.float32))
    total = cp.empty(3, np.float32)
    moving(x, total, running, axis=0)
    assert running.get().tolist() == [5, 6, 7] and total.get().tolist() == [4, 4, 4]
    grow = cp.ReductionKernel("T x", "T y", "x", "a + b", "y = y + a", "0", "grow")
    assert grow(x, running, axis=0).get().tolist() == [9, 10, 11]
    assert np.isnan(grow(x, axis=0).get()).all()           # a new output read before anything wrote it
    welford = cp.ReductionKernel("T x", "T mean, T m2", "make_double3(1, (double)x, 0)", "minimlp_welford(a, b)",
                                 "mean = a.y, m2 = a.z", "make_double3(0, 0, 0)", "welford", reduce_type="double3")
    values = np.random.default_rng(0).normal(size=(7, 5, 3)) + 100
    mean, m2 = cp.empty(5), cp.empty(5)
    welford(cp.asarray(values), mean, m2, axis=(0, 2))
    np.testing.assert_allclose(mean.get(), values.mean(axis=(0, 2)), rtol=1e-15)
    np.testing.assert_allclose(m2.get(), values.var(axis=(0, 2)) * 21, rtol=1e-12)


@pytest.mark.parametrize("size, offset", [(1000, 1e4), (10, 50.0)])
def test_welfords_merge_in_c_gives_the_mean_and_squared_deviations_in_any_order(size, offset, tmp_path):
    """The C merge the GPU BatchNorm's statistics use (``kernels/gpu/batch_norm.WELFORD``), compiled for the
    host by a C++ compiler and run as CuPy's reduction runs it: each thread folds its elements in one at a time,
    then the block's shared-memory tree merges thread t with t + step, step halving. Data far from zero (mean
    1e4, σ 1), where Σx² − (Σx)²/M would lose every digit of σ² in float32 and half of them in double; and fewer
    values than threads (BatchNorm1d at batch 16), where the tree merges empty parts: identity with identity must
    stay (0, 0, 0), not 0/0."""
    import shutil

    from minimlp.kernels.gpu.batch_norm import WELFORD
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler here")
    source = tmp_path / "welford.cpp"
    source.write_text("#include <cstdio>\n#include <vector>\n#define __host__\n#define __device__\n"
                      "struct double3 { double x, y, z; };\n"
                      "double3 make_double3(double x, double y, double z) { return {x, y, z}; }\n" + WELFORD + """
int main() {
    std::vector<double> v; double x;
    while (std::scanf("%lf", &x) == 1) v.push_back(x);
    const double3 none = minimlp_welford(make_double3(0, 0, 0), make_double3(0, 0, 0));
    std::printf("%.17g %.17g %.17g\\n", none.x, none.y, none.z);
    for (int threads : {1, 4, 64, 512}) {
        std::vector<double3> part(threads, make_double3(0, 0, 0));
        for (size_t i = 0; i < v.size(); ++i)
            part[i % threads] = minimlp_welford(part[i % threads], make_double3(1, v[i], 0));
        for (int step = threads / 2; step >= 1; step /= 2)
            for (int t = 0; t < step; ++t) part[t] = minimlp_welford(part[t], part[t + step]);
        std::printf("%.17g %.17g %.17g\\n", part[0].x, part[0].y, part[0].z);
    }
}""")
    binary = tmp_path / "welford"
    built = subprocess.run([compiler, "-O2", str(source), "-o", str(binary)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    values = np.random.default_rng(7).normal(size=size) + offset
    done = subprocess.run([str(binary)], input=" ".join(map(repr, values.tolist())), capture_output=True,
                          text=True, check=True)
    identity, *merged = [tuple(map(float, line.split())) for line in done.stdout.splitlines()]
    assert identity == (0.0, 0.0, 0.0) and len(merged) == 4
    for count, mean, m2 in merged:
        assert count == size
        assert mean == pytest.approx(values.mean(), rel=1e-15)
        assert m2 / count == pytest.approx(values.var(), rel=1e-11)


def test_the_optimizers_gpu_kernels_match_their_formulas(gpu):
    """The ElementwiseKernels (on the fake, their C run by ``fake_cupy.elementwise_c``) against the CPU formulas,
    3 steps."""
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(8, 5)).astype(np.float32) for _ in range(3)]
    grads = [rng.normal(size=(8, 4)).astype(np.float32) for _ in range(3)]
    for make in (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                 lambda p: optim.RMSprop(p, lr=0.01, centered=True, momentum=0.5, weight_decay=0.01),
                 lambda p: optim.Adam(p, lr=0.01, amsgrad=True, weight_decay=0.01),
                 lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1)):
        weights = {}
        for device in ("cpu", "gpu"):
            minimlp.manual_seed(0)
            layer = nn.Linear(5, 4).to(device)
            opt = make(layer.parameters())
            for x, g in zip(inputs, grads):
                opt.zero_grad()
                layer(backend.to_device(x, device))
                layer.backward(backend.to_device(g, device))
                opt.step()
            weights[device] = (backend.to_numpy(layer.weight.data), backend.to_numpy(layer.bias.data))
        for ours, reference in zip(weights["gpu"], weights["cpu"]):
            np.testing.assert_allclose(ours, reference, rtol=2e-5, atol=1e-6, err_msg=type(opt).__name__)


def _train_step_results(model, x, g, device, **forced):
    """A training forward and backward of ``model`` on ``device`` with ``forced`` implementations: the output,
    ∂L/∂x, every gradient and every buffer, as NumPy arrays, and the picks made, (op, role, implementation)."""
    with kernels.use(**forced), kernels.record() as picked:
        y = model(backend.to_device(x, device))
        dx = model.backward(backend.to_device(g, device))
    out = {"y": y, "dx": dx}
    out.update({f"grad {k}": p.grad for k, p in model.named_parameters()})
    out.update({f"buffer {k}": b for k, b in model.named_buffers()})
    return {k: backend.to_numpy(v) for k, v in out.items()}, set(picked)


BATCH_NORM_CASES = [  # the paper MLP's and the U-Net's real shapes with their activations, a bias-free one, …
    ("BatchNorm1d", (16, 512), {}), ("BatchNorm1d", (16, 3072), {}), ("BatchNorm1d", (2, 7, 5), {}),
    ("BatchNorm1d", (16, 512), {"activation": "Sigmoid"}), ("BatchNorm1d", (16, 3072), {"activation": "Tanh"}),
    ("BatchNorm2d", (64, 32, 32, 32), {}), ("BatchNorm2d", (16, 128, 8, 8), {"activation": "ReLU"}),
    ("BatchNorm2d", (64, 32, 32, 32), {"activation": "ReLU"}), ("BatchNorm2d", (3, 6, 5, 4), {"bias": False}),
    ("BatchNorm2d", (3, 6, 5, 4), {"activation": "ReLU", "momentum": None}),
    ("BatchNorm2d", (3, 6, 5, 4), {"activation": "Tanh", "bias": False}),
    ("BatchNorm1d", (2, 7, 5), {"activation": "Sigmoid", "momentum": None}),
    ("BatchNorm1d", (16, 512), {"track_running_stats": False}),
    ("BatchNorm2d", (3, 6, 5, 4), {"activation": "ReLU", "track_running_stats": False}),
]
BATCH_NORM_FORMULAS = {"batch_norm": "formula", "batch_norm_relu": "formula", "batch_norm_sigmoid": "formula",
                       "batch_norm_tanh": "formula"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, shape, options", BATCH_NORM_CASES, ids=str)
def test_batch_norm_gpu_kernels_agree_with_the_formula(name, shape, options, dtype, gpu):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=shape) * 3 + 1).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1]) * 0.5   # β ≠ 0: the shift is tested too
    results = {}
    activation = options.get("activation")
    for forced in (BATCH_NORM_FORMULAS, {}):
        bn = getattr(nn, name)(shape[1], momentum=options.get("momentum", 0.1), bias=options.get("bias", True),
                               track_running_stats=options.get("track_running_stats", True))
        bn.weight.data[...] = gamma
        if bn.bias is not None:
            bn.bias.data[...] = beta
        model = nn.Sequential(bn, getattr(nn, activation)()) if activation else nn.Sequential(bn)
        model.to("gpu", dtype=dtype)
        for step in range(2):                         # two steps: the running statistics move twice
            got, picked = _train_step_results(model, x + step, g, "gpu", **forced)
        results["formula" if forced else "kernels"] = got
        if not forced:
            pair = f"batch_norm_{activation.lower()}" if activation else "batch_norm"
            assert (pair, "forward_train", "gpu-fused") in picked, picked   # its backward is the forward's twin
            assert not any(op == (activation or "").lower() for op, _, _ in picked), picked   # no pass of its own
    assert results["kernels"].get("buffer 0.num_batches_tracked", 2) == 2
    assert ("buffer 0.running_mean" in results["kernels"]) == options.get("track_running_stats", True)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for key, want in results["formula"].items():
        np.testing.assert_allclose(results["kernels"][key], want, rtol=tol, atol=tol, err_msg=key)


@pytest.mark.parametrize("after", ["Sigmoid", "Tanh", "ReLU", "Linear", None])
@pytest.mark.parametrize("options", [{}, {"momentum": None}, {"track_running_stats": False}, {"affine": False}])
def test_a_linear_leaves_its_bias_to_the_batch_norm_after_it_with_the_values_of_the_layers_apart(after, options,
                                                                                                 gpu):
    """On the GPU a Linear before a BatchNorm1d computing batch statistics writes x Wᵀ alone and the BatchNorm
    adds b in its own passes (``nn.fusion.folds_bias``): the same output, ∂L/∂x, gradients and running statistics
    as the layers run one by one, bit for bit, and each layer's own backward still works after the fused
    forward."""
    rng = np.random.default_rng(10)
    x = rng.normal(size=(16, 24)).astype(np.float32)
    g = rng.normal(size=(16, 5 if after == "Linear" else 12)).astype(np.float32)
    bias = rng.normal(size=12).astype(np.float32) * 3
    runs = {}
    for how in ("sequential", "apart", "stepped"):
        minimlp.manual_seed(0)
        layers = [nn.Linear(24, 12), nn.BatchNorm1d(12, **options)]
        layers += [] if after is None else [nn.Linear(12, 5) if after == "Linear" else getattr(nn, after)()]
        model = nn.Sequential(*layers).to("gpu")
        layers[0].bias.data[...] = backend.to_device(bias, "gpu")
        xd, gd = backend.to_device(x, "gpu"), backend.to_device(g, "gpu")
        if how == "apart":
            y = xd
            for layer in layers:
                y = layer(y)
        else:
            y = model(xd)
        if how == "sequential":
            dx = model.backward(gd)
        else:
            dx = gd
            for layer in reversed(layers):
                dx = layer.backward(dx)
        kept = {"y": y, "dx": dx}
        kept.update({f"grad {k}": p.grad for k, p in model.named_parameters()})
        kept.update({f"buffer {k}": b for k, b in model.named_buffers()})
        runs[how] = {k: backend.to_numpy(v) for k, v in kept.items()}
    assert nn.fusion.folds_bias(layers[0], layers[1], xd)
    tol = 0 if fake_cupy.installed() else 1e-6        # a real compiler may contract a product and a sum
    for how in ("sequential", "stepped"):
        assert runs[how].keys() == runs["apart"].keys()
        for key, want in runs["apart"].items():
            np.testing.assert_allclose(runs[how][key], want, rtol=tol, atol=tol, err_msg=f"{how} {key}")


def test_a_linear_keeps_its_bias_where_nothing_would_add_it_for_it(gpu):
    """No fold in evaluation with running statistics, without a bias, on a 3-d input, with hooks, for a
    subclass, or before anything but an exact BatchNorm1d."""
    class MyLinear(nn.Linear):
        pass

    x = backend.to_device(np.ones((4, 8), np.float32), "gpu")
    linear, bn = nn.Linear(8, 3).to("gpu"), nn.BatchNorm1d(3).to("gpu")
    assert nn.fusion.folds_bias(linear, bn, x)
    assert not nn.fusion.folds_bias(linear, nn.BatchNorm1d(3).to("gpu").eval(), x)
    assert nn.fusion.folds_bias(linear, nn.BatchNorm1d(3, track_running_stats=False).to("gpu").eval(), x)
    assert not nn.fusion.folds_bias(nn.Linear(8, 3, bias=False).to("gpu"), bn, x)
    assert not nn.fusion.folds_bias(linear, bn, x.reshape(2, 2, 8))
    assert not nn.fusion.folds_bias(MyLinear(8, 3).to("gpu"), bn, x)
    assert not nn.fusion.folds_bias(linear, nn.LayerNorm(3).to("gpu"), x)
    linear.register_forward_hook(lambda module, args, output: None)
    assert not nn.fusion.folds_bias(linear, bn, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_batch_norm_statistics_of_data_far_from_zero_agree_with_the_two_pass_formula(dtype, gpu):
    """μ and σ² in one pass (Welford's, merged in double) where the mean is 10⁴ standard deviations from zero:
    a single pass of Σx and Σx² would lose σ² there."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(64, 32, 4, 4)) + 1e4
    results = {}
    for forced in (BATCH_NORM_FORMULAS, {}):
        bn = nn.BatchNorm2d(32).to("gpu", dtype=dtype)
        results[bool(forced)], _ = _train_step_results(bn, x.astype(dtype), np.ones_like(x, dtype), "gpu", **forced)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for key in ("y", "buffer running_mean", "buffer running_var"):
        np.testing.assert_allclose(results[False][key], results[True][key], rtol=tol, atol=tol, err_msg=key)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(16, 3072), (8, 2, 32, 32), (7,), (), (0, 3)])
def test_the_mse_gpu_kernels_agree_with_the_formula(shape, reduction, dtype, gpu):
    """The loss in two reductions (per sample, then the samples' sums; in double) and its gradient in one pass,
    both from ŷ and y, against the formula's ŷ − y; ``grad_output`` of each kind, a vector and a 0-d prediction,
    and an empty batch (the formula's, on the GPU too)."""
    rng = np.random.default_rng(9)
    p, t = rng.normal(size=shape).astype(dtype), np.tanh(rng.normal(size=shape)).astype(dtype)
    grad_output = rng.normal(size=shape).astype(dtype) if reduction == "none" else 2.5
    results = []
    for forced in ({"squared_error": "formula"}, {}):
        loss = nn.MSELoss(reduction=reduction)
        with kernels.use(**forced), kernels.record() as picked:
            value = loss(backend.to_device(p, "gpu"), backend.to_device(t, "gpu"))
            go = backend.to_device(grad_output, "gpu") if reduction == "none" else grad_output
            grad = loss.backward(go)
        assert (("squared_error", "forward", "gpu-fused") in picked) == (not forced and p.size > 0), picked
        results.append([np.asarray(backend.to_numpy(value) if not isinstance(value, float) else value),
                        backend.to_numpy(grad)])
    tol = 2e-6 if dtype == np.float32 else 1e-14
    for got, want in zip(*reversed(results)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        assert got.dtype == want.dtype and got.shape == want.shape


@pytest.mark.parametrize("activation", ["Sigmoid", "Tanh", "ReLU"])
def test_a_batch_norm_then_its_activation_run_as_one_pair_with_the_values_of_the_layers_apart(activation, gpu):
    """In a Sequential on the GPU the pair runs as one op (``nn.fusion``); apart, and stepping backward through
    the two layers after the pair's forward, give the same output, gradients and running statistics."""
    rng = np.random.default_rng(5)
    x, g, beta = rng.normal(size=(8, 6, 3, 3)) * 2 + 1, rng.normal(size=(8, 6, 3, 3)), rng.normal(size=6)
    runs = {}
    for how in ("pair", "apart", "stepped"):
        minimlp.manual_seed(0)
        bn, act = nn.BatchNorm2d(6).to("gpu", dtype=np.float64), getattr(nn, activation)()
        bn.bias.data[...] = backend.to_device(beta, "gpu")
        xd, gd = backend.to_device(x, "gpu"), backend.to_device(g, "gpu")
        with kernels.record() as log:
            if how == "apart":
                y = act(bn(xd))
                dx = bn.backward(act.backward(gd))
            else:
                seq = nn.Sequential(bn, act)
                y = seq(xd)
                dx = seq.backward(gd) if how == "pair" else bn.backward(act.backward(gd))
        fused = (f"batch_norm_{activation.lower()}", "forward_train", "gpu-fused") in log
        assert fused == (how != "apart"), log
        kept = {"y": y, "dx": dx, "d gamma": bn.weight.grad, "d beta": bn.bias.grad, "mean": bn.running_mean,
                "var": bn.running_var, "batches": bn.num_batches_tracked}
        runs[how] = {k: backend.to_numpy(v) for k, v in kept.items()}
    for how in ("apart", "stepped"):
        for key, want in runs["pair"].items():
            np.testing.assert_allclose(runs[how][key], want, rtol=1e-12, atol=1e-14, err_msg=f"{how} {key}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation, shape", [("Sigmoid", (16, 512)), ("Tanh", (16, 3072)), ("Sigmoid", (3, 4, 5))])
def test_activation_gpu_kernels_agree_with_the_formula(activation, shape, dtype, gpu):
    rng = np.random.default_rng(2)
    x, g = (rng.normal(size=shape) * 4).astype(dtype), rng.normal(size=shape).astype(dtype)
    results = [_train_step_results(getattr(nn, activation)(), x, g, "gpu", **forced)
               for forced in ({activation.lower(): "formula"}, {})]
    assert (activation.lower(), "backward", "gpu-fused") in results[1][1], results[1][1]
    tol = 1e-6 if dtype == np.float32 else 1e-15
    for key, want in results[0][0].items():
        np.testing.assert_allclose(results[1][0][key], want, rtol=tol, atol=tol, err_msg=key)


CONV_CASES = [  # the U-Net's convolutions at batch 64, then strides, dilation, groups, padding modes, odd kernels
    ("Conv2d", (64, 32, 32, 32), (32, 32, 3), {"padding": 1}),
    ("Conv2d", (64, 1, 32, 32), (1, 32, 3), {"padding": 1}),
    ("ConvTranspose2d", (64, 128, 8, 8), (128, 64, 2), {"stride": 2}),
    ("Conv2d", (3, 4, 11, 9), (4, 6, (5, 3)), {"stride": 2, "dilation": (1, 2), "padding": (2, 1)}),
    ("Conv2d", (2, 6, 9, 10), (6, 4, 3), {"groups": 2, "padding": 2, "padding_mode": "reflect"}),
    ("Conv2d", (2, 3, 7, 7), (3, 5, 3), {"padding": 1, "padding_mode": "circular", "bias": False}),
    ("Conv2d", (2, 4, 7, 6), (4, 6, (4, 2)), {"padding": "same", "groups": 2, "dilation": (1, 2)}),
    ("ConvTranspose2d", (2, 4, 5, 6), (4, 6, 3), {"stride": (2, 3), "padding": 1, "output_padding": (1, 2),
                                                 "dilation": 2, "groups": 2}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, shape, args, kwargs", CONV_CASES, ids=str)
def test_convolution_gpu_kernels_agree_with_the_formula(name, shape, args, kwargs, dtype, gpu):
    """im2col and col2im in one launch each (``kernels/gpu/conv.py``) against the formula's strided copies."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape).astype(dtype)
    results = []
    for forced in ({"conv2d": "formula", "conv_transpose2d": "formula"}, {}):
        minimlp.manual_seed(0)
        layer = getattr(nn, name)(*args, **kwargs).to("gpu", dtype=dtype)
        y_shape = layer(backend.to_device(x, "gpu")).shape
        g = np.random.default_rng(4).normal(size=y_shape).astype(dtype)
        results.append(_train_step_results(layer, x, g, "gpu", **forced))
    assert (name.lower().replace("convtranspose", "conv_transpose"), "forward", "gpu-fused") in results[1][1], \
        results[1][1]
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for key, want in results[0][0].items():
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(results[1][0][key], want, rtol=0, atol=tol * scale, err_msg=key)


@pytest.mark.parametrize("bias", [True, False])
def test_convolution_gradients_accumulate_on_the_gpu_as_the_formulas(bias, gpu):
    """Two backward passes without ``zero_grad`` add up (the kernels write a first gradient straight into its
    storage and add a second one), as the formula's."""
    rng = np.random.default_rng(8)
    x, g = rng.normal(size=(3, 4, 6, 6)), rng.normal(size=(3, 5, 6, 6))
    grads = []
    for forced in ({"conv2d": "formula"}, {}):
        minimlp.manual_seed(0)
        layer = nn.Conv2d(4, 5, 3, padding=1, bias=bias).to("gpu", dtype=np.float64)
        with kernels.use(**forced):
            for scale in (1.0, -0.5):
                layer(backend.to_device(x * scale, "gpu"))
                layer.backward(backend.to_device(g * scale, "gpu"))   # both gradients differ from pass to pass
        grads.append([backend.to_numpy(p.grad) for p in layer.parameters()])
    for got, want in zip(grads[1], grads[0]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_float32_matmul_precision_is_torchs_switch_for_the_gpus_products(gpu):
    """Off by default (CuPy's own setting untouched until asked); "high" lets cuBLAS round float32 inputs to TF32,
    "highest" takes it back; a bad value warns and changes nothing, as torch's. On a real GPU the products'
    error shows it: TF32 keeps 10 bits of mantissa."""
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(256, 512)), rng.normal(size=(512, 128))
    exact = a @ b

    def error():
        ours = gpu.xp.asarray(a.astype(np.float32)) @ gpu.xp.asarray(b.astype(np.float32))
        return float(np.abs(backend.to_numpy(ours) - exact).max() / np.abs(exact).max())

    def compute_type():
        return gpu.xp._core.get_compute_type(np.float32)

    linalg = gpu.xp._core._routines_linalg
    before = compute_type()
    assert minimlp.get_float32_matmul_precision() == "highest"
    try:
        assert compute_type() == before                  # importing and using minimlp changed nothing
        minimlp.set_float32_matmul_precision("high")
        assert minimlp.get_float32_matmul_precision() == "high" and compute_type() == linalg.COMPUTE_TYPE_TF32
        high = error()
        with pytest.warns(UserWarning, match="bad is not one of 'highest', 'high', or 'medium'"):
            minimlp.set_float32_matmul_precision("bad")
        assert minimlp.get_float32_matmul_precision() == "high"
        minimlp.set_float32_matmul_precision("highest")
        assert compute_type() == linalg.COMPUTE_TYPE_DEFAULT
        highest = error()
        assert highest < 1e-5
        if gpu.kind == "cuda" and int(gpu.xp.cuda.Device().compute_capability) >= 80:
            assert high > 1e-4, high                      # tensor cores on TF32 inputs
    finally:
        minimlp.set_float32_matmul_precision("highest")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_convolution_with_uneven_zero_padding_agrees_with_the_formula(dtype, gpu):
    """``padding="same"`` with an even kernel pads (0, 1) rows and (1, 2) columns: im2col's top and left offsets
    and col2im's crop are the pads before, not after."""
    x = np.random.default_rng(3).normal(size=(2, 3, 6, 7)).astype(dtype)
    results = []
    for forced in ({"conv2d": "formula"}, {}):
        minimlp.manual_seed(0)
        layer = nn.Conv2d(3, 4, (2, 4), padding="same").to("gpu", dtype=dtype)
        g = np.random.default_rng(4).normal(size=(2, 4, 6, 7)).astype(dtype)
        results.append(_train_step_results(layer, x, g, "gpu", **forced))
    assert ("conv2d", "forward", "gpu-fused") in results[1][1]
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for key, want in results[0][0].items():
        np.testing.assert_allclose(results[1][0][key], want, rtol=0,
                                   atol=tol * max(1.0, float(np.abs(want).max())), err_msg=key)


def test_a_matmul_precision_set_before_the_gpu_is_probed_applies_when_it_is(monkeypatch):
    """Set before CuPy is loaded, the precision reaches CuPy when minimlp first probes the GPU."""
    cp = fake_cupy.cupy
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_gpu_error", None)
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setitem(backend._matmul_precision, "precision", "highest")
    monkeypatch.setitem(backend._matmul_precision, "asked", False)
    fake_cupy._ComputeTypes.current.clear()
    try:
        minimlp.set_float32_matmul_precision("high")
        assert cp._core.get_compute_type(np.float32) == cp._core._routines_linalg.COMPUTE_TYPE_TBD
        backend._probe_gpu()
        assert backend._cupy is cp
        assert cp._core.get_compute_type(np.float32) == cp._core._routines_linalg.COMPUTE_TYPE_TF32
    finally:
        fake_cupy._ComputeTypes.current.clear()


def test_medium_matmul_precision_is_tf32_on_the_gpu_as_torchs(gpu):
    """torch on CUDA allows TF32 for "medium" too (CuPy has no bfloat16 mode for float32 products)."""
    linalg = gpu.xp._core._routines_linalg
    try:
        minimlp.set_float32_matmul_precision("medium")
        assert gpu.xp._core.get_compute_type(np.float32) == linalg.COMPUTE_TYPE_TF32
    finally:
        minimlp.set_float32_matmul_precision("highest")


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2, padding=1), dict(kernel_size=3, stride=2, padding=1)])
def test_max_pool_windows_all_minus_infinity_beside_the_padding_match_torch(kwargs, gpu):
    """A window of −∞ inputs and padding points at its first input, never at the padding (torch's indices and
    gradient), on the GPU kernel."""
    import torch
    x = np.arange(2 * 3 * 6 * 5, dtype=np.float64).reshape(2, 3, 6, 5)
    x[:, :, :3, :3] = -np.inf
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.MaxPool2d(**kwargs, return_indices=True)(xt)
    grad = np.random.default_rng(2).normal(size=tuple(yt.shape))
    yt.backward(torch.tensor(grad))
    pool = nn.MaxPool2d(**kwargs, return_indices=True)
    with kernels.record() as log:
        y, indices = pool(backend.to_device(x, "gpu"))
        dx = pool.backward(backend.to_device(grad, "gpu"))
    assert ("max_pool2d", "forward", "gpu-fused") in log, log
    np.testing.assert_array_equal(backend.to_numpy(indices), it.numpy())
    np.testing.assert_array_equal(backend.to_numpy(y), yt.detach().numpy())
    np.testing.assert_allclose(backend.to_numpy(dx), xt.grad.numpy(), rtol=0, atol=1e-15)


MAX_POOL_CASES = [  # the U-Net's pools at batch 64 and 8, overlapping, padded, dilated and ceil_mode windows
    ((64, 32, 32, 32), {"kernel_size": 2}), ((8, 64, 16, 16), {"kernel_size": 2}),
    ((3, 4, 11, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((2, 3, 9, 10), {"kernel_size": (3, 2), "stride": (1, 2), "dilation": (2, 1), "padding": (1, 0)}),
    ((2, 3, 7, 8), {"kernel_size": 3, "stride": 2, "ceil_mode": True, "padding": 1}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kwargs", MAX_POOL_CASES, ids=str)
def test_max_pool_gpu_kernels_agree_with_the_formula(shape, kwargs, dtype, gpu):
    """One launch each way (``kernels/gpu/max_pool.py``): the output, the routed gradient (ties to the first
    offset: the input is rounded to halves, so windows hold equal values), NaN windows, and torch's indices."""
    rng = np.random.default_rng(6)
    x = np.round(rng.normal(size=shape) * 2) / 2
    x.reshape(-1)[rng.choice(x.size, 5, replace=False)] = np.nan
    x[0, 0, :3, 1:4] = np.nan                               # windows of several NaNs: the last one is routed to
    x = x.astype(dtype)
    results = []
    for forced in ({"max_pool2d": "formula"}, {}):
        layer = nn.MaxPool2d(return_indices=True, **kwargs)
        with kernels.use(**forced), kernels.record() as picked:
            y, indices = layer(backend.to_device(x, "gpu"))
            g = backend.to_device(np.random.default_rng(7).normal(size=y.shape).astype(dtype), "gpu")
            dx = layer.backward(g)
        results.append({"y": backend.to_numpy(y), "dx": backend.to_numpy(dx), "indices": backend.to_numpy(indices),
                        "picked": set(picked)})
    assert ("max_pool2d", "forward", "gpu-fused") in results[1]["picked"], results[1]["picked"]
    assert results[1]["indices"].dtype == np.int64
    for key in ("y", "indices"):
        np.testing.assert_array_equal(results[1][key], results[0][key], err_msg=key)
    np.testing.assert_allclose(results[1]["dx"], results[0]["dx"], rtol=0, atol=0)   # the same sums in order


def _launches_per_step(model, opt, loss_fn, x, y):
    """Kernel launches of a training step (the second: the first builds the scratch buffers), with the formulas
    forced and with the kernels the selector picks."""
    counts = {}
    for forced in ("formula", None):
        with kernels.use(forced):
            for _ in range(2):
                fake_cupy.launches.clear()
                opt.zero_grad()
                loss_fn(model(x), y)
                _backward_and_step(model, loss_fn.backward(), opt)
        counts[forced] = len(fake_cupy.launches)
    return counts


def test_the_paper_networks_training_step_launches_at_most_19_kernels(fake_gpu):
    """Kernel launches (device operations that write memory, 0-d results included) in a batch-16 step of the
    paper's network with Adam: 106 with the formulas (95 measured on an H200 before the GPU kernels), 19 with
    them (issue 32's target: 20): BatchNorm in two passes forward with the Linear's bias, its activation and the
    running statistics, two back with the activation's derivative; the MSE in two reductions and a gradient
    pass."""
    minimlp.manual_seed(0)
    model = nn.Sequential(nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.Sigmoid(), nn.Linear(512, 3072),
                          nn.BatchNorm1d(3072), nn.Tanh()).to("gpu")
    opt, loss_fn = optim.Adam(model.parameters(), lr=2e-4), nn.MSELoss()
    rng = np.random.default_rng(0)
    x = backend.to_device(rng.normal(size=(16, 1024)).astype(np.float32), "gpu")
    y = backend.to_device(rng.normal(size=(16, 3072)).astype(np.float32), "gpu")
    counts = _launches_per_step(model, opt, loss_fn, x, y)
    assert counts["formula"] >= 100 and counts[None] <= 19, counts


def test_the_unets_training_step_launches_at_most_165_kernels(fake_gpu):
    """The colorizer's U-Net at batch 8 with AdamW: 881 launches with the formulas, 162 with the GPU kernels
    (im2col and col2im in one launch each instead of kh·kw, zero padding read by im2col and ∂L/∂x written in
    place by col2im, gradients written into their storage, BatchNorm with its ReLU in two passes each way,
    max pooling in one launch each way instead of about 40, the MSE in three)."""
    from minimlp.colorize.models.unet import unet
    minimlp.manual_seed(0)
    model = unet().to("gpu")
    opt, loss_fn = optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01), nn.MSELoss()
    rng = np.random.default_rng(0)
    x = backend.to_device(rng.random((8, 1, 32, 32)).astype(np.float32), "gpu")
    y = backend.to_device(rng.random((8, 2, 32, 32)).astype(np.float32), "gpu")
    counts = _launches_per_step(model, opt, loss_fn, x, y)
    assert counts["formula"] >= 850 and counts[None] <= 165, counts


def test_every_gpu_kernel_compiles_with_nvcc(tmp_path, fake_gpu):
    """The C of every ElementwiseKernel and ReductionKernel minimlp builds, in each variant, for float and
    double, through nvcc (``fake_cupy.cuda_source``): the types, overloads and names the interpreter only reads."""
    import itertools
    import shutil

    from fake_cupy import cuda_source

    from minimlp.kernels.gpu import batch_norm, conv, elementwise, loss, max_pool
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc (the CUDA compiler) is not installed here")
    fake_cupy.built.clear()
    for spec in batch_norm.KERNELS:
        batch_norm._kernel(*spec)
    for name in elementwise._BODIES:
        elementwise._kernel(name)
    for name in loss.KERNELS:
        loss._kernel(name)
    for flag in (False, True):
        gpu_optimizers._kernel("sgd", flag)
        gpu_optimizers._kernel("adam", flag)
    for flags in itertools.product((False, True), repeat=2):
        gpu_optimizers._kernel("rmsprop", *flags)
    for spec in max_pool.KERNELS:
        max_pool._kernel(*spec)
    conv._kernel("im2col")
    for kh, kw in ((3, 3), (2, 2), (5, 3), (1, 1)):
        conv._kernel("col2im", kh, kw)
    assert len(fake_cupy.built) == (len(batch_norm.KERNELS) + len(max_pool.KERNELS) + len(elementwise._BODIES)
                                    + len(loss.KERNELS) + 8 + 5)
    source = tmp_path / "kernels.cu"
    source.write_text(cuda_source.source(fake_cupy.built))
    done = subprocess.run([nvcc, "-c", "-arch=sm_90", str(source), "-o", str(tmp_path / "kernels.o")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("model", ["paper-mlp1", "chroma-mlp", "unet-small", "unet-vivid-small"])
def test_a_colorizer_training_step_on_the_gpu_reads_nothing_back(model, gpu):
    """Forward, loss, backward and the update (inside backward where fit does it), with every host read of a
    device value refused: the loss is a 0-d device array, the schedule and the optimizers' counters host
    numbers."""
    config = make_config(build_parser().parse_args(["train", "--model", model, "--out", "unused"] + TINY))
    run = _prepare(config, "gpu")
    loss_fn = task_loss(config)
    batches = iter(run.batches)
    losses = []
    for _ in range(3):
        xb, yb = next(batches)
        with gpu.no_host_reads():
            run.optimizer.zero_grad()
            loss = loss_fn(run.model(xb), yb)
            _backward_and_step(run.model, loss_fn.backward(), run.optimizer)
            if run.scheduler is not None and run.interval == "step":
                run.scheduler.step()
        assert type(loss) is gpu.xp.ndarray and loss.shape == ()
        losses.append(float(loss))
    assert all(math.isfinite(v) for v in losses)


@pytest.mark.parametrize("model", ["paper-mlp1", "unet-vivid-small"])
def test_the_colorizer_trains_and_scores_on_the_gpu_as_on_the_cpu(model, tmp_path, gpu):
    scores = {}
    for device in ("cpu", "gpu"):
        out = str(tmp_path / device)
        with gpu.large_work():
            assert cli.main(["train", "--model", model, "--epochs", "2", "--device", device, "--out", out] + TINY) == 0
        scores[device] = json.load(open(os.path.join(out, "metrics.json")))
        history = open(os.path.join(out, "history.csv")).read().splitlines()
        assert len(history) == 3, history
    for key in ("test_mse", "psnr", "baseline_gray_mse"):
        assert scores["gpu"][key] == pytest.approx(scores["cpu"][key], rel=1e-3), key   # float32, 2 epochs


@pytest.mark.parametrize("checkpoint, options", [("pretrained", ["--resolution", "native"]),
                                                 ("pretrained:unet-vivid-small", ["--resolution", "native"]),
                                                 ("pretrained", ["--flip-average"]),
                                                 ("pretrained:chroma-mlp", [])])
def test_a_photo_colorized_on_the_gpu_is_the_cpus(checkpoint, options, tmp_path, gpu):
    """The photo paths (a U-Net at the photo's own size, its chroma bins, the flip average, an MLP) on the GPU:
    the same picture as on the CPU, reading the device only for each finished tile's colours."""
    photo = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((150, 229, 3)) * 255).astype(np.uint8)).save(photo)
    pictures = {}
    for device in ("cpu", "gpu"):
        out = tmp_path / device
        fake_cupy.host_reads.clear()
        assert cli.main(["colorize", "--checkpoint", checkpoint, *options, str(photo), "-o", str(out),
                         "--device", device]) == 0
        assert all(what == "get" for what, _ in fake_cupy.host_reads)   # (nothing is counted on a real GPU)
        pictures[device] = np.asarray(Image.open(out / "photo_color.png"), dtype=np.int16)
    assert pictures["gpu"].shape == (150, 229, 3)
    assert np.abs(pictures["gpu"] - pictures["cpu"]).max() <= (1 if gpu.kind == "fake" else 2)


def test_evaluate_scores_on_the_gpu_as_on_the_cpu(capsys, gpu):
    scores = {}
    for device in ("cpu", "gpu"):
        with gpu.large_work():
            assert cli.main(["evaluate", "--checkpoint", "pretrained:unet-small", "--json", "--device", device]) == 0
        scores[device] = json.loads(capsys.readouterr().out)
    for key in ("test_mse", "psnr", "colorfulness_ratio", "wrong_hue_rate"):
        assert scores["gpu"][key] == pytest.approx(scores["cpu"][key], rel=1e-5 if gpu.kind == "fake" else 1e-4), key


def _problem(device):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype(np.float32)
    y = np.tanh(x @ rng.normal(size=(6, 3))).astype(np.float32)
    return Batches(x, y, 4, shuffle=False, device=device)


def test_fit_reads_the_gpu_loss_once_per_read_every_steps_and_its_history_matches_the_cpu(tmp_path, fake_gpu):
    histories = {}
    for device in ("cpu", "gpu"):
        minimlp.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).to(device)
        batches = _problem(device)
        fake_cupy.host_reads.clear()
        histories[device] = fit(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=1e-2), batches, epochs=2,
                                quiet=True)
        reads = [what for what, shape in fake_cupy.host_reads]
    steps = len(batches)
    assert steps == 24 and READ_EVERY == 20
    assert reads == ["float"] * 4, reads        # per epoch: at step 20 and at the epoch's end
    for row_gpu, row_cpu in zip(histories["gpu"].rows, histories["cpu"].rows):
        assert row_gpu["train_loss"] == pytest.approx(row_cpu["train_loss"], rel=1e-5)


def test_a_diverged_gpu_run_stops_naming_the_epoch_and_the_steps_since_the_last_read(gpu):
    minimlp.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3)).to("gpu")
    batches = _problem("gpu")
    batches.y[4 * 22 + 1, 0] = np.nan                      # in step 23 of each epoch
    with pytest.raises(TrainingDiverged, match=r"epoch 1, steps 21-24: the running loss is nan"):
        fit(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=1e-3), batches, epochs=2, quiet=True)


def test_an_infinite_gpu_loss_stops_the_run_too(gpu):
    minimlp.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 3)).to("gpu")
    batches = _problem("gpu")
    batches.y[4 * 23 + 1, 0] = np.float32(3e38)          # in the last step: (ŷ − 3e38)² overflows to +inf
    with pytest.raises(TrainingDiverged, match=r"epoch 1, steps 21-24: the running loss is inf"):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=1e-3), batches, epochs=1, quiet=True)


@pytest.mark.parametrize("seeded", [True, False], ids=["seeded", "unseeded"])
def test_a_gpu_run_with_dropout_resumed_from_its_checkpoint_ends_as_one_never_interrupted(seeded, tmp_path, gpu):
    """CuPy's generator state cannot be saved: fit starts it at each epoch from (seed, epoch), so the masks of a
    resumed run are those of an uninterrupted one. Without manual_seed the GPU generator's seed is drawn once
    from the CPU generator, and checkpointed."""
    start = np.random.default_rng(123).bit_generator.state

    def run(folder, epochs, resume=False):
        minimlp.manual_seed(0)                                     # a fresh process (no GPU seed drawn yet)
        if not seeded:
            minimlp.set_rng_state({"seed": None, "numpy": start})  # in which no seed was given
        model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3)).to("gpu")
        fit(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=1e-2), _problem("gpu"), epochs=epochs,
            checkpoint_dir=str(folder), resume=resume, quiet=True)
        return {k: backend.to_numpy(v) for k, v in model.state_dict().items()}

    whole = run(tmp_path / "whole", 4)
    run(tmp_path / "parts", 2)
    resumed = run(tmp_path / "parts", 4, resume=True)
    for key, value in whole.items():
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)


def test_the_gpu_generators_of_neighbouring_seeds_and_epochs_differ(gpu):
    draws = []
    for seed, epoch in ((0, 2), (1, 1), (0, 1)):
        minimlp.manual_seed(seed)
        random.start_epoch(epoch)
        draws.append(backend.to_numpy(random.rng_for(gpu.xp).random(16)))
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[0], draws[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_relu_gpu_kernels_mask_where_the_output_is_exactly_zero(dtype, gpu):
    """γ x̂ + β = 0 exactly (x̂ = 0, β = 0): the ReLU's gradient is 0 there, as the formula's ``y ≤ 0``."""
    x = np.tile(np.array([-1.0, 0.0, 1.0, 0.0], dtype)[:, None], (1, 3))
    results = []
    for forced in (BATCH_NORM_FORMULAS, {}):
        model = nn.Sequential(nn.BatchNorm1d(3), nn.ReLU()).to("gpu", dtype=dtype)
        results.append(_train_step_results(model, x, np.ones_like(x), "gpu", **forced)[0])
    for key, want in results[0].items():
        np.testing.assert_allclose(results[1][key], want, rtol=1e-6, atol=1e-6, err_msg=key)


def test_the_device_aware_suite_passes_on_the_fake_gpu():
    """Every test that takes the ``device`` fixture (layers, losses and optimizers against torch, gradient
    checks, the U-Net), run again with its arrays on the fake GPU, in a process of its own."""
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-m", "device", "--device", "fake-gpu",
                           "-p", "no:cacheprovider", here], capture_output=True, text=True, timeout=900,
                          cwd=os.path.dirname(here))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout
