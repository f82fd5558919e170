"""Labelled image sets and the paper's train/valid/test splits.

``ImageSet``: uint8 images (N, H, W, 3) RGB, int64 labels (-1: no class), class names; ``Split``: (train, valid,
test). ``paper_split``: Xia & Salhi's 5,000 / 500 training and validation images from CIFAR-10's training set and
1,000 from its test set, the same for a seed on every machine; ``full_split``: 45,000 / 5,000 and the test set.
"""
from typing import NamedTuple

import numpy as np


class ImageSet:
    """Images, their labels and the class names."""

    def __init__(self, images, labels, classes=()):
        images = np.asarray(images)
        labels = np.asarray(labels, dtype=np.int64)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}")
        if labels.shape != (len(images),):
            raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
        self.images = images
        self.labels = labels
        self.classes = tuple(classes)

    def __len__(self):
        return len(self.images)

    def subset(self, indices):
        """A new ImageSet of the given rows (copies; any order, repeats allowed)."""
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSet(self.images[indices], self.labels[indices], self.classes)

    def __repr__(self):
        return (f"ImageSet({len(self)} images of {self.images.shape[1:]} {self.images.dtype}, "
                f"{len(self.classes)} classes)")


class Split(NamedTuple):
    """Train, validation and test ImageSets."""
    train: ImageSet
    valid: ImageSet
    test: ImageSet


def paper_split_indices(n_train_pool, n_test_pool, seed=0, n_train=5000, n_valid=500, n_test=1000):
    """Row indices ``(train, valid, test)`` of ``paper_split``.

    One generator ``default_rng(seed)``: a permutation of the training pool
    whose first ``n_train`` rows are train and next ``n_valid`` valid, then a
    permutation of the test pool whose first ``n_test`` rows are test. The
    indices stay in that random order (so the first images shown are of mixed
    classes).
    """
    if n_train + n_valid > n_train_pool or n_test > n_test_pool:
        raise ValueError(f"cannot take {n_train}+{n_valid} from {n_train_pool} training images "
                         f"and {n_test} from {n_test_pool} test images")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_train_pool)
    test = rng.permutation(n_test_pool)[:n_test]
    return perm[:n_train], perm[n_train:n_train + n_valid], test


def paper_split(train, test, seed=0, n_train=5000, n_valid=500, n_test=1000):
    """The paper's split: 5,000 / 500 from ``train`` and 1,000 from ``test`` (see above)."""
    tr, va, te = paper_split_indices(len(train), len(test), seed, n_train, n_valid, n_test)
    return Split(train.subset(tr), train.subset(va), test.subset(te))


def full_split(train, test, seed=0, n_valid=5000):
    """All of CIFAR-10: a random ``n_valid`` of ``train`` is held out (45,000 / 5,000 / 10,000).

    The test set is returned whole, in its original order.
    """
    if n_valid >= len(train):
        raise ValueError(f"n_valid={n_valid} leaves no training images out of {len(train)}")
    perm = np.random.default_rng(seed).permutation(len(train))
    return Split(train.subset(perm[n_valid:]), train.subset(perm[:n_valid]),
                 test.subset(np.arange(len(test))))
