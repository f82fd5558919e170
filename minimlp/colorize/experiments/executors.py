"""Where a study's or a sweep's runs train: this machine (``local_executor``) or a Ray cluster (``ray_executor``).

Runs are ``(name, config)`` pairs; run ``name`` trains into ``FOLDER/name`` through ``run.run_one``. An
executor takes the runs that are not done yet and reports each one's start, end or failure to a
``SweepProgress``; ``run_runs`` is the common driver, ``train_all`` what reproduce and sweep call.
"""
import json
import os
import sys

from .local_executor import LocalExecutor, SweepFailed
from .sweep_progress import SweepProgress

def make_executor(kind="local", jobs=1, address=None, cpus_per_run=None, shared_path=None, retries=3, device="cpu"):
    """The executor asked for on the command line, a context manager.

    ``ray`` connects (or starts a local cluster) right away, so that a dead
    address is reported before anything is written; leaving the ``with``
    block disconnects (and stops a cluster it started).
    """
    if kind == "local":
        if address or shared_path or cpus_per_run:
            raise ValueError("--address, --shared-path and --cpus-per-run are options of --executor ray")
        return LocalExecutor(jobs)
    if kind == "ray":
        from .ray_executor import RayExecutor
        return RayExecutor(address=address, cpus_per_run=cpus_per_run, shared_path=shared_path, retries=retries,
                           device=device)
    raise ValueError(f"unknown executor {kind!r}; choose 'local' or 'ray'")


def run_runs(todo, folder, executor, device="cpu", log=print):
    """Train the runs of ``todo`` not yet done; return {name: scores}. Raise ``SweepFailed`` if any failed."""
    results, remaining = {}, []
    for name, config in todo:
        path = os.path.join(folder, name, "scores.json")
        if os.path.exists(path):   # finished in an earlier invocation: reused as is
            with open(path, encoding="utf-8") as f:
                results[name] = json.load(f)
        else:
            remaining.append((name, config))
    progress = SweepProgress([name for name, _ in todo], reused=results, log=log)
    if remaining:
        executor.run(remaining, folder, device, progress)
    progress.summary()
    results.update(progress.results)
    if progress.errors:
        first, error = next(iter(progress.errors.items()))
        raise SweepFailed(f"{len(progress.errors)} of {len(todo)} runs failed (first: {first}: {error}); "
                          f"the finished runs are saved, rerun the same command to retry the others")
    return results


def executor_from_args(args, device="cpu"):
    """``make_executor`` from the ``--executor``, ``--jobs``, ``--address``, … options of reproduce and sweep."""
    return make_executor(getattr(args, "executor", "local"), jobs=getattr(args, "jobs", 1),
                         address=getattr(args, "address", None), cpus_per_run=getattr(args, "cpus_per_run", None),
                         shared_path=getattr(args, "shared_path", None), retries=getattr(args, "retries", 3),
                         device=device)


def add_executor_options(parser):
    """``--executor``, ``--jobs``, ``--address``, ``--cpus-per-run``, ``--shared-path``, ``--retries``."""
    parser.add_argument("--executor", default="local", choices=["local", "ray"],
                        help="local: this machine, --jobs processes (default); ray: one Ray task per run "
                             "(pip install -e '.[cluster]')")
    parser.add_argument("--jobs", type=int, default=1, help="local: runs trained side by side (processes)")
    parser.add_argument("--address", help="ray: a running cluster, 'auto' or HOST:PORT (default: start a local one)")
    parser.add_argument("--cpus-per-run", type=int, help="ray: CPUs (and minimlp threads) per run (default: the "
                                                          "threads a local run uses, so the numbers are the same)")
    parser.add_argument("--shared-path", help="ray: a folder every node mounts at the same path; checkpoints stay "
                                              "there and only small files come back")
    parser.add_argument("--retries", type=int, default=3, help="ray: retries of a run whose worker died")


def run_device(args):
    """The device of the runs: ``--device``, except that 'auto' means the CPU where several processes or nodes
    train side by side (one GPU is not shared out)."""
    if args.device != "auto":
        return args.device
    return "cpu" if getattr(args, "jobs", 1) > 1 or getattr(args, "executor", "local") != "local" else "auto"


def train_all(args, todo, out, device, what):
    """Train ``todo`` into ``OUT/runs`` on the executor the options ask for; return (scores by name, executor).

    The executor connects first, so a dead address writes nothing. ``what`` opens the line announcing the
    runs. ``OUT/runs/.gitignore`` keeps the checkpoints out of git.
    """
    with executor_from_args(args, device) as executor:
        print(f"{what}{len(todo)} runs into {os.path.join(out, 'runs')} ({executor.describe()})", file=sys.stderr)
        folder = os.path.join(out, "runs")
        os.makedirs(folder, exist_ok=True)
        ignore = os.path.join(folder, ".gitignore")
        if not os.path.exists(ignore):
            with open(ignore, "w", encoding="utf-8") as f:
                f.write("*\n")
        return run_runs(todo, folder, executor, device, log=lambda text: print(text, file=sys.stderr, flush=True)), \
            executor
