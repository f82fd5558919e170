"""The official CIFAR-10 python format, its errors, and download_cifar10."""
import functools
import hashlib
import http.server
import pickle
import tarfile
import threading
import time

import numpy as np
import pytest

from minimlp.data import CLASSES, DataError, DownloadError, download_cifar10, load_cifar10
from minimlp.data.cifar10 import TRAIN_BATCHES

N = 7  # images per batch


def _batch(rng, label):
    x = rng.integers(0, 256, size=(N, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=N)]
    d = {b"batch_label": label.encode(), b"labels": labels, b"data": x,
         b"filenames": [f"img_{i}.png".encode() for i in range(N)]}
    # the official layout is channel-planar: 1024 R, 1024 G, 1024 B, each row-major
    images = np.stack([x[:, :1024], x[:, 1024:2048], x[:, 2048:]], axis=-1).reshape(N, 32, 32, 3)
    return d, images, np.array(labels)


def write_official(root, seed=0, mutate=None):
    """Write a small cifar-10-batches-py folder; returns (folder, train (x, y), test (x, y))."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    xs, ys = [], []
    for name in TRAIN_BATCHES + ("test_batch",):
        d, x, y = _batch(rng, name)
        if mutate:
            d = mutate(name, d)
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
        xs.append(x)
        ys.append(y)
    meta = {b"num_cases_per_batch": N, b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return folder, (np.concatenate(xs[:5]), np.concatenate(ys[:5])), (xs[5], ys[5])


def write_tgz(folder, path):
    with tarfile.open(path, "w:gz") as tf:
        tf.add(folder, arcname=folder.name)
    return path


def _check(train, test, exp_train, exp_test):
    for got, (x, y) in ((train, exp_train), (test, exp_test)):
        assert got.images.dtype == np.uint8 and got.images.shape == x.shape
        assert got.labels.dtype == np.int64
        np.testing.assert_array_equal(got.images, x)
        np.testing.assert_array_equal(got.labels, y)
        assert got.classes == CLASSES
    assert len(train) == 5 * N and len(test) == N


def test_folder_is_pixel_exact(tmp_path):
    folder, tr, te = write_official(tmp_path)
    _check(*load_cifar10(folder), tr, te)
    _check(*load_cifar10(tmp_path), tr, te)  # the folder holding cifar-10-batches-py


def test_targz_is_pixel_exact(tmp_path):
    folder, tr, te = write_official(tmp_path)
    archive = write_tgz(folder, tmp_path / "cifar-10-python.tar.gz")
    _check(*load_cifar10(archive), tr, te)  # not the official size, so no MD5 check


def test_known_pixel_layout(tmp_path):
    """Pixel (r, c) channel k is data[1024 k + 32 r + c]."""
    def mutate(name, d):
        d[b"data"] = np.zeros((N, 3072), np.uint8)
        d[b"data"][0, 1024 * 2 + 32 * 5 + 7] = 200  # blue at row 5, column 7
        return d
    folder, _, _ = write_official(tmp_path, mutate=mutate)
    train, _ = load_cifar10(folder)
    assert train.images[0, 5, 7, 2] == 200 and train.images[0].sum() == 200


def test_md5_checked_when_asked(tmp_path):
    folder, tr, te = write_official(tmp_path)
    archive = write_tgz(folder, tmp_path / "small.tar.gz")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    _check(*load_cifar10(archive, md5=md5), tr, te)
    with pytest.raises(DataError, match="small.tar.gz: MD5"):
        load_cifar10(archive, md5="0" * 32)
    with pytest.raises(DataError, match="not the official"):
        load_cifar10(archive, md5=True)
    with pytest.raises(DataError, match="data_batch_1: MD5"):
        load_cifar10(folder, md5=True)


def test_pickle_without_data_names_the_file(tmp_path):
    def mutate(name, d):
        if name == "data_batch_3":
            del d[b"data"]
        return d
    folder, _, _ = write_official(tmp_path, mutate=mutate)
    with pytest.raises(DataError, match=r"data_batch_3: not a CIFAR-10 batch: no b'data'"):
        load_cifar10(folder)


def test_pickle_with_code_is_refused(tmp_path):
    folder, _, _ = write_official(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    (folder / "data_batch_2").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataError, match=r"data_batch_2: refusing to unpickle builtins.print"):
        load_cifar10(folder)


def test_missing_batch(tmp_path):
    folder, _, _ = write_official(tmp_path)
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="missing test_batch"):
        load_cifar10(folder)


def test_truncated_targz_names_the_file(tmp_path):
    folder, _, _ = write_official(tmp_path)
    archive = write_tgz(folder, tmp_path / "cut.tar.gz")
    data = archive.read_bytes()
    for keep in (len(data) // 2, 40):
        archive.write_bytes(data[:keep])
        with pytest.raises(DataError, match=r"cut\.tar\.gz: .*(truncated|corrupt)"):
            load_cifar10(archive)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_cifar10(tmp_path / "nowhere")


def test_not_an_archive(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(DataError, match="notes.txt"):
        load_cifar10(p)


# --- download_cifar10 -------------------------------------------------------------------------

def test_download_offline_fails_fast_and_says_where(tmp_path):
    t = time.perf_counter()
    with pytest.raises(DownloadError) as err:
        download_cifar10(tmp_path / "dl", url="http://127.0.0.1:9/cifar-10-python.tar.gz",
                         timeout=2, progress=False)
    assert time.perf_counter() - t < 5
    msg = str(err.value)
    assert "cs.toronto.edu" in msg and str(tmp_path / "dl" / "cifar-10-python.tar.gz") in msg
    assert "c58f30108f718f92721af3b95e74349a" in msg
    assert not list((tmp_path / "dl").glob("*"))


def test_download_from_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 100_000)
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    got = download_cifar10(tmp_path / "dl", url=src.as_uri(), md5=md5, progress=False)
    assert got.read_bytes() == src.read_bytes()
    with pytest.raises(DownloadError, match="MD5"):
        download_cifar10(tmp_path / "dl2", url=src.as_uri(), md5="0" * 32, progress=False)
    assert not list((tmp_path / "dl2").glob("*"))  # neither the file nor a .part remains


@pytest.fixture
def http_server(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_over_http_then_reuse(tmp_path, http_server):
    served, base = http_server
    folder, tr, te = write_official(tmp_path / "made")
    archive = write_tgz(folder, served / "cifar-10-python.tar.gz")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    got = download_cifar10(tmp_path / "dl", url=f"{base}/cifar-10-python.tar.gz", md5=md5, progress=True)
    _check(*load_cifar10(got), tr, te)
    archive.unlink()  # a file with the right MD5 is not fetched again
    assert download_cifar10(tmp_path / "dl", url=f"{base}/cifar-10-python.tar.gz", md5=md5) == got
    with pytest.raises(DownloadError, match="404"):
        download_cifar10(tmp_path / "dl3", url=f"{base}/missing.tar.gz", md5=md5, progress=False)
