"""Where a number came from: the code's git commit, the package versions and the machine, as one dict.

Written into every run's ``config.json`` and ``metrics.json`` and into ``RESULTS.md``. The commit is that of
the checkout holding the running ``minimlp`` package; dirty means a changed, staged or new file under it. An
installed wheel sits in no checkout: ``git_commit`` and ``git_dirty`` are then None and ``git_note`` says why.
"""
import importlib.util
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

GIT_TIMEOUT_S = 10
OPTIONAL = ("numba", "cupy", "torch")


def git_state(folder):
    """{'git_commit': sha or None, 'git_dirty': bool or None, 'git_note': why None, else None} of ``folder``."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--", "."))
    except FileNotFoundError:
        return {"git_commit": None, "git_dirty": None, "git_note": "no git program on this machine"}
    except subprocess.TimeoutExpired:
        return {"git_commit": None, "git_dirty": None, "git_note": f"git took over {GIT_TIMEOUT_S} s"}
    except subprocess.CalledProcessError:
        return {"git_commit": None, "git_dirty": None,
                "git_note": f"{folder} is not in a git checkout (an installed package carries no commit)"}
    return {"git_commit": commit, "git_dirty": dirty, "git_note": None}


def versions():
    """Versions of python, numpy and minimlp, and of numba, cupy and torch where installed (else None).

    The optional ones are read from the installed metadata, not imported (importing torch takes seconds).
    """
    import numpy
    from ... import __version__
    found = {"python": platform.python_version(), "numpy": numpy.__version__, "minimlp": __version__}
    for name in OPTIONAL:
        found[name] = _installed_version(name)
    return found


def _installed_version(module):
    """The version of the distribution providing ``module`` (cupy comes as cupy-cuda12x, …), or None."""
    if importlib.util.find_spec(module) is None:
        return None
    names = getattr(metadata, "packages_distributions", dict)().get(module) or [module]
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``, else None."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine():
    """{'platform', 'cpu', 'cores'} of this machine."""
    return {"platform": platform.platform(), "cpu": cpu_model(), "cores": os.cpu_count()}


def provenance(folder=None):
    """Git state of ``folder`` (default: the folder holding the minimlp package), versions and machine."""
    folder = folder or Path(__file__).resolve().parents[2]
    return {**git_state(folder), "versions": versions(), "machine": machine()}


def describe(record):
    """One line for a report: 'commit abc1234 (dirty), python 3.11.2, numpy 2.1.0, …; machine …'."""
    if record["git_commit"] is None:
        code = f"commit unknown ({record['git_note']})"
    else:
        code = f"commit {record['git_commit'][:12]}{' (uncommitted changes)' if record['git_dirty'] else ''}"
    packages = ", ".join(f"{k} {v}" for k, v in record["versions"].items() if v is not None)
    m = record["machine"]
    return f"{code}; {packages}; {m['platform']}, {m['cpu']}, {m['cores']} cores"
