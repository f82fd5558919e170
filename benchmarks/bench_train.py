"""One training epoch of the paper's network: minimlp against PyTorch eager, CPU and (where present) GPU.

The workload (the issue's): 5000 samples, Linear(1024, 512), BatchNorm1d,
Sigmoid, Linear(512, 3072), BatchNorm1d, Tanh; MSE loss; Adam(lr=2e-4);
float32; a shuffled epoch with torch's ``drop_last=False`` batching (the last,
smaller batch included) at batch sizes 16, 64, 256 (and 4096 on the GPU).
The data are synthetic (standard normal inputs, tanh of standard normal
targets): the time of a step does not depend on the values.

Contenders, each in its own fresh process:

- ``minimlp``: ``opt.zero_grad(); loss = loss_fn(model(x), y)``, then
  ``model.backward(loss_fn.backward(), input_grad=False)`` inside
  ``with opt.step_in_backward():`` (the same step as backward then
  ``opt.step()``, with each Linear weight updated as soon as its gradient is
  computed; ``input_grad=False``: no gradient for the input, which torch does
  not compute either, since the input does not require grad); ``--plain``
  times ``backward(...); opt.step()`` instead; its products call NumPy's
  OpenBLAS (``minimlp.kernels.cpu.blas``);
- ``torch``: ``torch.optim.Adam`` with its defaults (for-loop update on CPU);
- ``torch-fused``: ``torch.optim.Adam(fused=True)``, torch's fastest eager setting.

Each process builds its model, runs ``--warmup`` steps (and one step at the
epoch's last, smaller batch size: minimlp compiles its kernels at their first
use, about 4 s in all, as torch too pays its first calls), then times
``--epochs`` epochs and reports the median epoch time. The contenders run in
turn (A B C, C B A, ...) for ``--rounds`` rounds, so that a noisy
neighbour slows all of them alike, and a ratio is taken within each round;
the table gives the median time per contender and the median of the
per-round ratios. Threads: every contender gets ``--threads`` (default 2):
``torch.set_num_threads``; for minimlp, ``MINIMLP_NUM_THREADS`` (its one
thread pool, Numba's, runs the kernels and the products, each product cut
into single-threaded BLAS calls: ``minimlp.kernels.cpu.pool``, ``minimlp.kernels.cpu.blas``)
and OpenBLAS's thread count.

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are removed from the workers'
environment (pass ``--keep-openblas-env`` to keep them); the OpenBLAS kernel
in use is recorded (threadpoolctl) in the JSON.

Usage::

    python benchmarks/bench_train.py                       # CPU, 16 64 256, 3 rounds
    python benchmarks/bench_train.py --batch 16 --rounds 5 --json out.json
    python benchmarks/bench_train.py --device gpu          # where CuPy and CUDA torch exist
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
N_SAMPLES, N_IN, N_HIDDEN, N_OUT, LR = 5000, 1024, 512, 3072, 2e-4
CONTENDERS = ["minimlp", "torch", "torch-fused"]


# ------------------------------------------------------------------- worker
def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_SAMPLES, N_IN), dtype=np.float32)
    y = np.tanh(rng.standard_normal((N_SAMPLES, N_OUT), dtype=np.float32))
    return x, y


def _batches(rng, batch):
    order = rng.permutation(N_SAMPLES)
    return [order[a:a + batch] for a in range(0, N_SAMPLES, batch)]


def _minimlp_step(device, batch, plain=False):
    sys.path.insert(0, ROOT)
    import minimlp
    from minimlp import allocator, backend, nn, optim
    allocator.keep_freed_memory()  # as minimlp-colorize does
    minimlp.manual_seed(0)
    model = nn.Sequential(nn.Linear(N_IN, N_HIDDEN), nn.BatchNorm1d(N_HIDDEN), nn.Sigmoid(),
                          nn.Linear(N_HIDDEN, N_OUT), nn.BatchNorm1d(N_OUT), nn.Tanh()).to(device)
    opt = optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.MSELoss()
    x, y = _data()
    xp = backend.xp_for(device)
    x, y = xp.asarray(x), xp.asarray(y)  # the data set resident on the device
    def step(idx):
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        if plain:
            model.backward(loss_fn.backward(), input_grad=False)
            opt.step()
        else:
            with opt.step_in_backward():
                model.backward(loss_fn.backward(), input_grad=False)
        return loss

    def sync():
        if device == "gpu":
            xp.cuda.Device().synchronize()
    return step, sync, (lambda idx: xp.asarray(idx))


def _torch_step(device, batch, fused):
    import torch
    torch.manual_seed(0)
    dev = "cuda" if device == "gpu" else "cpu"
    model = torch.nn.Sequential(torch.nn.Linear(N_IN, N_HIDDEN), torch.nn.BatchNorm1d(N_HIDDEN), torch.nn.Sigmoid(),
                                torch.nn.Linear(N_HIDDEN, N_OUT), torch.nn.BatchNorm1d(N_OUT),
                                torch.nn.Tanh()).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True if fused else None)
    loss_fn = torch.nn.MSELoss()
    x, y = (torch.from_numpy(a).to(dev) for a in _data())

    def step(idx):
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        return loss  # no .item(): torch is not made to synchronise every step

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()
    return step, sync, (lambda idx: torch.from_numpy(idx).to(dev))


def worker(args):
    threads = args.threads
    info = {"contender": args.worker, "device": args.device, "batch": args.batch, "threads": threads}
    if args.worker.startswith("torch"):
        import torch
        torch.set_num_threads(threads)
        step, sync, index = _torch_step(args.device, args.batch, args.worker == "torch-fused")
        info["torch"] = torch.__version__
    else:
        step, sync, index = _minimlp_step(args.device, args.batch, args.plain)
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: d.get(k) for k in ("internal_api", "architecture", "num_threads", "version")}
                        for d in threadpool_info() if d.get("user_api") == "blas"]
    except ImportError:
        pass
    rng = np.random.default_rng(1)
    epoch = _batches(rng, args.batch)
    warm = epoch[:args.warmup] + epoch[-1:]  # the last, smaller batch too: its first step may compile a kernel
    for idx in warm:
        step(index(idx))
    sync()
    times = []
    for _ in range(args.epochs):
        batches = [index(idx) for idx in _batches(rng, args.batch)]
        t = time.perf_counter()
        for idx in batches:
            step(idx)
        sync()
        times.append(time.perf_counter() - t)
    info["epoch_s"] = times
    info["steps_per_epoch"] = len(batches)
    print("RESULT " + json.dumps(info), flush=True)


# ------------------------------------------------------------- orchestrator
def _worker_env(args):
    env = dict(os.environ)
    if not args.keep_openblas_env:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = str(args.threads)
    env["OMP_NUM_THREADS"] = str(args.threads)
    env["MKL_NUM_THREADS"] = str(args.threads)  # torch's MKL
    env["MINIMLP_NUM_THREADS"] = str(args.threads)  # minimlp.threads: kernels and split products
    return env


def _run_one(args, contender, batch):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender, "--device", args.device,
           "--batch", str(batch), "--epochs", str(args.epochs), "--warmup", str(args.warmup),
           "--threads", str(args.threads)] + (["--plain"] if args.plain else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_worker_env(args),
                          cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{contender} at batch {batch} failed:\n{proc.stdout}\n{proc.stderr}")


def _available(device):
    if device == "cpu":
        return list(CONTENDERS)
    names = []
    try:
        import cupy
        cupy.cuda.runtime.getDeviceCount()
        names += ["minimlp"]
    except Exception as exc:
        print(f"GPU: minimlp skipped (CuPy unavailable: {exc.__class__.__name__})")
    try:
        import torch
        if torch.cuda.is_available():
            names += ["torch", "torch-fused"]
        else:
            print("GPU: torch skipped (torch.cuda.is_available() is False)")
    except ImportError:
        print("GPU: torch skipped (not installed)")
    return names


def orchestrate(args):
    contenders = [c for c in (args.contenders or _available(args.device)) if c in _available(args.device)]
    if not contenders:
        print(f"nothing to run on {args.device}")
        return None
    batches = args.batch_sizes or ([16, 64, 256, 4096] if args.device == "gpu" else [16, 64, 256])
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": _machine(), "device": args.device, "threads": args.threads, "epochs": args.epochs,
               "rounds": args.rounds, "runs": [], "table": []}
    for batch in batches:
        per_round = []
        for r in range(args.rounds):
            order = contenders if r % 2 == 0 else contenders[::-1]
            row = {}
            for c in order:
                res = _run_one(args, c, batch)
                row[c] = float(np.median(res["epoch_s"]))
                results["runs"].append(res)
                print(f"  batch {batch:5d} round {r + 1}: {c:<13} {row[c]:8.3f} s/epoch", flush=True)
            per_round.append(row)
        entry = {"batch": batch}
        for c in contenders:
            entry[c] = float(np.median([row[c] for row in per_round]))
        for theirs in ("torch", "torch-fused"):
            if "minimlp" in contenders and theirs in contenders:
                entry[f"minimlp/{theirs}"] = float(np.median([row["minimlp"] / row[theirs] for row in per_round]))
        results["table"].append(entry)
    print()
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"\nwrote {args.json}")
    return results


def format_table(results):
    """A Markdown table: median s/epoch per contender, median per-round ratios."""
    table = results["table"]
    names = [c for c in CONTENDERS if c in table[0]]
    ratios = [k for k in table[0] if "/" in k]
    head = ["batch"] + [f"{c} s" for c in names] + ratios
    lines = [f"{results['device'].upper()}, {results['threads']} threads, {results['rounds']} rounds, "
             f"{results['machine']}, {results['date']}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in table:
        lines.append("| " + " | ".join([str(e["batch"])] + [f"{e[c]:.3f}" for c in names] +
                                       [f"{e[k]:.2f}x" for k in ratios]) + " |")
    return "\n".join(lines)


def _machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs"


def main():
    ap = argparse.ArgumentParser(description="minimlp vs PyTorch: one epoch of the paper's network")
    ap.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    ap.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1, help="timed epochs per process (median taken)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps before timing")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep-openblas-env", action="store_true")
    ap.add_argument("--plain", action="store_true", help="minimlp: backward then opt.step(), no step_in_backward")
    ap.add_argument("--json", default=os.path.join(HERE, "bench_train.json"))
    # worker mode (internal)
    ap.add_argument("--worker", choices=CONTENDERS, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=16, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
