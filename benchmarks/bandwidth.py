"""Memory bandwidth of this machine, as NumPy sees it: the physical limit for a training step.

A batch-16 step of the paper's network is limited by memory traffic, not
arithmetic: Adam reads parameter, gradient and both moments and writes three
of them, and each matmul streams its weight matrix once. This script measures
what one and two threads can move, for working sets from L2-sized to well
beyond the last-level cache:

- ``copy``: ``np.copyto(dst, src)``; traffic = 2 x bytes (read src, write dst);
- ``triad``: ``np.multiply(a, s, out=t); np.add(t, b, out=dst)`` in L2-sized
  chunks (read 2, write 1);
- ``read``: ``a.sum()`` (read only).

Rates are bytes moved (read + written) per second; "copy rate" in the summary
is the copied size per second (half of the copy traffic), the number people
usually quote as "this machine copies N GB/s".

Usage: python benchmarks/bandwidth.py [--threads 1 2] [--json out.json]
"""
import argparse
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SIZES_MB = [1, 8, 34, 128, 512]
CHUNK = 1 << 15


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), float(min(times))


def _split(n, k):
    per = -(-n // k)
    return [(a, min(a + per, n)) for a in range(0, n, per)]


def measure(size_mb, threads, repeat):
    n = int(size_mb * (1 << 20)) // 4
    src = np.ones(n, np.float32)
    dst = np.zeros(n, np.float32)
    b = np.ones(n, np.float32)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    parts = _split(n, threads)

    def run(body):
        if pool is None:
            body(0, n)
        else:
            list(pool.map(lambda ab: body(*ab), parts))

    def copy(a0, a1):
        np.copyto(dst[a0:a1], src[a0:a1])

    def triad(a0, a1):
        t = np.empty(CHUNK, np.float32)
        for a in range(a0, a1, CHUNK):
            e = min(a + CHUNK, a1)
            np.multiply(src[a:e], 0.5, out=t[:e - a])
            np.add(t[:e - a], b[a:e], out=dst[a:e])

    sums = [0.0] * threads

    def read(a0, a1):
        sums[0] += float(src[a0:a1].sum())

    out = {}
    for name, body, traffic in (("copy", copy, 2), ("triad", triad, 3), ("read", read, 1)):
        run(body)  # warm up, fault pages in
        med, best = _best(lambda: run(body), repeat)
        out[name] = {"GBps_median": traffic * 4 * n / med / 1e9, "GBps_best": traffic * 4 * n / best / 1e9}
    if pool is not None:
        pool.shutdown()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--sizes", type=float, nargs="+", default=SIZES_MB, help="working-set sizes in MB")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
               "numpy": np.__version__, "rows": []}
    print(f"{'MB':>6} {'thr':>3} {'copy GB/s':>10} {'triad GB/s':>11} {'read GB/s':>10}   (bytes read+written /s, median)")
    for size in args.sizes:
        for k in args.threads:
            r = measure(size, k, max(3, int(args.repeat * min(1.0, 64 / size))))
            results["rows"].append({"MB": size, "threads": k, **r})
            print(f"{size:6.0f} {k:3d} {r['copy']['GBps_median']:10.1f} {r['triad']['GBps_median']:11.1f} "
                  f"{r['read']['GBps_median']:10.1f}")
    big = [row for row in results["rows"] if row["MB"] == max(args.sizes)]
    best = max(big, key=lambda row: row["copy"]["GBps_median"])
    print(f"largest working set: copy traffic {best['copy']['GBps_median']:.1f} GB/s "
          f"= copy rate {best['copy']['GBps_median'] / 2:.1f} GB/s ({best['threads']} threads)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
