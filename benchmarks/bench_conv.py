"""Training-step time of convolutional networks: minimlp against torch eager, each in its own process, alternated.

Two models (float32, batch 64 by default, 32x32 images, SGD with momentum 0.9, MSE loss):

- ``unet``: the colorizer issue's U-Net (``minimlp.colorize.models.unet``: widths 32-64-128, 1 channel in, 2 out)
  and its usual torch twin (``tests/torch_unet.py``);
- ``convstack``: a plain stack of four 3x3 convolutions (3→64→64→64→3 channels, padding 1) with ReLU between.

A step is forward, loss, backward, optimizer step and zero_grad. Each (contender, model, batch) runs in a fresh
process (``--worker``), which warms up and then reports the median of ``--steps`` steps; the parent alternates
the contenders (A B, B A, ...) over ``--rounds`` rounds and reports medians and the median of per-round ratios.
Each row also gives the step's rate in GF/s, counting the convolutions' multiply-adds as the direct sum does
them (forward, ∂X and ∂W: 3x the forward, 2x for a first layer, whose ∂X no one asks for), against the
machine's float32 gemm rate, measured in the same run (NumPy's OpenBLAS, 2048³, in a process of its own):
the distance to the limit is printed, not guessed. Winograd's convolutions need fewer multiplies than they are
credited with, so a rate above the gemm's is possible.

    python benchmarks/bench_conv.py --rounds 3 --steps 5 [--batch-sizes 64] [--device gpu] [--json results.json]

``--device gpu``: minimlp on CuPy and torch on CUDA (cuDNN), the step timed to the GPU's end (both
synchronised after each step). Both compute their float32 products in float32 (torch's cuDNN convolutions would
use TF32 by default: ``torch.backends.cudnn.allow_tf32`` is turned off); ``--tf32`` lets both round the products'
inputs to TF32 (minimlp: ``set_float32_matmul_precision("high")``; torch: cuDNN's and cuBLAS's ``allow_tf32``).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODELS = ("unet", "convstack")


def minimlp_model(model):
    """(network, input channels, output channels)."""
    import minimlp
    from minimlp import nn
    from minimlp.colorize.models.unet import unet
    minimlp.manual_seed(0)
    if model == "unet":
        return unet(), 1, 2
    return (nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 3, 3, padding=1)), 3, 3)


def minimlp_step(model, batch, device, tf32=False):
    import numpy as np
    import minimlp
    from minimlp import nn, optim
    from minimlp.backend import to_device
    if tf32:
        minimlp.set_float32_matmul_precision("high")
    net, cin, cout = minimlp_model(model)
    rng = np.random.default_rng(0)
    net.to(device=device)
    x = to_device(rng.normal(size=(batch, cin, 32, 32)).astype(np.float32), device)
    t = to_device(rng.normal(size=(batch, cout, 32, 32)).astype(np.float32), device)
    loss = nn.MSELoss()
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    sync = (lambda: None) if device == "cpu" else __import__("cupy").cuda.get_current_stream().synchronize

    def step():
        loss(net(x), t)
        net.backward(loss.backward(), input_grad=False)
        opt.step()
        opt.zero_grad()
        sync()
    return step


def torch_step(model, batch, device, tf32=False):
    import torch
    if device == "gpu":                   # the same products as minimlp's: float32, or TF32 for both
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from torch_unet import torch_unet
    torch.manual_seed(0)
    T = torch.nn
    if model == "unet":
        net, cin, cout = torch_unet(), 1, 2
    else:
        net, cin, cout = T.Sequential(T.Conv2d(3, 64, 3, padding=1), T.ReLU(), T.Conv2d(64, 64, 3, padding=1),
                                      T.ReLU(), T.Conv2d(64, 64, 3, padding=1), T.ReLU(),
                                      T.Conv2d(64, 3, 3, padding=1)), 3, 3
    where = "cuda" if device == "gpu" else "cpu"
    net.to(where)
    x = torch.randn(batch, cin, 32, 32, device=where)
    t = torch.randn(batch, cout, 32, 32, device=where)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    sync = torch.cuda.synchronize if where == "cuda" else (lambda: None)

    def step():
        torch.nn.functional.mse_loss(net(x), t).backward()
        opt.step()
        opt.zero_grad()
        sync()
    return step


def step_gflop(model, batch):
    """GFLOP of one training step's convolutions, counted as the direct sum (2 flops per multiply-add): a
    Conv2d does |W| multiply-adds per output position, a ConvTranspose2d |W| per input position."""
    import numpy as np
    from minimlp import nn
    net, cin, _ = minimlp_model(model)
    positions = []

    def counting(layer, conv):
        forward = layer.forward

        def counted(x):
            y = forward(x)
            positions.append((layer, (y if conv else x).shape[2] * (y if conv else x).shape[3]))
            return y
        layer.forward = counted
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            counting(m, isinstance(m, nn.Conv2d))
    net.eval()(np.zeros((1, cin, 32, 32), dtype=np.float32))
    first = positions[0][0]
    return sum(2 * batch * p * layer.weight.data.size * (2 if layer is first else 3) for layer, p in positions) / 1e9


def sgemm_gflops(repeats=5):
    """float32 gemm rate of NumPy's BLAS on this machine: the best of ``repeats`` 2048³ products."""
    import numpy as np
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * 2048 ** 3 / best / 1e9


def _timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def worker(contender, model, batch, steps, device, tf32=False):
    step = (minimlp_step if contender == "minimlp" else torch_step)(model, batch, device, tf32)
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"median_s": statistics.median(times), "times": times}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=3, metavar=("CONTENDER", "MODEL", "BATCH"))
    parser.add_argument("--sgemm-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--tf32", action="store_true", help="on the GPU, both round float32 products to TF32")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.worker:
        contender, model, batch = args.worker
        worker(contender, model, int(batch), args.steps, args.device, args.tf32)
        return
    if args.sgemm_worker:
        print(json.dumps({"sgemm_gflops": sgemm_gflops()}))
        return
    env = dict(os.environ)
    out = subprocess.run([sys.executable, __file__, "--sgemm-worker"], capture_output=True, text=True, env=env,
                         check=True)
    sgemm = json.loads(out.stdout.strip().splitlines()[-1])["sgemm_gflops"]
    print(f"float32 gemm on this machine (NumPy's BLAS, 2048³): {sgemm:.0f} GF/s", flush=True)
    results = {"sgemm_gflops": sgemm}
    for model in args.models:
        for batch in args.batch_sizes:
            rows = {"minimlp": [], "torch": []}
            for r in range(args.rounds):
                order = ["minimlp", "torch"] if r % 2 == 0 else ["torch", "minimlp"]
                for contender in order:
                    out = subprocess.run([sys.executable, __file__, "--worker", contender, model, str(batch),
                                          "--steps", str(args.steps), "--device", args.device]
                                         + (["--tf32"] if args.tf32 else []), capture_output=True, text=True,
                                         env=env, check=True)
                    rows[contender].append(json.loads(out.stdout.strip().splitlines()[-1])["median_s"])
            ratios = [m / t for m, t in zip(rows["minimlp"], rows["torch"])]
            gflop = step_gflop(model, batch)
            rates = {c: gflop / statistics.median(rows[c]) for c in rows}
            results[f"{model} batch {batch}"] = {**rows, "ratios": ratios, "gflop": gflop,
                                                 **{f"{c}_gflops": r for c, r in rates.items()}}
            print(f"{model:9s} batch {batch:3d}: minimlp {statistics.median(rows['minimlp']) * 1e3:8.1f} ms  "
                  f"torch {statistics.median(rows['torch']) * 1e3:8.1f} ms  minimlp/torch "
                  f"{statistics.median(ratios):.2f}x  (per round {', '.join(f'{q:.2f}' for q in ratios)});  "
                  f"{gflop:.1f} GFLOP: minimlp {rates['minimlp']:.0f} GF/s ({rates['minimlp'] / sgemm:.0%} of gemm), "
                  f"torch {rates['torch']:.0f} GF/s ({rates['torch'] / sgemm:.0%})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
