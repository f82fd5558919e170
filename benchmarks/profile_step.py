"""Where the time of one CPU training step goes, op by op: the paper's network (default) or the colorizer's U-Net.

Wraps each layer's ``forward``/``backward``, the loss and the optimizer with wall-clock timers and reports the
mean over many steps (means add up; on a shared machine medians of parts do not sum to the median whole).
``--model paper``: batch 16 by default, Adam, ``step_in_backward`` (``--plain``: backward then ``opt.step()``).
``--model unet``: widths 32-64-128, 32x32 images, SGD with momentum 0.9 as ``bench_conv.py``; the table is then
summed by layer type too, forward and backward apart.

Usage: python benchmarks/profile_step.py [--model paper|unet] [--batch 16] [--steps 200] [--widths 32 64 128 256]
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
from minimlp.nn import fusion  # noqa: E402

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


def _time_fused_pairs(net):
    """Time the BatchNorm + ReLU pairs the Sequentials run as one pass (``nn.fusion``) by their first layer's
    name (wrapping the layers themselves would stop the fusion); returns the ids of the paired layers."""
    names = {id(m): name for name, m in net.named_modules()}
    paired = set()
    for m in net.modules():
        if isinstance(m, nn.Sequential):
            children = list(m)
            for first, second in zip(children, children[1:]):
                if type(first) is nn.BatchNorm2d and type(second) is nn.ReLU:
                    paired.update((id(first), id(second)))
    forward, backward = fusion.forward, fusion.backward
    fusion.forward = lambda first, second, x: timed(f"fwd  BatchNorm2d+ReLU {names[id(first)]}", forward)(
        first, second, x)
    fusion.backward = lambda first, second, dout, want_dx=True: timed(
        f"bwd  BatchNorm2d+ReLU {names[id(first)]}", backward)(first, second, dout, want_dx)
    return paired


def profile_unet(batch, steps, widths=(32, 64, 128)):
    """The U-Net's step, every layer timed; prints the per-type sums, then the layers."""
    from minimlp.colorize.models.unet import unet
    minimlp.manual_seed(0)
    net = unet(widths=widths)
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.MSELoss()
    paired = _time_fused_pairs(net)
    for name, m in net.named_modules():
        if not m._modules and id(m) not in paired:
            label = f"{type(m).__name__} {name}"
            object.__setattr__(m, "forward", timed(f"fwd  {label}", m.forward))
            object.__setattr__(m, "backward", timed(f"bwd  {label}", m.backward))
            object.__setattr__(m, "backward_parameters", timed(f"bwd  {label}", m.backward_parameters))
    opt.step = timed("SGD step", opt.step)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, 32, 32), dtype=np.float32)
    y = rng.standard_normal((batch, 2, 32, 32), dtype=np.float32)
    total = []
    for i in range(steps + 3):
        t = time.perf_counter()
        loss_fn(net(x), y)
        net.backward(loss_fn.backward(), input_grad=False)
        opt.step()
        opt.zero_grad()
        if i == 2:
            TIMES.clear()
        elif i > 2:
            total.append(time.perf_counter() - t)
    mean = float(np.mean(total))
    print(f"U-Net {'-'.join(map(str, widths))} step, batch {batch}: mean {mean * 1e3:.1f} ms over {steps} steps")
    by_type = collections.defaultdict(float)
    for name, ts in TIMES.items():
        by_type[" ".join(name.split()[:2])] += float(np.sum(ts)) / len(total)
    print(f"{'op (all layers of a type)':<32}{'mean ms':>10}{'share':>8}")
    for name, t in sorted(by_type.items(), key=lambda kv: -kv[1]):
        print(f"{name:<32}{t * 1e3:10.2f}{t / mean:8.0%}")
    print(f"{'(python between ops)':<32}{(mean - sum(by_type.values())) * 1e3:10.2f}")
    print(f"\n{'layer':<48}{'mean ms':>10}")
    for name, ts in sorted(TIMES.items(), key=lambda kv: -sum(kv[1])):
        print(f"{name:<48}{float(np.sum(ts)) / len(total) * 1e3:10.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["paper", "unet"], default="paper")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--plain", action="store_true", help="backward then opt.step(), no step_in_backward")
    ap.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128], help="the U-Net's widths (--model unet)")
    args = ap.parse_args()
    allocator.keep_freed_memory()  # as minimlp-colorize does
    if args.model == "unet":
        profile_unet(args.batch, args.steps, tuple(args.widths))
        return
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
    print(f"{'plain step' if args.plain else 'step'}, batch {bs}: mean {med_total * 1e3:.2f} ms "
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
