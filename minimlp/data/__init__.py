"""Data for minimlp: CIFAR-10 and image folders, colour spaces, splits and minibatches.

Quick start (no network)::

    from minimlp.data import load_default, Batches, rgb_to_gray, to_unit_range
    split = load_default()                      # paper split: 5000 / 500 / 1000 CIFAR-10 images
    x = to_unit_range(rgb_to_gray(split.train.images)).reshape(len(split.train), -1)   # (5000, 1024)
    y = to_unit_range(split.train.images).reshape(len(split.train), -1)                # (5000, 3072)
    for xb, yb in Batches(x, y, batch_size=64, seed=0):
        ...
"""
from .batches import Batches
from .cache import cache_dir
from .cifar10 import CLASSES, load_cifar10
from .color import (BGR_AS_RGB_WEIGHTS, BT601_WEIGHTS, from_unit_range, lab_to_rgb, rgb_to_gray,
                    rgb_to_lab, rgb_to_yuv, to_unit_range, yuv_to_rgb)
from .default import build_default, load_default, shared_archive_path
from .download import DownloadError, download_cifar10
from .errors import DataError
from .image_folder import load_image_folder
from .splits import ImageSet, Split, full_split, paper_split, paper_split_indices

__all__ = [
    "Batches", "cache_dir", "CLASSES", "load_cifar10", "BGR_AS_RGB_WEIGHTS", "BT601_WEIGHTS",
    "from_unit_range", "lab_to_rgb", "rgb_to_gray", "rgb_to_lab", "rgb_to_yuv", "to_unit_range",
    "yuv_to_rgb", "build_default", "load_default", "shared_archive_path", "DownloadError",
    "download_cifar10", "DataError", "load_image_folder", "ImageSet", "Split", "full_split",
    "paper_split", "paper_split_indices",
]
