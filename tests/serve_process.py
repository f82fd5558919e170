"""``minimlp-colorize serve`` in a subprocess for the tests: started on a free port, stopped with Ctrl-C (SIGINT).

The web extra (Starlette, uvicorn) is in the test extra: where it is missing the tests skip, saying so, and under
``CI=true`` they fail.
"""
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading

import pytest

STARTUP_SECONDS = 120   # generous: the machine may be busy


def require(*modules, why):
    """Skip (fail under CI=true) unless every module in ``modules`` can be imported."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed ({why})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI=true requires it")
        pytest.skip(reason)


class ServeProcess:
    """A running ``serve``: its address (``url``), and what it printed once stopped (``stdout``, ``stderr``,
    ``returncode``)."""

    def __init__(self, args, cwd, env):
        command = [sys.executable, "-m", "minimlp.colorize", "serve", "--port", "0", *map(str, args)]
        self.process = subprocess.Popen(command, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.stdout, self.stderr, self.returncode = "", "", None
        first = self._first_line()
        if "http://" not in first:
            self.stop()
            raise AssertionError(f"serve did not start: {first!r} {self.stdout!r} {self.stderr!r}")
        self.url = first.split("open ", 1)[1].split(" ", 1)[0].rstrip("/")
        self.stdout = first

    def _first_line(self):
        line = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(STARTUP_SECONDS)
        return line[0] if line else ""

    def stop(self):
        """Ctrl-C, then wait for the process to end; its remaining output is collected."""
        if self.returncode is None:
            self.process.send_signal(signal.SIGINT)
            out, err = self.process.communicate(timeout=60)
            self.stdout += out
            self.stderr += err
            self.returncode = self.process.returncode
        return self


@contextlib.contextmanager
def serving(*args, cwd, env=None):
    """A ``ServeProcess`` for the length of the block (stopped with Ctrl-C after it)."""
    require("starlette", "uvicorn", why="the web extra: pip install -e '.[web]'")
    full_env = {**os.environ, "MINIMLP_DEVICE": "cpu", **(env or {})}
    server = ServeProcess(args, cwd, full_env)
    try:
        yield server
    finally:
        server.stop()


def vivid_temperature():
    """The decoding temperature of the vivid model the page offers (the first installed of ``VIVID_PRETRAINED``)."""
    from minimlp.colorize.models.store import load_colorizer, vivid_pretrained
    return load_colorizer(f"pretrained:{vivid_pretrained()}")[0].chroma_bins.temperature
