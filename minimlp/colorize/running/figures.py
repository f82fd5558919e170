"""Figures: the loss curves of a run and image grids like the paper's Figure 1."""
import numpy as np
from PIL import Image, ImageDraw

from ...atomic import atomic_path

UNITS = {"rgb": "MSE of the RGB image (pixels in [-1, 1])",
         "chroma": "MSE of the U and V chroma planes (pixels in [-1, 1])",
         "chroma-bins": "rebalanced cross-entropy over chroma bins (per pixel)"}


def loss_figure(history, title=None, baseline=None, task="rgb"):
    """The figure of ``loss_curve`` (matplotlib Figure): every line names its split, the axis its unit.

    A run of one epoch draws its values as markers, which a line of one point would not show. The loss axis is
    logarithmic: epoch 1's loss is often ten times the later ones, and a linear axis squashes the range where
    the model crosses gray-copy.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = history.column("epoch")
    marker = "o" if len(epochs) == 1 else None
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for column, label, style in (("train_loss", "train split (running mean, training mode)", "-"),
                                 ("train_eval_loss", "train split (re-measured, eval mode)", "--"),
                                 ("valid_loss", "valid split (eval mode)", "-")):
        values = history.column(column)
        if any(v is not None for v in values):
            ax.plot(epochs, [np.nan if v is None else v for v in values], style, marker=marker, label=label)
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle=":", label=f"gray-copy on the valid split ({baseline:.4f})")
    ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.set_ylabel(f"{UNITS[task]}, log scale")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def loss_curve(history, path, title=None, baseline=None, task="rgb"):
    """Save ``loss_figure`` (train, train in eval mode and valid loss per epoch; gray-copy's valid loss) to ``path``."""
    import matplotlib.pyplot as plt
    fig = loss_figure(history, title, baseline, task)
    _save_figure(fig, path)
    plt.close(fig)
    return path


def _save_figure(fig, path):
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")


def label_font(size=11):
    """The font of the grids' row labels: matplotlib's DejaVu Sans (Pillow's built-in font draws a space two
    pixels wide, so 'U-Net small' read as 'U-Netsmall')."""
    from matplotlib import font_manager
    from PIL import ImageFont
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def image_grid(rows, path, scale=3, gap=2, label_width=110):
    """Save a grid: one row per (label, uint8 images (K, H, W, 3)), images upscaled ``scale``× (nearest); the
    labels' column is at least ``label_width`` wide, and wider where a label needs it."""
    font = label_font()
    label_width = max(label_width, 12 + max(round(font.getlength(label)) for label, _ in rows))
    count = max(len(images) for _, images in rows)
    side = rows[0][1].shape[1] * scale
    width = label_width + count * (side + gap)
    height = len(rows) * (side + gap) + gap
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (label, images) in enumerate(rows):
        top = gap + r * (side + gap)
        draw.text((4, top + side // 2 - 6), label, fill="black", font=font)
        for c, img in enumerate(images):
            tile = Image.fromarray(np.asarray(img, dtype=np.uint8)).resize((side, side), Image.NEAREST)
            canvas.paste(tile, (label_width + c * (side + gap), top))
    with atomic_path(path, suffix=".png") as tmp:
        canvas.save(tmp, format="PNG")
    return path


def gray_images(images):
    """uint8 RGB images → their BT.601 luma shown as gray uint8 RGB images."""
    from ...data.color import rgb_to_gray
    g = np.clip(np.rint(rgb_to_gray(images.astype(np.float32))), 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def valid_curves(curves, path, title=None, baseline=None):
    """Valid loss per epoch of several runs on one plot (the paper's Figures 5, 11, 12).

    ``curves``: (label, path of a run's history.csv); ``baseline``: a horizontal line (gray-copy's valid MSE).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...train.history import History
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for label, csv_path in curves:
        history = History.from_csv(csv_path)
        ax.plot(history.column("epoch"), history.column("valid_loss"), label=label)
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle=":", label=f"gray-copy ({baseline:.4f})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("valid MSE (eval mode, log scale)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return path
