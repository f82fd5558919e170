"""Start-up time of minimlp's commands, each in a fresh process: cold (Numba compiles) and warm (Numba's cache).

minimlp's compiled kernels are cached on disk by Numba after their first
compilation (``cache=True``; the BLAS calls go through an address passed at
run time, so nothing in them is specific to one process). A cold start is
measured with an empty ``NUMBA_CACHE_DIR`` (as the first run after an
install), a warm one with a cache filled by an earlier run. Cold and warm runs
alternate; the table gives the median wall time of each command.

    python benchmarks/bench_start.py --rounds 5
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _commands(work):
    from PIL import Image
    image = os.path.join(work, "one.png")
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((32, 32)) * 255).astype(np.uint8)).save(image)
    cli = [sys.executable, "-m", "minimlp.colorize"]
    return {
        "import minimlp": [sys.executable, "-c", "import minimlp"],
        "colorize one 32x32 image": cli + ["colorize", image, "-o", os.path.join(work, "out")],
        "evaluate --checkpoint pretrained": cli + ["evaluate", "--checkpoint", "pretrained"],
    }


def _run(cmd, cache_dir, work):
    shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        commands = _commands(work)
        warm_cache = os.path.join(work, "warm-cache")
        for cmd in commands.values():  # fill the warm cache
            _run(cmd, warm_cache, work)
        times = {(name, kind): [] for name in commands for kind in ("cold", "warm")}
        for r in range(args.rounds):
            for name, cmd in commands.items():
                kinds = ("cold", "warm") if r % 2 == 0 else ("warm", "cold")
                for kind in kinds:
                    cache = warm_cache if kind == "warm" else tempfile.mkdtemp(dir=work)
                    times[(name, kind)].append(_run(cmd, cache, work))
                    print(f"  round {r + 1}: {name:34s} {kind}: {times[(name, kind)][-1]:6.2f} s", flush=True)
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"\n{model}, {os.cpu_count()} CPUs; median of {args.rounds} runs each, fresh processes\n")
    print("| command | cold (empty Numba cache) | warm (cached kernels) |")
    print("|---|---|---|")
    for name in commands:
        cold, warm = (statistics.median(times[(name, kind)]) for kind in ("cold", "warm"))
        print(f"| `{name}` | {cold:.2f} s | {warm:.2f} s |")


if __name__ == "__main__":
    main()
