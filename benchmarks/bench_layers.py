"""Forward and forward+backward of LayerNorm, GroupNorm, GELU, Softmax/LogSoftmax and the losses after them,
float32 at training shapes, 2 threads, best of N: ``python benchmarks/bench_layers.py formula|selected [N]``
(formula: every op forced to its formula; selected: what training picks)."""
import sys
import time

import numpy as np

from minimlp import kernels, nn, threads

threads.set_num_threads(2)
rng = np.random.default_rng(0)
mode = sys.argv[1] if len(sys.argv) > 1 else "formula"
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 5

def best(fn, reps=REPS):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)

def layer_case(name, module, shape):
    x = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    module.train()
    fwd = best(lambda: module(x))
    def both():
        module(x)
        module.backward(g)

    tot = best(both)
    with kernels.record() as log:
        both()
    print(f"{name:32s} fwd {fwd*1e3:8.1f} ms  fwd+bwd {tot*1e3:8.1f} ms  {sorted(set(n for _, _, n in log))}", flush=True)

def loss_case(name, make, shape):
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.integers(0, shape[-1], shape[0])
    mods = make()
    def both():
        h = x
        for m in mods[:-1]:
            h = m(h)
        loss = mods[-1]
        loss(h, y)
        d = loss.backward()
        for m in reversed(mods[:-1]):
            d = m.backward(d)
    tot = best(both)
    with kernels.record() as log:
        both()
    print(f"{name:32s}                    fwd+bwd {tot*1e3:8.1f} ms  {sorted(set(n for _, _, n in log))}", flush=True)

ctx = kernels.use("formula") if mode == "formula" else kernels.use()
with ctx:
    layer_case("LayerNorm(768) 64x128x768", nn.LayerNorm((768,)), (64, 128, 768))
    layer_case("GroupNorm(8,64) 64x64x16x16", nn.GroupNorm(8, 64), (64, 64, 16, 16))
    layer_case("GELU none 64x128x3072", nn.GELU(), (64, 128, 3072))
    layer_case("GELU tanh 64x128x3072", nn.GELU("tanh"), (64, 128, 3072))
    layer_case("Softmax(-1) 64x128x1000", nn.Softmax(dim=-1), (64, 128, 1000))
    layer_case("LogSoftmax(-1) 64x128x1000", nn.LogSoftmax(dim=-1), (64, 128, 1000))
    loss_case("LogSoftmax+NLLLoss 8192x1000", lambda: [nn.LogSoftmax(dim=-1), nn.NLLLoss()], (8192, 1000))
    loss_case("CrossEntropyLoss 8192x1000", lambda: [nn.CrossEntropyLoss()], (8192, 1000))
