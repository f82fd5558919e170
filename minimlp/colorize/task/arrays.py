"""What the colorizer learns: uint8 RGB images → the luma input (N, 1024) and the target of the task ("rgb":
planar RGB (N, 3072); "chroma": the U and V planes (N, 2048); "chroma-bins": U, V as bins), all in [-1, 1],
and a model's output back to RGB images. The tasks in full: docs/colorizer.md.
"""
import numpy as np

from ...backend import get_array_module
from ...data.color import rgb_to_gray, rgb_to_yuv, yuv_to_rgb

TASKS = ("rgb", "chroma", "chroma-bins")


def unit(images):
    """uint8 (N, H, W, 3) → float32 [-1, 1], same shape."""
    return images.astype(np.float32) * (1 / 127.5) - 1.0


def gray_input(images):
    """uint8 (N, 32, 32, 3) → luma in [-1, 1], (N, 1024) float32."""
    gray = rgb_to_gray(images.astype(np.float32)) * (1 / 127.5) - 1.0
    return gray.reshape(len(images), -1).astype(np.float32, copy=False)


def planar(hwc):
    """(N, H, W, C) → (N, C·H·W), channel-planar."""
    return np.ascontiguousarray(hwc.transpose(0, 3, 1, 2)).reshape(len(hwc), -1)


def rgb_target(images):
    """uint8 images → (N, 3072) planar RGB in [-1, 1]."""
    return planar(unit(images))


def chroma_target(images):
    """uint8 images → (N, 2048): the planar U and V of YUV on the [-1, 1] image."""
    return planar(rgb_to_yuv(unit(images))[..., 1:])


def make_arrays(images, task):
    """(input, target) float32 arrays for ``task``."""
    if task == "rgb":
        return gray_input(images), rgb_target(images)
    if task in ("chroma", "chroma-bins"):
        return gray_input(images), chroma_target(images)
    raise ValueError(f"unknown task {task!r}; choose from {TASKS}")


def prepare_task(config, y_train):
    """Fit what the task learns from the training targets, once, into ``config`` (kept on --resume).

    For ``chroma-bins``: the chroma bins and their prior (``config['chroma_bins']``) and the model's
    ``out_channels`` = Q. Other tasks need nothing.
    """
    if config["task"] == "chroma-bins" and "chroma_bins" not in config:
        from .chroma_bins import ChromaBins
        bins = ChromaBins.fit(y_train)
        config["chroma_bins"] = bins.to_config()
        config["model_kwargs"]["out_channels"] = len(bins)
    return config


def task_loss(config):
    """The training loss of the config's task: MSE on RGB or chroma, or the rebalanced chroma-bin cross-entropy."""
    if config["task"] == "chroma-bins":
        from .chroma_bin_loss import ChromaBinLoss
        from .chroma_bins import ChromaBins
        return ChromaBinLoss(ChromaBins.from_config(config["chroma_bins"]))
    from ...nn import MSELoss
    return MSELoss()


def output_to_rgb(output, gray, task, side=32, bins=None):
    """Model output (N, 3072, 2048 or Q·1024) and input luma (N, 1024) → planar RGB in [-1, 1], clipped, (N, 3072).

    ``bins``: the model's ``ChromaBins`` (``model.chroma_bins``), needed by the chroma-bins task.
    """
    xp = get_array_module(output)
    n = output.shape[0]
    if task == "chroma-bins":
        if bins is None:
            raise ValueError("output_to_rgb: the chroma-bins task needs the model's chroma bins (bins=)")
        output = bins.decode(output.reshape(n, len(bins), side * side)).reshape(n, 2 * side * side)
    if task == "rgb":
        rgb = output
    elif task in ("chroma", "chroma-bins"):
        yuv = xp.concatenate([gray.reshape(n, 1, side, side), output.reshape(n, 2, side, side)], axis=1)
        rgb = yuv_to_rgb(yuv.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2).reshape(n, -1)
    else:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    return xp.clip(rgb, -1.0, 1.0)


def planar_to_images(rgb_planar, side=32):
    """Planar RGB in [-1, 1] (N, 3072) → uint8 (N, 32, 32, 3)."""
    from ...backend import to_numpy
    x = to_numpy(rgb_planar).reshape(-1, 3, side, side).transpose(0, 2, 3, 1)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def gray_copy(gray):
    """The baseline: luma (N, 1024) copied into R, G and B → planar (N, 3072)."""
    xp = get_array_module(gray)
    return xp.concatenate([gray, gray, gray], axis=1)


def hflip_half(xb, yb, rng, side=32):
    """Mirror a random half of the rows of a batch left-right, in place (augmentation)."""
    flip = rng.random(xb.shape[0]) < 0.5
    if not flip.any():
        return xb, yb
    xp = get_array_module(xb)
    rows = xp.asarray(np.flatnonzero(flip))
    for arr in (xb, yb):
        view = arr.reshape(arr.shape[0], -1, side, side)
        view[rows] = view[rows][..., ::-1]
    return xb, yb


class FlippedBatches:
    """Wrap a ``Batches`` so that each batch has a random half mirrored (deterministic per seed and epoch)."""

    def __init__(self, batches, seed=0):
        self.batches = batches
        self.seed = seed

    def __len__(self):
        return len(self.batches)

    @property
    def epoch(self):
        return self.batches.epoch

    @epoch.setter
    def epoch(self, value):
        self.batches.epoch = value

    def __iter__(self):
        rng = np.random.default_rng([self.seed, 7919, self.batches.epoch])
        for xb, yb in self.batches:
            yield hflip_half(xb, yb, rng)
