"""Where the time of one CPU training step of the paper's network goes, op by op.

Wraps each layer's ``forward``/``backward``, the loss and the optimizer with
wall-clock timers and reports the mean over many steps (means add up; the noise of a shared machine makes medians of parts not sum to the median whole) (batch 16 by
default), for the plain API path (``model(x); loss; model.backward; opt.step``).

Usage: python benchmarks/profile_step.py [--batch 16] [--steps 200]
"""
import argparse
import collections
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minimlp  # noqa: E402
from minimlp import allocator, nn, optim  # noqa: E402

TIMES = collections.defaultdict(list)


def timed(name, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        TIMES[name].append(time.perf_counter() - t)
        return out
    return wrapper


def build(seed=0):
    minimlp.manual_seed(seed)
    return nn.Sequential(nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.Sigmoid(),
                         nn.Linear(512, 3072), nn.BatchNorm1d(3072), nn.Tanh())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--plain", action="store_true", help="backward then opt.step(), no step_in_backward")
    args = ap.parse_args()
    allocator.keep_freed_memory()  # as minimlp-colorize does
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 1024), dtype=np.float32)
    Y = np.tanh(rng.standard_normal((5000, 3072), dtype=np.float32))
    model = build()
    opt = optim.Adam(model.parameters(), lr=2e-4)
    loss_fn = nn.MSELoss()
    for i, m in enumerate(model):
        object.__setattr__(m, "forward", timed(f"fwd  {i} {type(m).__name__}", m.forward))
    for i, m in reversed(list(enumerate(model))):
        object.__setattr__(m, "backward", timed(f"bwd  {i} {type(m).__name__}", m.backward))
    first = model[0]
    object.__setattr__(first, "backward_parameters",
                       timed(f"bwd  0 {type(first).__name__} (parameters only)", first.backward_parameters))
    loss_fwd = timed("loss forward", loss_fn.forward)
    loss_bwd = timed("loss backward", loss_fn.backward)
    object.__setattr__(loss_fn, "forward", loss_fwd)
    object.__setattr__(loss_fn, "backward", loss_bwd)
    zero = timed("zero_grad", opt.zero_grad)
    opt_step = timed("Adam step", opt.step)
    opt._step = timed("Adam step (the rest)" if not args.plain else "Adam step (inner)", opt._step)
    opt.zero_grad, opt.step = zero, opt_step
    def step(x, y):
        opt.zero_grad()
        out = model(x)
        loss_fn(out, y)
        if args.plain:
            model.backward(loss_fn.backward(), input_grad=False)
            opt.step()
        else:
            with opt.step_in_backward():
                model.backward(loss_fn.backward(), input_grad=False)

    bs, total = args.batch, []
    for i in range(args.steps + 20):
        a = (i * bs) % (5000 - bs)
        t = time.perf_counter()
        step(X[a:a + bs], Y[a:a + bs])
        if i == 19:
            TIMES.clear()
        elif i > 19:
            total.append(time.perf_counter() - t)
    med_total = float(np.mean(total))
    print(f"plain step, batch {bs}: mean {med_total * 1e3:.2f} ms "
          f"over {args.steps} steps")
    print(f"{'op':<32}{'mean ms':>10}{'share':>8}")
    summed = 0.0
    for name, ts in TIMES.items():
        med = float(np.sum(ts)) / len(total)
        summed += med
        print(f"{name:<32}{med * 1e3:10.3f}{med / med_total:8.0%}")
    print(f"{'(python between ops)':<32}{(med_total - summed) * 1e3:10.3f}")


if __name__ == "__main__":
    main()
