"""provenance: a git checkout's commit and dirty flag (clean → dirty flips it; no git → None), versions, machine."""
import subprocess

import numpy as np
import pytest

from minimlp.colorize.experiments import provenance as prov


def _git(folder, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    pkg = tmp_path / "repo" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    _git(tmp_path / "repo", "init", "-q")
    _git(tmp_path / "repo", "add", "pkg/a.py")
    _git(tmp_path / "repo", "commit", "-q", "-m", "one")
    return pkg


def test_a_clean_checkout_then_an_edit_flips_dirty(repo):
    head = _git(repo, "rev-parse", "HEAD")
    assert prov.git_state(repo) == {"git_commit": head, "git_dirty": False, "git_note": None}
    (repo / "a.py").write_text("x = 2\n")
    assert prov.git_state(repo) == {"git_commit": head, "git_dirty": True, "git_note": None}
    _git(repo.parent, "commit", "-q", "-am", "two")
    assert prov.git_state(repo)["git_dirty"] is False
    assert prov.git_state(repo)["git_commit"] == _git(repo, "rev-parse", "HEAD") != head


def test_a_new_file_in_the_package_is_dirty_one_outside_is_not(repo):
    (repo.parent / "notes.txt").write_text("outside the package\n")
    assert prov.git_state(repo)["git_dirty"] is False
    (repo / "b.py").write_text("y = 1\n")
    assert prov.git_state(repo)["git_dirty"] is True


def test_no_checkout_records_none_and_why(tmp_path):
    state = prov.git_state(tmp_path)
    assert state["git_commit"] is None and state["git_dirty"] is None
    assert "not in a git checkout" in state["git_note"]


def test_no_git_program_records_none_and_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert prov.git_state(tmp_path) == {"git_commit": None, "git_dirty": None,
                                        "git_note": "no git program on this machine"}


def test_versions_machine_and_the_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU @ 3.0GHz\nflags\t: sse\n")
    assert prov.cpu_model(str(info)) == "Test CPU @ 3.0GHz"
    record = prov.provenance()
    assert record["versions"]["numpy"] == np.__version__ and record["versions"]["minimlp"] == "0.1.0"
    assert set(record["versions"]) == {"python", "numpy", "minimlp", "numba", "cupy", "torch"}
    assert record["machine"]["cores"] >= 1
    assert prov._installed_version("no_such_module_here") is None
    line = prov.describe({**record, "git_commit": "0123456789abcdef", "git_dirty": True})
    assert line.startswith("commit 0123456789ab (uncommitted changes); python ")
    assert prov.describe({**record, "git_commit": None, "git_note": "why"}).startswith("commit unknown (why)")
