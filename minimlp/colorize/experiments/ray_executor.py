"""The Ray executor: each run of a sweep or a study is one Ray task, on any node of a cluster.

    minimlp-colorize reproduce --out results --executor ray --address auto   # a running cluster (`ray start`)
    minimlp-colorize reproduce --out results --executor ray                  # a local cluster, for this command

A task trains its run (``run.run_one``) in a scratch folder on its node, on ``--cpus-per-run`` CPUs with one
BLAS thread, and sends the files that changed after every epoch to a ``RunFolders`` actor on the driver's
node, which writes them into ``OUT/runs/<run>/``; no shared filesystem is needed (``--shared-path`` uses one).
A worker that dies is retried (``--retries``) from the last epoch that reached the driver. Why core tasks and
not Ray Tune, what is sent, how retries work: docs/ray_executor.md.
"""
import logging
import os
import shutil
import socket
import tempfile

from ... import settings
from ...train.checkpoint import LAST
from .local_executor import WORKER_ENVIRONMENT
from .run import run_one

CONNECT_TIMEOUT_S = 5.0
SCRATCH_PREFIX = "minimlp-run-"   # a task's folder on its node: minimlp-run-<pid>-<random>/<run>/
LOCAL_OBJECT_STORE_BYTES = 512 * 1024 ** 2   # a local cluster's object store: two runs' checkpoints in flight


def import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install -e '.[cluster]'") from None
    return ray


def cluster_address(address):
    """``address`` as HOST:PORT ('auto' found as Ray finds it); ValueError if nothing answers there."""
    if address.startswith("ray://"):
        raise ValueError(f"--address {address}: Ray Client addresses are not supported; run the command on a "
                         f"node of the cluster with --address auto or --address HOST:PORT")
    if address == "auto":
        from ray._private.services import get_ray_address_from_environment
        try:
            found = get_ray_address_from_environment("auto", None)
        except (ConnectionError, OSError, ValueError):
            found = None
        if not found:
            raise ValueError("--address auto: no running Ray cluster found on this machine (start one with "
                             "`ray start --head`, give --address HOST:PORT, or leave out --address for a local one)")
        address = found
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--address {address}: expected HOST:PORT (e.g. 10.0.0.1:6379) or 'auto'")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"no Ray cluster answers at {address} ({reason.lower()}); start one there with "
                         f"`ray start --head --port {port}` or check --address") from None
    return address


def worker_environment(cpus_per_run):
    """The environment of every task: a local pool worker's, the driver's MINIMLP_*, one thread per CPU asked for."""
    env = dict(WORKER_ENVIRONMENT)
    env.update(settings.minimlp_variables())
    env["MINIMLP_NUM_THREADS"] = str(cpus_per_run)
    return env


class RunFolders:
    """An actor on the driver's node: writes what the tasks send into ``OUT/runs/<run>/``.

    It also queues the tasks' events (started, epoch) for the driver's progress.
    Tasks call it without waiting for the answer (``ray.get`` inside a task
    would hand the task's CPUs back to Ray while it waits, and Ray would start
    another run on them); calls from one task run in the order they were made.
    """

    def __init__(self, folder, shared, named_as=None):
        self.folder, self.shared = os.path.abspath(folder), shared
        self.named_as = named_as or folder   # the folder as the user gave it (metrics.json names it so locally)
        self.events = []

    def started(self, name, attempt, where, pid, epochs_done):
        self.events.append(("started", name, attempt, where, pid, epochs_done))

    def save(self, name, files, epoch=None, epochs=None):
        """Write ``files`` ({file name: bytes}) into the run's folder, each atomically, ``last.npz`` last.

        ``last.npz`` is what a new attempt resumes from: written after the files of the same epoch, a retry
        that reads the folder meanwhile never pairs it with an older ``best.npz``.
        """
        from ...atomic import atomic_path
        run = os.path.join(self.folder, name)
        for entry, data in sorted(files.items(), key=lambda item: item[0] == LAST):
            if entry == "metrics.json" and not self.shared:
                data = _relocate_metrics(data, os.path.join(self.named_as, name, "best.npz"))
            with atomic_path(os.path.join(run, entry)) as tmp:
                with open(tmp, "wb") as f:
                    f.write(data)
        if epoch is not None:
            self.events.append(("epoch", name, epoch, epochs))

    def drain(self):
        events, self.events = self.events, []
        return events


def _epochs_in(history_csv):
    """Epochs recorded in a history.csv's bytes (0 for none)."""
    return max(0, len(history_csv.decode("utf-8").strip().splitlines()) - 1) if history_csv else 0


def _relocate_metrics(data, best_path):
    """metrics.json names its checkpoint: the scratch folder's on the worker, here the results folder's."""
    import json
    metrics = json.loads(data)
    if "checkpoint" in metrics:
        metrics["checkpoint"] = best_path
    return (json.dumps(metrics, indent=2) + "\n").encode("utf-8")


def _snapshot(folder, small_only):
    """{file: (mtime_ns, size)} of the files in ``folder`` that are sent to the driver."""
    found = {}
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if os.path.isfile(path) and not entry.startswith(".") and not (small_only and entry.endswith(".npz")):
            st = os.stat(path)
            found[entry] = (st.st_mtime_ns, st.st_size)
    return found


def _remove_dead_scratch():
    """Remove the scratch folders that killed workers left on this node (their pid is in the name)."""
    root = tempfile.gettempdir()
    for entry in os.listdir(root):
        pid = entry[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if entry.startswith(SCRATCH_PREFIX) and pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
            except PermissionError:   # another user's live process
                pass


def run_files(folder):
    """{file name: bytes} of a run folder on the driver: what a new attempt of the run starts from."""
    files = {}
    if os.path.isdir(folder):
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if os.path.isfile(path) and not entry.startswith("."):
                with open(path, "rb") as f:
                    files[entry] = f.read()
    return files


def _train_task(name, config, device, version, store, shared_path, files, attempt):
    """One run, in a Ray worker: start from the run's ``files``, train, send each epoch's files to ``store``."""
    import ray

    from ... import __version__
    if __version__ != version:
        raise RuntimeError(f"minimlp {__version__} on this node, {version} on the driver: install the same "
                           f"version on every node")
    scratch = None
    if shared_path:
        folder = os.path.join(shared_path, "runs", name)
    else:
        _remove_dead_scratch()
        scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        folder = os.path.join(scratch, name)
    os.makedirs(folder, exist_ok=True)
    for entry, data in files.items():
        with open(os.path.join(folder, entry), "wb") as f:
            f.write(data)
    history = os.path.join(folder, "history.csv")
    done = _epochs_in(open(history, "rb").read()) if os.path.exists(history) else 0
    store.started.remote(name, attempt, ray.util.get_node_ip_address(), os.getpid(), done)
    sent = {} if shared_path else _snapshot(folder, False)
    epochs = config["training"]["epochs"]

    def send(epoch=None):
        now = _snapshot(folder, small_only=bool(shared_path))
        changed = [entry for entry, stamp in now.items() if sent.get(entry) != stamp]
        payload = {}
        for entry in changed:
            with open(os.path.join(folder, entry), "rb") as f:
                payload[entry] = f.read()
        saved[0] = store.save.remote(name, payload, epoch, epochs)
        sent.update({entry: now[entry] for entry in changed})

    saved = [None]
    try:
        scores = run_one(config, folder, device, callbacks=[lambda epoch, row, model: send(epoch)])
        send()
        return {"scores": scores, "saved": saved}   # the driver waits for the last save: all are then written
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


class RayExecutor:
    """Runs each (run, config) as a Ray task; see the module docstring."""

    name = "ray"

    def __init__(self, address=None, cpus_per_run=None, shared_path=None, retries=3, device="cpu"):
        if cpus_per_run is None:   # what a local run uses: the same thread count, the same numbers
            from ...threads import get_num_threads
            cpus_per_run = get_num_threads()
        if int(cpus_per_run) < 1:
            raise ValueError(f"--cpus-per-run must be at least 1, got {cpus_per_run}")
        if int(retries) < 0:
            raise ValueError(f"--retries must be at least 0, got {retries}")
        if shared_path and not os.path.isdir(shared_path):
            raise ValueError(f"--shared-path {shared_path}: no such folder (it must exist on every node)")
        self.cpus_per_run, self.retries = int(cpus_per_run), int(retries)
        self.shared_path = os.path.abspath(shared_path) if shared_path else None
        self.device = device
        self.ray = import_ray()
        self.address = cluster_address(address) if address else None
        self.ray_was_running = self.ray.is_initialized()
        self._connect()
        self.description = self._describe()

    def _connect(self):
        ray = self.ray
        if self.ray_was_running:      # a caller (a notebook, a test) connected already: use its cluster
            return
        try:
            if self.address:
                ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False)
            else:
                ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", logging_level=logging.ERROR,
                         log_to_driver=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
        except Exception as exc:   # noqa: BLE001 -- Ray raises ConnectionError, RuntimeError or its own types
            where = f"at {self.address}" if self.address else "(a local one)"
            text = " ".join(str(exc).split()) + " " + " ".join(str(exc.__cause__ or "").split())
            if "AuthToken" in text or "Authentication" in text:
                reason = ("the cluster uses token authentication: set RAY_AUTH_MODE=token, with its token in "
                          "~/.ray/auth_token or RAY_AUTH_TOKEN")
            else:
                lines = [line for line in str(exc).splitlines() if line.strip()]
                reason = lines[-1] if lines else type(exc).__name__
            raise ValueError(f"cannot start or reach the Ray cluster {where}: {reason}") from None
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        if self.device == "gpu" and not any(r.get("GPU") for r in nodes):
            self.close()
            raise ValueError("--device gpu: the Ray cluster has no GPU")
        largest = max((r.get("CPU", 0) for r in nodes), default=0)
        if self.device != "gpu" and self.cpus_per_run > largest:
            self.close()
            raise ValueError(f"--cpus-per-run {self.cpus_per_run}: the largest node of the Ray cluster has "
                             f"{largest:g} CPUs")

    def describe(self):
        return self.description

    def _describe(self):
        resources = self.ray.cluster_resources()
        where = self.address or "a local cluster"
        return (f"ray at {where}: {int(resources.get('CPU', 0))} CPUs, {int(resources.get('GPU', 0))} GPUs; "
                f"each run {'1 GPU' if self.device == 'gpu' else f'{self.cpus_per_run} CPU'}"
                + (f"; checkpoints kept in {self.shared_path}" if self.shared_path else ""))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if not self.ray_was_running and self.ray.is_initialized():
            self.ray.shutdown()

    def run(self, todo, folder, device, progress):
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from ... import __version__
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        store = ray.remote(num_cpus=0)(RunFolders).options(scheduling_strategy=here).remote(
            os.path.abspath(folder), bool(self.shared_path), folder)
        resources = {"num_gpus": 1, "num_cpus": 1} if device == "gpu" else {"num_cpus": self.cpus_per_run}
        task = ray.remote(_train_task).options(max_retries=0, runtime_env={"env_vars": worker_environment(
            self.cpus_per_run)}, **resources)
        configs = dict(todo)
        epochs = {name: config["training"]["epochs"] for name, config in todo}

        def submit(name, attempt):
            files = {} if self.shared_path else run_files(os.path.join(folder, name))
            return task.remote(name, configs[name], device, __version__, store, self.shared_path, files, attempt)

        refs = {submit(name, 1): (name, 1) for name, _ in todo}
        resumed = {}
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
                self._report(ray.get(store.drain.remote()), progress, resumed, epochs)
                for ref in ready:
                    name, attempt = refs.pop(ref)
                    try:
                        result = ray.get(ref)
                        if result["saved"][0] is not None:
                            ray.get(result["saved"][0])
                    except ray.exceptions.RayTaskError as exc:   # the run's own error: not retried
                        progress.failed(name, exc.cause if exc.cause is not None else exc)
                    except ray.exceptions.RayError as exc:       # its worker or node died
                        if attempt > self.retries:
                            progress.failed(name, exc)
                        else:
                            progress.note(name, f"its worker died ({type(exc).__name__}); retrying "
                                                f"(attempt {attempt + 1} of {self.retries + 1})")
                            refs[submit(name, attempt + 1)] = (name, attempt + 1)
                    else:
                        progress.finished(name, result["scores"])
            self._report(ray.get(store.drain.remote()), progress, resumed, epochs)
        except BaseException:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.kill(store)

    def _report(self, events, progress, resumed, epochs):
        for event in events:
            if event[0] == "started":
                _, name, attempt, where, pid, done = event
                resumed[name] = done
                place = f"on {where} (pid {pid}, attempt {attempt})"
                start = f"resuming after epoch {done}" if done else "from epoch 0"
                if attempt == 1:
                    progress.started(name, f"{place}, {start}")
                else:
                    progress.note(name, f"retried {place}: the previous worker died; " + (
                        f"resuming after epoch {done}, its last checkpoint" if done else
                        "restarting from epoch 0 (no checkpoint of it had reached the driver)"))
            else:
                _, name, epoch, total = event
                progress.epoch(name, epoch, total, resumed.get(name, 0))
