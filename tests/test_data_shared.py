"""The real data: the shared CIFAR-10 JPEG archive and the embedded default split.

Uses the default cache (``MINIMLP_CACHE`` or ~/.cache/minimlp), so only the
first run decodes the 60,000 JPEGs (~10-15 s on 2 cores); later runs take ~1 s.
"""
import hashlib
import json

import numpy as np
import pytest

from _shared_data import require_shared_archive
from minimlp.data import CLASSES, load_cifar10, load_default, paper_split, rgb_to_gray, to_unit_range
from minimlp.data.default import DEFAULT_ARCHIVE, DEFAULT_MANIFEST


@pytest.fixture(scope="module")
def cifar():
    return load_cifar10(require_shared_archive())


@pytest.fixture(scope="module")
def default():
    return load_default()


def test_shared_archive_counts_and_checksums(cifar):
    train, test = cifar
    assert train.images.shape == (50000, 32, 32, 3) and test.images.shape == (10000, 32, 32, 3)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert train.classes == CLASSES == test.classes
    np.testing.assert_array_equal(np.bincount(train.labels), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(test.labels), [1000] * 10)
    assert int(train.images.sum(dtype=np.int64)) == 18_537_712_937
    assert int(test.images.sum(dtype=np.int64)) == 3_732_740_007


def test_default_is_the_paper_split_of_the_shared_archive(cifar, default):
    for got, want in zip(default, paper_split(*cifar, seed=0)):
        np.testing.assert_array_equal(got.images, want.images)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.classes == want.classes


def test_default_manifest_names_its_source():
    path = require_shared_archive()
    meta = json.loads(DEFAULT_MANIFEST.read_text())
    assert meta["source"]["size"] == path.stat().st_size
    assert meta["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_default_needs_no_network_or_shared(default, monkeypatch):
    monkeypatch.setenv("MINIMLP_SHARED_DATA", "/nonexistent")
    assert [len(s) for s in default] == [5000, 500, 1000]
    assert DEFAULT_ARCHIVE.stat().st_size < 4_000_000
    for s in default:
        assert s.images.dtype == np.uint8 and s.images.shape[1:] == (32, 32, 3)
        assert s.classes == CLASSES and set(s.labels.tolist()) == set(range(10))


def test_gray_copy_baseline(default):
    """Luma copied to 3 channels vs RGB, both in [-1, 1]: the shared README's MSE of ~0.024."""
    rgb = to_unit_range(default.test.images)
    gray = to_unit_range(rgb_to_gray(default.test.images))[..., None]
    assert gray.dtype == np.float32
    mse = float(np.mean((gray - rgb) ** 2))
    assert 0.022 < mse < 0.026, mse


def test_shared_archive_path_from_env(tmp_path, monkeypatch):
    from minimlp.data import shared_archive_path
    (tmp_path / "cifar10-jpeg.tar.gz").write_bytes(b"x")
    monkeypatch.setenv("MINIMLP_SHARED_DATA", str(tmp_path))
    assert shared_archive_path() == tmp_path / "cifar10-jpeg.tar.gz"
    monkeypatch.setenv("MINIMLP_SHARED_DATA", str(tmp_path / "cifar10-jpeg.tar.gz"))
    assert shared_archive_path() == tmp_path / "cifar10-jpeg.tar.gz"
    monkeypatch.setenv("MINIMLP_SHARED_DATA", str(tmp_path / "missing"))
    assert shared_archive_path() is None
