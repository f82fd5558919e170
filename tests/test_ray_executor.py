"""``--executor ray`` on a real Ray cluster on 127.0.0.1 (no mock): the same results as local, a killed worker, a
dead address.

The cluster of the first test is ``ray start --head`` with 2 CPUs (the ``ray`` beside this Python, so the tests
need no activated environment), in its own process group, stopped by signalling that group (never ``ray stop``,
which would stop every Ray on the machine); the fault tests let the command start its own local cluster (no
``--address``). All use token authentication with a token made for this test run, and keep Ray's files in one
temporary folder (``RAY_TMPDIR``), removed when the module ends. Ray is in the test extra: missing, these tests
skip outside CI and fail under ``CI=true``.
"""
import csv
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

import minimlp
from minimlp.colorize import cli

# Ray 2.60 listens on every interface even with --node-ip-address 127.0.0.1: the clusters here take a fresh token.
# Set before Ray is imported, which is when a driver reads its auth settings.
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
os.environ.update(AUTH)
try:
    import ray  # noqa: F401
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("Ray is not installed (pip install -e '.[cluster]')", allow_module_level=True)

TIMED = {"seconds"}   # wall-clock fields: the only things allowed to differ between two runs of the same command
RAY = os.path.join(os.path.dirname(sys.executable), "ray")


@pytest.fixture(scope="module", autouse=True)
def ray_temp_dir():
    """One folder for every file of every Ray these tests start or connect to (``RAY_TMPDIR``, read by the
    drivers here and inherited by the commands and clusters they start), removed at the end. Under /tmp: Ray's
    socket paths must stay short. At the end no new ``ray*`` entry is left in the system's temporary folders."""
    before_entries = _ray_entries()
    folder = tempfile.mkdtemp(prefix="minimlp-ray-tests-", dir="/tmp")
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = folder
    try:
        yield folder
    finally:
        if before is None:
            del os.environ["RAY_TMPDIR"]
        else:
            os.environ["RAY_TMPDIR"] = before
        _remove(folder)
    left = sorted(_ray_entries() - before_entries)
    assert left == [], f"Ray's temporary files left behind: {left}"


def _ray_entries():
    """The ``ray*`` entries of /tmp and of the system's temporary folder."""
    folders = {"/tmp", tempfile.gettempdir()}
    return {os.path.join(f, name) for f in folders for name in os.listdir(f) if name.startswith("ray")}


def _remove(folder, wait=30):
    """Remove ``folder``, again while a process of the stopped clusters still writes into it."""
    deadline = time.monotonic() + wait
    while os.path.exists(folder):
        shutil.rmtree(folder, ignore_errors=True)
        if time.monotonic() > deadline:
            raise RuntimeError(f"Ray's temporary folder {folder} could not be removed")
        time.sleep(0.5)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """HOST:PORT of a `ray start --head` cluster on 127.0.0.1 with 2 CPUs; stopped (its process group) after."""
    port, temp = _free_port(), os.path.join(os.environ["RAY_TMPDIR"], "head")
    env = {**os.environ, **AUTH}
    head = subprocess.Popen([RAY, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
                             "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
                             "--temp-dir", temp], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("ray start --head did not come up")
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + wait
            while time.monotonic() < end and _group_alive(head.pid):
                head.poll()
                time.sleep(0.5)
        head.poll()


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


# comparing results folders -----------------------------------------------------------------------------------------

def _files(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


def _same_state(a, b, where):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            if k not in TIMED:
                _same_state(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same_state(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), where
    else:
        assert a == b, where


def _csv_without_time(path):
    rows = list(csv.DictReader(io.StringIO(open(path, encoding="utf-8").read())))
    return [{k: v for k, v in row.items() if k not in TIMED} for row in rows]


def _without_times(text):
    return re.sub(r"\d+\.\d+s\b", "Ts", text)


def assert_same_results(a, b, skip=()):
    """Every file of two results folders equal bit for bit, wall-clock fields aside (and the files in ``skip``)."""
    assert _files(a) == _files(b)
    for name in _files(a):
        pa, pb = os.path.join(a, name), os.path.join(b, name)
        base = os.path.basename(name)
        if base in skip:
            continue
        if base == "history.csv":
            assert _csv_without_time(pa) == _csv_without_time(pb), name
        elif base in ("scores.json", "sweep.json"):
            _same_state(json.load(open(pa)), json.load(open(pb)), name)
        elif base == "last.npz":   # weights, optimizer state, RNG bit for bit; history but its seconds
            _same_state(minimlp.load(pa), minimlp.load(pb), name)
        elif base == "metrics.json":   # it names its checkpoint, in its own results folder
            ma, mb = json.load(open(pa)), json.load(open(pb))
            assert ma.pop("checkpoint") == os.path.join(a, name.replace("metrics.json", "best.npz"))
            assert mb.pop("checkpoint") == os.path.join(b, name.replace("metrics.json", "best.npz"))
            assert ma == mb, name
        elif base == "train.log":
            assert _without_times(open(pa).read()) == _without_times(open(pb).read()), name
        else:
            assert open(pa, "rb").read() == open(pb, "rb").read(), name


def _report_body(path):
    """RESULTS.md without its header (command, date, wall time, executor) and its per-run seconds table."""
    text = open(path, encoding="utf-8").read()
    body = text.split("## Baselines", 1)[1]
    return body.split("## Runs", 1)[0]


# the tests ---------------------------------------------------------------------------------------------------------

def test_reproduce_quick_on_ray_equals_local_bit_for_bit(tmp_path, ray_cluster, capsys):
    local, remote = str(tmp_path / "local"), str(tmp_path / "ray")
    started = time.perf_counter()
    assert cli.main(["reproduce", "--out", local, "--quick", "--device", "cpu"]) == 0
    print(f"reproduce --quick --executor local: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    assert cli.main(["reproduce", "--out", remote, "--quick", "--device", "cpu", "--executor", "ray",
                     "--address", ray_cluster]) == 0
    err = capsys.readouterr().err
    assert f"ray at {ray_cluster}: 2 CPUs" in err and "2/2 done, 0 running, 0 failed" in err, err
    assert not ray.is_initialized()   # the command disconnected
    assert_same_results(local, remote, skip={"RESULTS.md", "invocations.json", "runs.json"})
    assert _report_body(os.path.join(local, "RESULTS.md")) == _report_body(os.path.join(remote, "RESULTS.md"))
    print(f"reproduce --quick --executor ray: {time.perf_counter() - started:.1f} s")


def _stream(process, lines):
    for line in process.stderr:
        lines.append(line)


def _sweep_killing_its_worker(args, out, run, after_checkpoint):
    """Run ``minimlp-colorize ARGS --out OUT --executor ray`` (it starts its own local cluster) and SIGKILL the
    worker of ``run``'s first attempt: once its first checkpoint reached the driver, or as soon as it started.
    Returns (exit code, stderr, the killed pid, seconds from the kill to the end)."""
    sweep = subprocess.Popen([sys.executable, "-m", "minimlp.colorize"] + args + ["--out", out, "--executor", "ray"],
                             env={**os.environ, **AUTH}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=_stream, args=(sweep, lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        pid = None
        while not (pid and (not after_checkpoint or os.path.exists(os.path.join(out, "runs", run, "last.npz")))):
            assert sweep.poll() is None and time.monotonic() < deadline, "".join(lines)
            found = [re.search(r"\(pid (\d+), attempt 1\)", line) for line in lines]
            pid = next((int(m.group(1)) for m in found if m), None)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        killed_at = time.perf_counter()
        code = sweep.wait(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
        reader.join(timeout=10)
    log = "".join(lines)
    print(log)
    return code, log, pid, time.perf_counter() - killed_at


def test_a_killed_worker_is_retried_and_its_run_ends_as_an_uninterrupted_one(tmp_path):
    """``--retries 1``: the worker training the run is SIGKILLed after epoch 1 reached the driver. The run's one
    retry resumes on a new worker and ends with the uninterrupted run's weights and scores."""
    out, reference = str(tmp_path / "killed"), str(tmp_path / "reference")
    args = ["sweep", "--models", "paper-mlp1", "--epochs", "3", "--device", "cpu"]
    run = "paper-mlp1-e3-s0"
    code, log, pid, seconds = _sweep_killing_its_worker(args + ["--retries", "1"], out, run, after_checkpoint=True)
    print(f"from the kill to the end of the sweep: {seconds:.1f} s")
    assert code == 0, log
    assert f"{run}: its worker died (" in log and "retrying (attempt 2 of 2)" in log
    assert re.search(rf"{run}: retried on .* \(pid \d+, attempt 2\): the previous worker died; resuming after "
                     rf"epoch [12], its last checkpoint", log), log
    assert "1/1 done, 0 running, 0 failed" in log
    assert "resuming from" in open(os.path.join(out, "runs", run, "train.log")).read()
    assert not [d for d in os.listdir(tempfile.gettempdir()) if d.startswith(f"minimlp-run-{pid}-")], \
        "the killed worker's scratch folder was left behind"
    assert cli.main(args + ["--out", reference]) == 0
    assert_same_results(out, reference, skip={"train.log"})   # the killed run's log also says it resumed


def test_with_no_retries_a_killed_worker_fails_its_run_in_one_line(tmp_path):
    """``--retries 0``: the first death is the run's end. The sweep counts it failed, exits 2 with the one-line
    rerun message, and writes no SWEEP.md; run again (with retries), it trains the run."""
    out = str(tmp_path / "sweep")
    args = ["sweep", "--models", "paper-mlp1", "--epochs", "2", "--train-size", "2000", "--device", "cpu"]
    run = "paper-mlp1-e2-n2000-s0"
    code, log, _, _ = _sweep_killing_its_worker(args + ["--retries", "0"], out, run, after_checkpoint=False)
    assert code == 2, log
    assert "retrying" not in log and f"{run}: FAILED (" in log
    assert "sweep: 0/1 done, 0 running, 1 failed, 0 waiting" in log
    last = log.strip().splitlines()[-1]
    assert re.fullmatch(rf"minimlp-colorize sweep: error: 1 of 1 runs failed \(first: {run}: \w+: .*\); the "
                        r"finished runs are saved, rerun the same command to retry the others", last), last
    assert not os.path.exists(os.path.join(out, "SWEEP.md"))
    assert cli.main(args + ["--out", out, "--executor", "ray"]) == 0
    assert os.path.exists(os.path.join(out, "SWEEP.md"))


def test_a_run_that_fails_inside_training_is_counted_and_the_others_finish(tmp_path, capsys):
    """A run whose folder holds a damaged ``last.npz`` fails when its training resumes from it, on a Ray worker
    (the run's own error, not retried); the other run finishes and the sweep exits 2 naming the failed one."""
    from test_sweep import poison_and_sweep
    poison_and_sweep(tmp_path, capsys, ["--executor", "ray"])


def test_a_cluster_address_that_does_not_answer_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "results"
    port = _free_port()
    started = time.perf_counter()
    assert cli.main(["reproduce", "--out", str(out), "--quick", "--executor", "ray",
                     "--address", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"minimlp-colorize reproduce: error: no Ray cluster answers at 127.0.0.1:{port} (connection "
                   f"refused); start one there with `ray start --head --port {port}` or check --address"], err
    assert not out.exists() and time.perf_counter() - started < 30
    assert cli.main(["sweep", "--out", str(out), "--executor", "ray", "--address", "ray://10.0.0.1:10001"]) == 2
    assert "Ray Client addresses are not supported" in capsys.readouterr().err
    assert not out.exists()
