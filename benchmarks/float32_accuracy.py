"""float32 gradients of the chroma network against float64, for minimlp and torch, with ReLU's kinks accounted for.

The chroma network (1024-2048-2048-2048, each Linear followed by BatchNorm1d,
then ReLU, ReLU, Identity; MSE against uniform targets) at batch 1000 has
four million pre-activations at each ReLU. A few of them land within float32
rounding of 0, so a float32 run and the float64 reference can disagree on
which side of the kink they are: that one element then passes its gradient
in one run and not in the other, and the weight row behind it moves by a few
percent of the largest gradient. That is not an error of either run's
arithmetic; it is the derivative being discontinuous there, and it happens
to torch's float32 as often as to minimlp's.

So each float32 run is compared twice: with the plain float64 reference, and
with a float64 reference that uses the float32 run's own ReLU masks (the
same activation pattern: "same-mask"). The second measures the arithmetic.
Errors are the largest gradient difference over the largest gradient, over
all parameters except the Linear biases that feed a BatchNorm (their exact
gradient is 0).

    python benchmarks/float32_accuracy.py --seeds 0 1 2 3 4 5 6 7
"""
import argparse
import os
import subprocess
import sys

import numpy as np

SPEC = [(1024, 2048, "ReLU"), (2048, 2048, "ReLU"), (2048, 2048, "Identity")]
NOISE = {"0.bias", "3.bias", "6.bias"}  # Linear biases feeding a training-mode BatchNorm


def _relative(grads, reference):
    """(largest relative difference, the parameter where it is)."""
    return max((float(np.abs(grads[k] - reference[k]).max() / np.abs(reference[k]).max()), k)
               for k in reference if k not in NOISE)


def _data(seed, batch):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (batch, 1024)).astype(np.float32)
    y = rng.uniform(-1, 1, (batch, 2048)).astype(np.float32)
    return x, y


def _torch_grads(state, x, y, dtype, masks=None):
    """Gradients of torch's copy of the network in ``dtype``, and its ReLU masks (with ``masks``: those used)."""
    import torch

    class Masked(torch.nn.Module):
        def __init__(self, mask):
            super().__init__()
            self.mask = mask

        def forward(self, h):
            return h * self.mask

    layers = []
    for i, (n_in, n_out, act) in enumerate(SPEC):
        relu = masks is not None and act == "ReLU"
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.BatchNorm1d(n_out),
                   Masked(torch.tensor(masks[i], dtype=dtype)) if relu else getattr(torch.nn, act)()]
    net = torch.nn.Sequential(*layers).to(dtype)
    net.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    seen = {}
    for i in range(len(SPEC)):
        net[3 * i + 1].register_forward_hook(lambda m, inp, out, i=i: seen.__setitem__(i, (out > 0).numpy()))
    torch.nn.functional.mse_loss(net(torch.tensor(x, dtype=dtype)), torch.tensor(y, dtype=dtype)).backward()
    return {k: p.grad.double().numpy() for k, p in net.named_parameters()}, seen


def _minimlp_grads(model, x, y):
    """minimlp's float32 gradients and its ReLU masks."""
    from minimlp import nn
    masks, h = {}, x
    for i in range(len(SPEC)):
        h = model[3 * i + 1](model[3 * i](h))
        masks[i] = h > 0
        h = model[3 * i + 2](h)
    loss = nn.MSELoss()
    loss(h, y)
    model.backward(loss.backward())
    return {k: p.grad.astype(np.float64) for k, p in model.named_parameters()}, masks


def gradient_errors(seed, batch=1000):
    """Errors of minimlp's and torch's float32 gradients against float64, plain and same-mask, and the flips.

    minimlp runs on the kernels ``MINIMLP_CPU_KERNELS`` selects in this process.
    """
    import minimlp
    from minimlp import nn
    minimlp.manual_seed(seed)
    model = nn.Sequential(*[m for n_in, n_out, act in SPEC
                            for m in (nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), getattr(nn, act)())])
    state = {k: np.asarray(v) for k, v in model.state_dict().items()}
    state64 = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in state.items()}
    x, y = _data(seed, batch)
    reference, ref_masks = _torch_grads(state64, x, y, _torch_dtype("float64"))
    result = {}
    for who in ("minimlp", "torch"):
        if who == "minimlp":
            grads, masks = _minimlp_grads(model, x, y)
        else:
            grads, masks = _torch_grads(state, x, y, _torch_dtype("float32"))
        same_mask, _ = _torch_grads(state64, x, y, _torch_dtype("float64"), masks)
        result[who] = {"plain": _relative(grads, reference), "same_mask": _relative(grads, same_mask),
                       "flips": int(sum((masks[i] != ref_masks[i]).sum() for i in range(len(SPEC)) if i in masks))}
    return result


def _torch_dtype(name):
    import torch
    return getattr(torch, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--kernels", nargs="+", default=["numba", "numpy"])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        for seed in args.seeds:
            r = gradient_errors(seed, args.batch)
            m, t = r["minimlp"], r["torch"]
            print(f"| {seed} | {os.environ['MINIMLP_CPU_KERNELS']} | {m['plain'][0]:.1e} ({m['plain'][1]}) "
                  f"| {m['flips']} | **{m['same_mask'][0]:.1e}** | {t['plain'][0]:.1e} ({t['plain'][1]}) "
                  f"| {t['flips']} | **{t['same_mask'][0]:.1e}** |", flush=True)
        return
    print("| seed | kernels | minimlp vs float64 | ReLU flips | minimlp same-mask | torch float32 vs float64 "
          "| ReLU flips | torch same-mask |")
    print("|---|---|---|---|---|---|---|---|")
    for kernels in args.kernels:  # each in its own process: the kernel choice is the process's
        env = dict(os.environ, MINIMLP_CPU_KERNELS=kernels)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "--batch", str(args.batch),
                        "--seeds", *map(str, args.seeds)], env=env, check=True)


if __name__ == "__main__":
    main()
