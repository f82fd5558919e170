"""The split CPU matmul (minimlp.nn.fused_cpu) against its readable twin, numpy.matmul, and torch."""
import numpy as np
import pytest

import minimlp
from minimlp import nn
from torch_reference import rel_error as rel


# ------------------------------------------------------------ nn.fused_cpu.matmul
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_matmul_equals_numpy(dtype, monkeypatch):
    """The two-thread column split gives numpy.matmul's product, for the three products of Linear."""
    from minimlp.nn import fused_cpu
    monkeypatch.setattr(fused_cpu, "MIN_WORK", 0)
    monkeypatch.setattr(fused_cpu, "_threads", 2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 33)).astype(dtype)
    W = rng.standard_normal((45, 33)).astype(dtype)
    G = rng.standard_normal((16, 45)).astype(dtype)
    for a, b in ((x, W.T), (G.T, x), (G, W)):
        out = np.empty((a.shape[0], b.shape[1]), dtype)
        assert fused_cpu.matmul(a, b, out) is out
        np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-5 if dtype == np.float32 else 1e-13,
                                   atol=1e-6 if dtype == np.float32 else 1e-13)


def test_linear_with_split_matmul_matches_torch(monkeypatch):
    """Linear's forward and backward through the split path, against torch in float64."""
    torch = pytest.importorskip("torch")
    from minimlp.nn import fused_cpu
    monkeypatch.setattr(fused_cpu, "MIN_WORK", 0)
    monkeypatch.setattr(fused_cpu, "_threads", 2)
    minimlp.manual_seed(0)
    ours = nn.Linear(20, 30).to(dtype=np.float64)
    ref = torch.nn.Linear(20, 30).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(ours.weight.data))
        ref.bias.copy_(torch.from_numpy(ours.bias.data))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 20))
    g = rng.standard_normal((16, 30))
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(g))
    y = ours.forward(x)
    dx = ours.backward(g)
    assert rel(y, yt.detach().numpy()) <= 1e-12
    assert rel(dx, xt.grad.numpy()) <= 1e-12
    assert rel(ours.weight.grad, ref.weight.grad.numpy()) <= 1e-12
    assert rel(ours.bias.grad, ref.bias.grad.numpy()) <= 1e-12


def test_blas_single_thread_nests_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from minimlp.nn.fused_cpu import blas_single_thread

    def blas_threads():
        """NumPy's own BLAS (torch, once imported by other tests, brings BLAS libraries that are not NumPy's)."""
        return [d["num_threads"] for d in threadpoolctl.threadpool_info()
                if d["user_api"] == "blas" and "numpy" in d["filepath"]]
    before = blas_threads()
    assert before, "threadpoolctl does not see NumPy's BLAS"
    with blas_single_thread():
        with blas_single_thread():
            assert all(n == 1 for n in blas_threads())
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_split_matmul_works_in_a_forked_child(monkeypatch):
    """The helper thread does not survive fork(); the child must start its own instead of waiting forever."""
    import os
    from minimlp.nn import fused_cpu
    monkeypatch.setattr(fused_cpu, "MIN_WORK", 0)
    monkeypatch.setattr(fused_cpu, "_threads", 2)
    a, b = np.ones((4, 6)), np.ones((6, 8))
    fused_cpu.matmul(a, b, np.empty((4, 8)))  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # child: exit 0 only if the product completes
        try:
            out = fused_cpu.matmul(a, b, np.empty((4, 8)))
            os._exit(0 if np.all(out == 6.0) else 1)
        except BaseException:
            os._exit(2)
    deadline = __import__("time").time() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if __import__("time").time() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung in fused_cpu.matmul")
        __import__("time").sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
