"""A unet4-vivid training step (batch 64) with its loss's cross-entropy by the formula and by the compiled kernel,
alternated in one process, 6 timed rounds; and the loss alone (soft encoding included). The bins are the shipped
unet4-vivid's.

    python benchmarks/bench_vivid_loss.py
"""
import json
import time

import numpy as np

from minimlp import kernels, optim
from minimlp.colorize.models.architectures import flat_unet
from minimlp.colorize.task.chroma_bin_loss import ChromaBinLoss
from minimlp.colorize.task.chroma_bins import ChromaBins
from minimlp.colorize.models.store import PRETRAINED_DIR

cfg = json.loads((PRETRAINED_DIR / 'unet4-vivid-45k.json').read_text())['config']
bins = ChromaBins.from_config(cfg['chroma_bins'])
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (64, 1024)).astype(np.float32)
t = (rng.standard_normal((64, 2048)) * 0.2).astype(np.float32)
m = flat_unet((32, 64, 128, 256), out_channels=len(bins))
opt = optim.AdamW(m.parameters(), lr=1e-3)
loss = ChromaBinLoss(bins)
step = {"formula": [], "cpu-compiled": []}
alone = {"formula": [], "cpu-compiled": []}
for r in range(7):
    for name in step:
        with kernels.use(soft_cross_entropy=name):
            t0 = time.perf_counter()
            y = m(x)
            t1 = time.perf_counter()
            loss(y, t)
            g = loss.backward()
            t2 = time.perf_counter()
            m.backward(g)
            opt.step()
            opt.zero_grad()
            t3 = time.perf_counter()
        if r:
            step[name].append(t3 - t0)
            alone[name].append(t2 - t1)


def med(v):
    return 1e3 * float(np.median(v))


for name in step:
    print(f"{name:13s} step {med(step[name]):.0f} ms, loss (soft encoding + cross-entropy, forward + backward) "
          f"{med(alone[name]):.0f} ms")
print("step ratio compiled/formula per round:", [round(a / b, 3) for a, b in zip(step["cpu-compiled"], step["formula"])])
