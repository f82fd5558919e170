"""Adam.step() on the paper's 2.1M parameters: minimlp (reference, fused) against torch.optim.Adam.

Network: Linear 1024->512, BatchNorm1d(512), Linear 512->3072, BatchNorm1d(3072)
(weights 512x1024 and 3072x512, biases, BN gammas and betas), float32.
Each framework runs in its own subprocess, alternated A B C D A B C D ...,
with the same thread count (torch.set_num_threads and
minimlp.threads.set_num_threads both set to --threads). Reported: median ms per step over the rounds
and the median of the per-round ratios.

    python benchmarks/bench_optim.py [--rounds 5] [--steps 10] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPES = [(512, 1024), (512,), (512,), (512,), (3072, 512), (3072,), (3072,), (3072,)]
VARIANTS = ["minimlp-reference", "minimlp-fused", "torch", "torch-fused"]


def worker(variant, steps, threads):
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s, dtype=np.float32) * 0.1 for s in SHAPES]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in SHAPES]
    if variant.startswith("torch"):
        import torch
        torch.set_num_threads(threads)
        params = [torch.tensor(a, requires_grad=True) for a in init]
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        opt = torch.optim.Adam(params, lr=1e-3, fused=True) if variant == "torch-fused" else \
            torch.optim.Adam(params, lr=1e-3)
        step = opt.step
    else:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        import minimlp.optim as optim
        from minimlp import threads as minimlp_threads
        from minimlp.nn.parameter import Parameter
        minimlp_threads.set_num_threads(threads)
        params = [Parameter(a) for a in init]
        opt = optim.Adam(params, lr=1e-3, fused=variant == "minimlp-fused")
        for p, g in zip(params, grads):
            p.grad = g
        step = opt.step
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.threads)))
        return
    variants = args.variants.split(",")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    ms = {v: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            out = subprocess.run([sys.executable, __file__, "--worker", v, "--steps", str(args.steps),
                                  "--threads", str(args.threads)], env=env, check=True,
                                 capture_output=True, text=True).stdout
            ms[v].append(float(out.strip().splitlines()[-1]))
    n = sum(int(np.prod(s)) for s in SHAPES)
    print(f"Adam.step() on {n:,} float32 parameters, {args.threads} threads, "
          f"{args.rounds} rounds x {args.steps} steps (median ms per step)")
    print("ratio = this variant's time / the torch variant's time, median of the per-round ratios "
          "(below 1: faster than torch)")
    print(f"{'variant':<20}{'ms/step':>9}   " + "  ".join(f"{'/ ' + v:>14}" for v in variants if v.startswith("torch")))
    for v in variants:
        ratios = [f"{statistics.median(a / b for a, b in zip(ms[v], ms[t])):>13.2f}x"
                  for t in variants if t.startswith("torch")]
        print(f"{v:<20}{statistics.median(ms[v]):>9.2f}   " + "  ".join(ratios))
    print("per round (ms): " + "; ".join(f"{v} " + " ".join(f"{x:.1f}" for x in ms[v]) for v in variants))


if __name__ == "__main__":
    main()
