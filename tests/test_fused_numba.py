"""The compiled optimizer updates (Numba, one pass over the flat buffers) against the readable updates."""
import numpy as np
import pytest

from minimlp import optim
from minimlp.nn import Parameter
from minimlp.optim import fused_numba
from minimlp.optim.optimizer import fused_kernels

N = 300_001  # several pieces of the thread pool and an odd tail

CASES = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-3)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-3, nesterov=True)),
    (optim.RMSprop, dict(lr=1e-2)),
    (optim.RMSprop, dict(lr=1e-2, alpha=0.9, eps=1e-6, weight_decay=1e-2, momentum=0.9, centered=True)),
    (optim.Adam, dict(lr=1e-3)),
    (optim.Adam, dict(lr=1e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2, amsgrad=True)),
    (optim.AdamW, dict(lr=2e-4, weight_decay=0.05)),
]
TOL = {np.float32: 3e-6, np.float64: 1e-14}


def _trajectory(cls, kw, dtype, fused):
    rng = np.random.default_rng(3)
    params = [Parameter(rng.standard_normal(N).astype(dtype)), Parameter(rng.standard_normal((300, 7)).astype(dtype))]
    opt = cls(params, fused=fused, **kw)
    for _ in range(4):
        for p in params:
            p.grad = rng.standard_normal(p.shape).astype(dtype)
        opt.step()
    return [p.data.copy() for p in params], opt.state_dict()["state"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,kw", CASES, ids=[c.__name__ + str(i) for i, (c, _) in enumerate(CASES)])
def test_compiled_updates_equal_the_readable_ones(cls, kw, dtype):
    """Four steps of each optimizer: parameters and every state buffer, to rounding."""
    fused_params, fused_state = _trajectory(cls, kw, dtype, fused=True)
    plain_params, plain_state = _trajectory(cls, kw, dtype, fused=False)
    for a, b in zip(fused_params, plain_params):
        assert a.dtype == dtype
        assert np.max(np.abs(a - b)) <= TOL[dtype] * np.max(np.abs(b))
    for i, state in plain_state.items():
        for name, value in state.items():
            other = fused_state[i][name]
            if name == "step":
                assert other == value
            else:
                assert np.max(np.abs(other - value)) <= TOL[dtype] * max(np.max(np.abs(value)), 1e-30), (i, name)


def test_kernel_choice_follows_the_environment(monkeypatch):
    array = np.zeros(3, np.float32)
    monkeypatch.setenv("MINIMLP_CPU_KERNELS", "numpy")
    assert fused_kernels(array) is None
    monkeypatch.setenv("MINIMLP_CPU_KERNELS", "numba")
    assert fused_kernels(array) is fused_numba
    monkeypatch.setenv("MINIMLP_CPU_KERNELS", "fortran")
    with pytest.raises(ValueError, match="MINIMLP_CPU_KERNELS"):
        fused_kernels(array)
