"""Where a sweep's runs train: a local process pool (the default) or a Ray cluster (``ray_executor.py``).

A sweep is a list of runs, each a ``(name, config)`` pair; run ``name`` trains
into ``FOLDER/name`` through ``reproduce.run_one`` (train, or resume from
``last.npz``, or only re-score, or skip when ``scores.json`` exists). An
executor takes the runs that are not done yet and reports each one's start,
end or failure to a ``SweepProgress``; ``run_runs`` is the common driver.

The local executor: ``jobs=1`` trains in this process, one run after the
other; ``jobs=N`` trains N runs side by side in spawned processes, each
started with ``WORKER_ENVIRONMENT`` (one BLAS thread: on a busy 2-core machine
one BLAS thread per process is several times faster than OpenBLAS's default
threading). The Ray executor starts its tasks with the same environment.
"""
import os

from .. import settings
from .sweep_progress import SweepProgress

WORKER_ENVIRONMENT = {name: "1" for name in settings.BLAS_THREAD_VARIABLES}


class SweepFailed(RuntimeError):
    """Some runs failed; the others are saved and a rerun of the same command retries the failed ones."""


def _job(args):
    from .reproduce import run_one
    config, folder, device = args
    return run_one(config, folder, device)


class LocalExecutor:
    """Today's executor: this process (``jobs=1``) or a pool of ``jobs`` spawned processes."""

    name = "local"

    def __init__(self, jobs=1):
        self.jobs = max(1, int(jobs))

    def describe(self):
        return f"local, jobs {self.jobs}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, todo, folder, device, progress):
        """Train every ``(name, config)`` of ``todo`` into ``folder/name``; report to ``progress``."""
        from .reproduce import run_one
        if self.jobs <= 1:
            for name, config in todo:
                progress.started(name)
                try:
                    scores = run_one(config, os.path.join(folder, name), device)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:   # noqa: BLE001 -- a failed run is reported, the sweep goes on
                    progress.failed(name, exc)
                else:
                    progress.finished(name, scores)
            return
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        settings.one_blas_thread_for_children()   # inherited by the spawned children before they import NumPy
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending = {pool.submit(_job, (config, os.path.join(folder, name), device)): name
                       for name, config in todo}
            for name in list(pending.values())[:self.jobs]:
                progress.started(name)
            waiting = list(pending.values())[self.jobs:]
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    name = pending.pop(future)
                    try:
                        progress.finished(name, future.result())
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:   # noqa: BLE001
                        progress.failed(name, exc)
                    if waiting:
                        progress.started(waiting.pop(0))


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
    import json
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
