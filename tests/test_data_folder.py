"""Image folders and trees (folder or tar), the decoded-array cache, and bad images."""
import os
import tarfile

import numpy as np
import pytest
from PIL import Image, ImageOps

from minimlp.data import DataError, cache, load_cifar10, load_image_folder
from minimlp.data import image_folder


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIMLP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _save(path, array, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def _tar(folder, path, mode="w:gz"):
    with tarfile.open(path, mode) as tf:
        for p in sorted(folder.rglob("*")):
            tf.add(p, arcname=p.relative_to(folder.parent).as_posix(), recursive=False)
    return path


def make_photos(root, rng):
    """A user folder: class subfolders of PNGs of various sizes, plus one unlabelled photo."""
    arrays = {}
    for cls, sizes in (("dogs", [(8, 8), (20, 12)]), ("cats", [(8, 8), (9, 31), (8, 8)])):
        for i, (h, w) in enumerate(sizes):
            a = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            _save(root / cls / f"{i}.png", a)
            arrays[f"{cls}/{i}.png"] = a
    a = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    _save(root / "loose.png", a)
    arrays["loose.png"] = a
    (root / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0\1")
    return arrays


def _expected(arrays, size):
    names = sorted(arrays, key=lambda n: tuple(n.split("/")))
    exp = [np.asarray(ImageOps.fit(Image.fromarray(arrays[n]), (size, size),
                                   method=Image.Resampling.BICUBIC)) for n in names]
    return names, np.stack(exp)


def test_image_folder_labels_resize_and_crop(tmp_path):
    root = tmp_path / "photos"
    arrays = make_photos(root, np.random.default_rng(0))
    s = load_image_folder(root, size=8)
    names, exp = _expected(arrays, 8)
    assert names == ["cats/0.png", "cats/1.png", "cats/2.png", "dogs/0.png", "dogs/1.png", "loose.png"]
    assert s.images.shape == (6, 8, 8, 3) and s.images.dtype == np.uint8
    np.testing.assert_array_equal(s.images, exp)
    np.testing.assert_array_equal(s.images[0], arrays["cats/0.png"])  # right size: pixel exact
    assert s.classes == ("cats", "dogs")
    np.testing.assert_array_equal(s.labels, [0, 0, 0, 1, 1, -1])


def test_centre_crop_keeps_the_middle(tmp_path):
    a = np.zeros((8, 24, 3), np.uint8)
    a[:, 8:16] = 255  # white centre third of a wide image
    _save(tmp_path / "f" / "wide.png", a)
    s = load_image_folder(tmp_path / "f", size=8)
    assert s.images.min() == 255


def test_image_folder_tar_equals_folder_and_is_cached(tmp_path, tmp_cache, monkeypatch):
    root = tmp_path / "photos"
    make_photos(root, np.random.default_rng(1))
    archive = _tar(root, tmp_path / "photos.tar.gz")
    from_folder = load_image_folder(root, size=8)
    assert not tmp_cache.exists()  # folders are not cached
    first = load_image_folder(archive, size=8)
    np.testing.assert_array_equal(first.images, from_folder.images)
    np.testing.assert_array_equal(first.labels, from_folder.labels)
    entries = list(tmp_cache.glob("*.npz"))
    assert len(entries) == 1 and not list(tmp_cache.glob("*.tmp"))

    def no_decoding(*a, **k):
        raise AssertionError("decoded again instead of reading the cache")
    monkeypatch.setattr(image_folder, "decode_files", no_decoding)
    warm = load_image_folder(archive, size=8)
    np.testing.assert_array_equal(warm.images, first.images)
    assert warm.classes == first.classes
    with pytest.raises(AssertionError, match="decoded again"):
        load_image_folder(archive, size=16)  # another size is another entry
    st = archive.stat()
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_image_folder(archive, size=8)  # a touched source misses


def test_damaged_cache_entry_is_a_miss(tmp_path, tmp_cache):
    root = tmp_path / "photos"
    make_photos(root, np.random.default_rng(2))
    archive = _tar(root, tmp_path / "photos.tar")
    first = load_image_folder(archive, size=8)
    entry, = tmp_cache.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable cache file"):
        again = load_image_folder(archive, size=8)
    np.testing.assert_array_equal(again.images, first.images)
    assert np.load(entry)["images"].shape == first.images.shape  # rewritten whole


def test_cache_save_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "c" / "x.npz"
    cache.save(target, {"a": np.arange(3)})

    def fail(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError):
        cache.save(target, {"a": np.arange(5)})
    assert os.listdir(target.parent) == ["x.npz"]  # no temp file left, old entry intact
    np.testing.assert_array_equal(np.load(target)["a"], np.arange(3))


def test_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIMLP_CACHE", str(tmp_path / "here"))
    assert cache.cache_dir() == tmp_path / "here"
    monkeypatch.delenv("MINIMLP_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.cache_dir() == __import__("pathlib").Path.home() / ".cache" / "minimlp"


# --- CIFAR-style trees: top/train/<class>/*, top/test/<class>/* -----------------------------------

def make_tree(root, rng, per_class=(3, 2), classes=("bird", "airplane", "cat")):
    """JPEGs in the shared archive's layout; returns {split: [(class, file, pixels Pillow decodes)]}."""
    out = {"train": [], "test": []}
    for split, n in zip(("train", "test"), per_class):
        for cls in classes:
            for i in reversed(range(n)):  # written out of order on purpose
                p = root / split / cls / f"{i:04d}.jpg"
                _save(p, rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8), fmt="JPEG")
                with Image.open(p) as im:
                    out[split].append((cls, p.name, np.asarray(im.convert("RGB"))))
    return {s: sorted(v, key=lambda t: (t[0], t[1])) for s, v in out.items()}


@pytest.mark.parametrize("as_tar", [False, True])
def test_tree_order_labels_pixels(tmp_path, as_tar):
    root = tmp_path / "cifar10-jpeg"
    exp = make_tree(root, np.random.default_rng(3))
    source = _tar(root, tmp_path / "tree.tar.gz") if as_tar else root
    train, test = load_cifar10(source)
    for got, rows in ((train, exp["train"]), (test, exp["test"])):
        assert got.classes == ("airplane", "bird", "cat")
        np.testing.assert_array_equal(got.images, np.stack([r[2] for r in rows]))
        np.testing.assert_array_equal(got.labels, [("airplane", "bird", "cat").index(r[0]) for r in rows])
    assert len(train) == 9 and len(test) == 6


def test_tree_decoded_by_the_process_pool(tmp_path, monkeypatch):
    root = tmp_path / "cifar10-jpeg"
    make_tree(root, np.random.default_rng(4))
    serial = load_cifar10(root, workers=1)
    monkeypatch.setattr(image_folder, "CHUNK", 4)  # 15 images: 3 chunks in the pool, 3 left over
    pooled = load_cifar10(root, workers=2)
    for a, b in zip(serial, pooled):
        np.testing.assert_array_equal(a.images, b.images)


def _corrupt_one(root, rel):
    p = root / rel
    p.write_bytes(p.read_bytes()[:200])  # a JPEG cut short


def test_corrupt_jpeg_in_tree_is_named(tmp_path, monkeypatch):
    root = tmp_path / "cifar10-jpeg"
    make_tree(root, np.random.default_rng(5))
    _corrupt_one(root, "train/bird/0001.jpg")
    with pytest.raises(DataError, match=r"cifar10-jpeg: train/bird/0001\.jpg: cannot decode"):
        load_cifar10(root)
    monkeypatch.setattr(image_folder, "CHUNK", 4)  # the same error through the process pool
    with pytest.raises(DataError, match=r"train/bird/0001\.jpg: cannot decode"):
        load_cifar10(root, workers=2)
    archive = _tar(root, tmp_path / "bad.tar.gz")
    with pytest.raises(DataError, match=r"bad\.tar\.gz: cifar10-jpeg/train/bird/0001\.jpg"):
        load_cifar10(archive)


def test_corrupt_image_in_folder_is_named(tmp_path):
    root = tmp_path / "photos"
    make_photos(root, np.random.default_rng(6))
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"dogs/broken\.jpg: cannot decode"):
        load_image_folder(root)


def test_tree_image_of_wrong_size_is_named(tmp_path):
    root = tmp_path / "cifar10-jpeg"
    make_tree(root, np.random.default_rng(7))
    _save(root / "test" / "cat" / "0000.jpg", np.zeros((16, 16, 3), np.uint8), fmt="JPEG")
    with pytest.raises(DataError, match=r"test/cat/0000\.jpg: image is 16x16, expected 32x32"):
        load_cifar10(root)


def test_empty_folder(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=r"empty: no images found"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match=r"empty: no images under train/"):
        load_cifar10(tmp_path / "empty")


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder: .*nothing-here"):
        load_image_folder(tmp_path / "nothing-here")


def test_truncated_tar_of_images(tmp_path):
    root = tmp_path / "photos"
    make_photos(root, np.random.default_rng(8))
    archive = _tar(root, tmp_path / "photos.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-300])
    with pytest.raises(DataError, match=r"photos\.tar\.gz: truncated or corrupt archive"):
        load_image_folder(archive)


def test_grayscale_and_rgba_become_rgb(tmp_path):
    root = tmp_path / "modes"
    root.mkdir()
    Image.fromarray(np.full((8, 8), 77, np.uint8), mode="L").save(root / "g.png")
    Image.fromarray(np.full((8, 8, 4), 200, np.uint8), mode="RGBA").save(root / "rgba.png")
    s = load_image_folder(root, size=8)
    assert s.images.shape == (2, 8, 8, 3)
    assert (s.images[0] == 77).all() and (s.images[1] == 200).all()
