"""A library changes nothing in the host process: importing minimlp and training with it leave the host's
BLAS thread count, malloc settings, Numba configuration and torch's results as they were.

Each check runs in a fresh interpreter (``python -c``), once with minimlp imported and a few training steps
taken on every CPU kernel path, once without minimlp, and compares what the host sees.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import ctypes, hashlib, json, sys
    import numpy as np
    from threadpoolctl import threadpool_info
    import numba

    def blas_threads():
        return sorted(d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas")

    if sys.argv[1] != "none":
        import os
        os.environ["MINIMLP_CPU_KERNELS"] = sys.argv[1]
        import minimlp
        from minimlp import nn, optim
        minimlp.manual_seed(0)
        model = nn.Sequential(nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.Sigmoid(),
                              nn.Linear(512, 3072), nn.BatchNorm1d(3072), nn.Tanh())
        opt, loss_fn = optim.Adam(model.parameters(), lr=1e-3), nn.MSELoss()
        rng = np.random.default_rng(0)
        for batch, in_backward in ((16, True), (16, False), (256, False)):
            x = rng.standard_normal((batch, 1024), dtype=np.float32)
            y = np.tanh(rng.standard_normal((batch, 3072), dtype=np.float32))
            opt.zero_grad()
            loss_fn(model(x), y)
            if in_backward:
                with opt.step_in_backward():
                    model.backward(loss_fn.backward(), input_grad=False)
            else:
                model.backward(loss_fn.backward())
                opt.step()

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    try:  # glibc: is a 24 MB block still served by mmap (the default threshold), not by the heap?
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = Mallinfo2
        before = libc.mallinfo2().hblkhd
        block = np.ones(24 << 20, np.uint8)
        mmapped = libc.mallinfo2().hblkhd - before >= (24 << 20)
        del block
    except (OSError, AttributeError):
        mmapped = None

    import torch  # torch's float32 results in this process, after minimlp (if any) ran
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1024, 2048), torch.nn.BatchNorm1d(2048), torch.nn.ReLU(),
                              torch.nn.Linear(2048, 2048))
    g = np.random.default_rng(1)
    x = torch.tensor(g.standard_normal((300, 1024), dtype=np.float32))
    y = torch.tensor(g.uniform(-1, 1, (300, 2048)).astype(np.float32))
    torch.nn.functional.mse_loss(net(x), y).backward()
    digest = hashlib.sha256()
    for p in net.parameters():
        digest.update(p.grad.numpy().tobytes())
    print(json.dumps({"blas_threads": blas_threads(), "mmapped": mmapped,
                      "numba_layer_priority": list(numba.config.THREADING_LAYER_PRIORITY),
                      "numba_threads": numba.get_num_threads(), "torch_threads": torch.get_num_threads(),
                      "torch_grads": digest.hexdigest()}))
""")


def _probe(kernels):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIMLP_")}
    proc = subprocess.run([sys.executable, "-c", PROBE, kernels], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def without_minimlp():
    pytest.importorskip("torch")
    return _probe("none")


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_importing_and_training_leave_the_host_process_as_it_was(kernels, without_minimlp):
    """BLAS threads, malloc's mmap threshold, Numba's settings, torch's threads and torch's float32 gradients
    (bit for bit) are the same as in a process that never imported minimlp."""
    host = _probe(kernels)
    assert host == without_minimlp
    if without_minimlp["mmapped"] is not None:
        assert host["mmapped"], "minimlp changed malloc's mmap threshold"
