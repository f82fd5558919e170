"""Splits (paper and full) and the Batches iterator."""
import numpy as np
import pytest

from minimlp.data import Batches, ImageSet, full_split, paper_split


def _set(n, offset=0):
    """n 1x1 'images' whose pixels encode their id, so rows can be traced."""
    ids = np.arange(offset, offset + n)
    images = np.stack([ids // 65536, ids // 256 % 256, ids % 256], -1).astype(np.uint8).reshape(n, 1, 1, 3)
    return ImageSet(images, ids % 10, tuple("abcdefghij"))


def _ids(s):
    px = s.images.reshape(len(s), 3).astype(np.int64)
    return px[:, 0] * 65536 + px[:, 1] * 256 + px[:, 2]


TRAIN, TEST = _set(50000), _set(10000, offset=50000)


def test_paper_split_sizes_disjoint_reproducible():
    s = paper_split(TRAIN, TEST, seed=0)
    assert [len(p) for p in s] == [5000, 500, 1000]
    tr, va, te = (_ids(p) for p in s)
    assert len(set(tr) | set(va)) == 5500 and set(te) <= set(range(50000, 60000)) and len(set(te)) == 1000
    assert set(tr) <= set(range(50000))
    np.testing.assert_array_equal(s.train.labels, tr % 10)  # labels travel with their images
    again = paper_split(TRAIN, TEST, seed=0)
    for a, b in zip(s, again):
        np.testing.assert_array_equal(a.images, b.images)
    other = paper_split(TRAIN, TEST, seed=1)
    assert not np.array_equal(_ids(other.train), tr)
    assert s.train.classes == TRAIN.classes and s.valid is not None and s.test.labels.dtype == np.int64


def test_paper_split_is_pinned():
    """The seed-0 split must never change: the embedded default data depends on it."""
    s = paper_split(TRAIN, TEST, seed=0)
    assert _ids(s.train)[:5].tolist() == PINNED_TRAIN
    assert _ids(s.test)[:3].tolist() == PINNED_TEST


PINNED_TRAIN = [25461, 5892, 10377, 28814, 9578]  # rows of the training pool
PINNED_TEST = [51049, 55410, 52183]               # 50000 + rows of the test pool


def test_full_split():
    s = full_split(TRAIN, TEST, seed=0)
    assert [len(p) for p in s] == [45000, 5000, 10000]
    tr, va = _ids(s.train), _ids(s.valid)
    assert len(np.union1d(tr, va)) == 50000
    np.testing.assert_array_equal(_ids(s.test), np.arange(50000, 60000))
    np.testing.assert_array_equal(_ids(full_split(TRAIN, TEST, seed=0).valid), va)


def test_image_set_checks_shapes():
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        ImageSet(np.zeros((2, 3, 3)), [0, 1])
    with pytest.raises(ValueError, match="labels"):
        ImageSet(np.zeros((2, 1, 1, 3)), [0])


@pytest.mark.parametrize("n,bs,drop_last", [(103, 10, False), (103, 10, True), (100, 10, False), (5, 8, False)])
def test_every_sample_once_per_epoch(n, bs, drop_last):
    x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
    y = np.arange(n)
    b = Batches(x, y, batch_size=bs, seed=3, drop_last=drop_last)
    expected_len = n // bs if drop_last else -(-n // bs)
    assert len(b) == expected_len
    for epoch in range(3):
        seen = []
        for xb, yb in b:
            np.testing.assert_array_equal(xb[:, 0], yb)  # x and y rows stay paired
            seen.append(yb.copy())
        seen = np.concatenate(seen)
        assert b.epoch == epoch + 1
        if drop_last:
            assert len(seen) == (n // bs) * bs and len(set(seen.tolist())) == len(seen)
        else:
            np.testing.assert_array_equal(np.sort(seen), np.arange(n))


def test_deterministic_orders_and_resume():
    x = np.arange(50)
    one = Batches(x, None, 7, seed=11)
    e0 = [xb.copy() for xb, _ in one]
    e1 = [xb.copy() for xb, _ in one]
    assert not np.array_equal(np.concatenate(e0), np.concatenate(e1))  # reshuffled per epoch
    resumed = Batches(x, None, 7, seed=11)
    resumed.epoch = 1  # a trainer restarting at epoch 1 sees epoch 1's order
    for a, (b, _) in zip(e1, resumed):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one.order(0), np.random.default_rng([11, 0]).permutation(50))
    assert not np.array_equal(Batches(x, None, 64, seed=12).order(0), one.order(0))


def test_no_shuffle_and_interrupted_epoch():
    b = Batches(np.arange(10), None, 4, shuffle=False)
    assert [xb.tolist() for xb, _ in b] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for _ in b:
        break
    assert b.epoch == 1  # only complete epochs count


def test_cpu_buffers_are_reused():
    x = np.random.default_rng(0).random((20, 3)).astype(np.float32)
    b = Batches(x, None, batch_size=6, seed=0)
    batches = [(xb, yb) for xb, yb in b]
    assert all(yb is None for _, yb in batches)
    assert batches[0][0] is batches[1][0] is batches[2][0]  # one buffer for full batches
    assert batches[3][0].shape == (2, 3) and batches[3][0] is not batches[0][0]
    order = b.order(0)
    np.testing.assert_array_equal(batches[2][0], x[order[12:18]])


def test_dtype_cast_once():
    b = Batches(np.arange(12, dtype=np.uint8).reshape(6, 2), np.arange(6), batch_size=4, dtype=np.float32)
    xb, yb = next(iter(b))
    assert xb.dtype == np.float32 and yb.dtype == np.int64


def test_length_mismatch():
    with pytest.raises(ValueError, match="5 rows but y has 4"):
        Batches(np.zeros(5), np.zeros(4), 2)


def test_batches_on_device(device):
    """Run with ``--device gpu`` on a GPU machine: data moves once, batches are taken there."""
    from minimlp.backend import to_numpy, xp_for
    x = np.random.default_rng(0).random((103, 5)).astype(np.float32)
    y = np.arange(103)
    cpu = [(a.copy(), c.copy()) for a, c in Batches(x, y, batch_size=16, seed=4)]
    on = Batches(x, y, batch_size=16, seed=4, device=device)
    assert isinstance(on.x, xp_for(device).ndarray)
    got = []
    for ga, gc in on:
        assert isinstance(ga, xp_for(device).ndarray) and isinstance(gc, xp_for(device).ndarray)
        got.append((to_numpy(ga).copy(), to_numpy(gc).copy()))  # CPU buffers are reused: copy
    assert len(got) == len(cpu) == 7 and on.epoch == 1
    for (a, c), (ga, gc) in zip(cpu, got):
        np.testing.assert_array_equal(a, ga)
        np.testing.assert_array_equal(c, gc)
