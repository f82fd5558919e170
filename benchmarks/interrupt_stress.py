"""Ctrl-C in the first seconds of ``minimlp-colorize train``: how often does it end as a user expects?

Starts ``python -m minimlp.colorize train --quiet --out DIR`` again and again, sends SIGINT at a random moment
after ``config.json`` appears, and counts the exit codes (130 with the "interrupted" line is right; 0 means the
interrupt was lost and the training ran to its end, -2 that CPython killed itself by SIGINT). ``--cold`` gives
each run an empty ``NUMBA_CACHE_DIR``, so that the kernels compile while the SIGINT arrives.

    python benchmarks/interrupt_stress.py --runs 80                       # warm cache, SIGINT 0-0.4 s in
    python benchmarks/interrupt_stress.py --runs 30 --cold --within 3     # empty cache, SIGINT 0-3 s in

Results on the 2-core AMD EPYC: docs/kernels.md ("Ctrl-C while code loads").
"""
import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

INTERRUPTED = "minimlp-colorize train: interrupted;"


def one_run(within, cold, seed):
    folder = tempfile.mkdtemp(prefix="minimlp-interrupt-")
    out = os.path.join(folder, "run")
    env = {**os.environ, "MINIMLP_DEVICE": "cpu"}
    if cold:
        env["NUMBA_CACHE_DIR"] = os.path.join(folder, "numba-cache")
    train = subprocess.Popen([sys.executable, "-m", "minimlp.colorize", "train", "--quiet", "--out", out], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not os.path.exists(os.path.join(out, "config.json")):
        if train.poll() is not None:
            return "failed before training", train.communicate()[1]
        time.sleep(0.001)
    time.sleep(random.Random(seed).uniform(0, within))
    train.send_signal(signal.SIGINT)
    try:
        _, err = train.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        train.kill()
        return "lost (still training 60 s later)", train.communicate()[1]
    if train.returncode == 130 and err.strip().splitlines()[-1:] and err.strip().splitlines()[-1].startswith(
            INTERRUPTED):
        return "130, interrupted", ""
    return f"exit {train.returncode}", err


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--within", type=float, default=0.4, help="SIGINT at a random time up to this many seconds")
    parser.add_argument("--cold", action="store_true", help="an empty Numba cache for each run")
    args = parser.parse_args()
    counts = collections.Counter()
    for run in range(args.runs):
        outcome, err = one_run(args.within, args.cold, seed=run)
        counts[outcome] += 1
        if err:
            print(f"run {run}: {outcome}\n{err[-1500:]}", file=sys.stderr)
    for outcome, count in counts.most_common():
        print(f"{count:4d} of {args.runs}  {outcome}")


if __name__ == "__main__":
    main()
