"""The compiled CPU kernels (Numba) compute the same bits as the NumPy chunked kernels."""
import numpy as np
import pytest

pytest.importorskip("numba", reason="Numba is not installed: the NumPy kernels are used instead")

from minimlp.optim import fused_cpu, fused_numba  # noqa: E402
from minimlp.optim.optimizer import cpu_kernels  # noqa: E402

N = 300_001  # several NumPy chunks and an odd tail

CASES = [
    ("sgd", dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, first=False), 1),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-3, nesterov=False, first=False), 1),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-3, nesterov=True, first=True), 1),
    ("rmsprop", dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False), 3),
    ("rmsprop", dict(lr=1e-2, alpha=0.9, eps=1e-6, weight_decay=1e-2, momentum=0.9, centered=True), 3),
    ("adam", dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decay=1.0, step_size=1e-3 / 0.19,
                  bias_correction2_sqrt=0.0447), 2),
    ("adam", dict(beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=1e-2, decay=1.0, step_size=1e-3,
                  bias_correction2_sqrt=0.3), 3),
    ("adam", dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decay=1 - 1e-5, step_size=2e-4,
                  bias_correction2_sqrt=0.9), 2),
]


def _arrays(name, n_state, dtype, seed):
    rng = np.random.default_rng(seed)
    p, g = rng.standard_normal(N).astype(dtype), rng.standard_normal(N).astype(dtype)
    states = [np.abs(rng.standard_normal(N)).astype(dtype) * 0.1 for _ in range(n_state)]
    if name == "rmsprop":
        states[1] *= 0.01  # centered: keep v - ga^2 positive, as it is in a real run
    if name == "adam" and n_state == 3:
        states[2][::7] = 10.0  # amsgrad: some maxima stay
    return [p, g] + states


def _call(module, name, arrays, kw):
    if name == "sgd":
        return module.sgd(arrays[0], arrays[1], arrays[2], **kw)
    if name == "rmsprop":
        sq = arrays[2]
        gavg = arrays[3] if kw["centered"] else None
        buf = arrays[4] if kw["momentum"] else None
        return module.rmsprop(arrays[0], arrays[1], sq, gavg, buf, **kw)
    vmax = arrays[4] if len(arrays) > 4 else None
    return module.adam(arrays[0], arrays[1], arrays[2], arrays[3], vmax, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw,n_state", CASES)
def test_numba_and_numpy_kernels_give_identical_bits(name, kw, n_state, dtype):
    a = _arrays(name, n_state, dtype, seed=3)
    b = [x.copy() for x in a]
    for _ in range(3):
        _call(fused_cpu, name, a, kw)
        _call(fused_numba, name, b, kw)
    for x, y in zip(a, b):
        assert x.dtype == dtype
        np.testing.assert_array_equal(x, y)


def test_kernel_choice_follows_the_environment(monkeypatch):
    monkeypatch.setenv("MINIMLP_CPU_KERNELS", "numpy")
    assert cpu_kernels() is fused_cpu
    monkeypatch.setenv("MINIMLP_CPU_KERNELS", "numba")
    assert cpu_kernels() is fused_numba
    with pytest.raises(ValueError, match="MINIMLP_CPU_KERNELS"):
        cpu_kernels("fortran")
