"""The fused optimizer steps allocate nothing parameter-sized (tracemalloc sees NumPy's buffers)."""
import tracemalloc

import numpy as np
import pytest

import minimlp.optim as optim
from minimlp.nn.parameter import Parameter

# the paper's network: Linear 1024->512, BatchNorm1d(512), Linear 512->3072, BatchNorm1d(3072)
SHAPES = [(512, 1024), (512,), (512,), (512,), (3072, 512), (3072,), (3072,), (3072,)]

CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)),
    ("RMSprop", dict(momentum=0.9, centered=True, weight_decay=1e-4)),
    ("Adam", dict(weight_decay=1e-4, amsgrad=True)),
    ("Adam", dict()),
    ("AdamW", dict()),
]


def _peak_step_bytes(name, kw, fused):
    rng = np.random.default_rng(0)
    params = [Parameter(rng.standard_normal(s, dtype=np.float32)) for s in SHAPES]
    opt = getattr(optim, name)(params, fused=fused, **kw)
    for p in params:
        p.grad = rng.standard_normal(p.shape, dtype=np.float32)
    opt.step()  # the first step allocates the state
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        opt.step()
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, sum(p.data.nbytes for p in params)


@pytest.mark.parametrize("name,kw", CASES, ids=[n + str(i) for i, (n, _) in enumerate(CASES)])
def test_fused_step_allocates_under_one_percent(name, kw):
    peak, param_bytes = _peak_step_bytes(name, kw, fused=True)
    assert peak < 0.01 * param_bytes, f"step() allocated {peak} bytes, parameters are {param_bytes}"


def test_measurement_sees_the_reference_temporaries():
    """The readable reference allocates temporaries; the same measurement must notice them."""
    peak, param_bytes = _peak_step_bytes("Adam", {}, fused=False)
    assert peak > 0.5 * max(s[0] * (s[1] if len(s) > 1 else 1) for s in SHAPES) * 4


def test_two_threads_give_the_same_bits(monkeypatch):
    """The compiled update cut into pieces on two threads computes exactly what one thread does."""
    from minimlp import threads
    results = []
    for count in (1, 2):
        monkeypatch.setitem(threads._state, "threads", count)
        rng = np.random.default_rng(1)
        params = [Parameter(rng.standard_normal(s, dtype=np.float32)) for s in SHAPES[:2]]
        opt = optim.Adam(params, amsgrad=True, weight_decay=0.01)
        for _ in range(3):
            for p in params:
                p.grad = rng.standard_normal(p.shape, dtype=np.float32)
            opt.step()
        results.append([p.data.copy() for p in params])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
