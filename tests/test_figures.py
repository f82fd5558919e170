"""The figures a run and the comparison write (issue 31, item 13 and the loss curve): row labels keep their
spaces, and the loss axis is logarithmic so that the later epochs and gray-copy's line stay apart."""
import numpy as np
import pytest
from PIL import Image

from minimlp.colorize.running.figures import image_grid, loss_figure
from minimlp.train.history import History


def _gaps(path, label_width=110):
    """The widths of the blank column runs between the first and last inked column of a grid's label."""
    with Image.open(path) as img:
        ink = (np.asarray(img.convert("L"))[:, :label_width - 2] < 128).any(axis=0)
    columns = np.flatnonzero(ink)
    edges = np.flatnonzero(np.diff(ink[columns[0]:columns[-1] + 1].astype(np.int8)))
    return [int(b - a) for a, b in zip(edges[::2], edges[1::2])]


@pytest.mark.parametrize("label", ["U-Net small", "paper's MLP", "gray input", "U-Netsmall"])
def test_13_a_row_label_shows_each_space_as_a_gap_wider_than_between_letters(tmp_path, label):
    images = np.full((2, 32, 32, 3), 128, np.uint8)
    image_grid([(label, images)], tmp_path / "grid.png")
    gaps = _gaps(tmp_path / "grid.png")
    assert sum(g >= 4 for g in gaps) == label.count(" "), gaps


def test_the_loss_axis_is_logarithmic_and_says_so():
    history = History([{"epoch": e, "train_loss": t, "train_eval_loss": te, "valid_loss": v}
                       for e, t, te, v in ((1, 0.22, 0.05, 0.05), (2, 0.02, 0.019, 0.0195), (3, 0.018, 0.0175, 0.0181))])
    ax = loss_figure(history, baseline=0.019).axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel().endswith(", log scale")
    low, high = ax.get_ylim()
    assert low < 0.0175 and high > 0.22


def test_13_a_long_row_label_ends_before_the_images(tmp_path):
    images = np.full((2, 32, 32, 3), 128, np.uint8)
    image_grid([("vivid U-Net (T = 1), a long label", images), ("gray input", images)], tmp_path / "grid.png")
    with Image.open(tmp_path / "grid.png") as img:
        row = np.asarray(img.convert("L"))[2:98]
    first_image = int(np.flatnonzero((row == 128).all(axis=0))[0])
    inked = np.flatnonzero((row[:, :first_image] < 100).any(axis=0))
    assert first_image - inked[-1] >= 4, (first_image, inked[-1])
