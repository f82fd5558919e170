"""The local executor: a study's or a sweep's runs trained in this process, or side by side in spawned processes.

``jobs=1`` trains in this process, one run after the other; ``jobs=N`` trains N runs side by side in
spawned processes, each started with ``WORKER_ENVIRONMENT``: one BLAS thread each, so that N runs share the
cores instead of each bringing a pool of BLAS threads. The Ray executor starts its tasks with the same
environment.
"""
import os

from ... import settings
from ...kernels.cpu.interrupts import hold_interrupts_while_loading
from .run import run_one

WORKER_ENVIRONMENT = {name: "1" for name in settings.BLAS_THREAD_VARIABLES}


class SweepFailed(RuntimeError):
    """Some runs failed; the others are saved and a rerun of the same command retries the failed ones."""


def _job(args):
    config, folder, device = args
    with hold_interrupts_while_loading():
        return run_one(config, folder, device)


class LocalExecutor:
    """Runs on this machine: in this process (``jobs=1``) or in a pool of ``jobs`` spawned processes."""

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
