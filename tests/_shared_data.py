"""Locating the shared CIFAR-10 archive in tests: skip where it is absent, fail under CI=true."""
import os

import pytest

from minimlp.data import shared_archive_path


def require_shared_archive():
    """Path of ``cifar10-jpeg.tar.gz``; skips the test when absent, fails when ``CI=true``."""
    path = shared_archive_path()
    if path is None:
        reason = ("the shared CIFAR-10 archive was not found "
                  "(../shared/data/cifar10-jpeg.tar.gz next to the repo, or $MINIMLP_SHARED_DATA)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI=true requires it")
        pytest.skip(reason)
    return path


def require_shared_file(*parts):
    """Path of ``../shared/<parts>`` beside the repo; skips the test when absent, fails when ``CI=true``."""
    from pathlib import Path
    path = Path(__file__).resolve().parents[1].parent / "shared" / Path(*parts)
    if not path.is_file():
        reason = f"{path} was not found (the project's shared folder sits next to the repo)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI=true requires it")
        pytest.skip(reason)
    return path
