"""Cold and warm load times of the shared CIFAR-10 JPEG archive.

Cold: a fresh, empty cache folder, so the 60,000 JPEGs are read from the
gzipped tar and decoded (with 1 and with 2 decoding processes). Warm: the same
call again, reading the cached .npz. Also times load_default().

    python benchmarks/bench_data.py [--workers 1 2] [--repeat 3]
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minimlp.data import load_cifar10, load_default, shared_archive_path  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3, help="warm loads to time")
    args = ap.parse_args()
    archive = shared_archive_path()
    if archive is None:
        sys.exit("shared archive not found (../shared/data/cifar10-jpeg.tar.gz or $MINIMLP_SHARED_DATA)")
    print(f"source {archive} ({archive.stat().st_size / 1e6:.1f} MB), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            os.environ["MINIMLP_CACHE"] = cache = os.path.join(tmp, f"workers{w}")
            cold, (train, test) = timed(lambda: load_cifar10(archive, workers=w))
            warm = min(timed(lambda: load_cifar10(archive))[0] for _ in range(args.repeat))
            size = sum(p.stat().st_size for p in Path(cache).iterdir()) / 1e6
            print(f"workers={w}: cold {cold:6.2f} s   warm {warm:5.2f} s   "
                  f"({len(train)} + {len(test)} images, cache {size:.0f} MB)")
        cold, split = timed(load_default)
        warm = min(timed(load_default)[0] for _ in range(args.repeat))
        print(f"load_default(): cold {cold:.2f} s   warm {warm:.2f} s   "
              f"({' / '.join(str(len(s)) for s in split)} images)")
        os.environ.pop("MINIMLP_CACHE")

if __name__ == "__main__":
    main()
