"""Any-size photos with a U-Net: chroma at native resolution or at a reduced one, scored on enlarged CIFAR images.

Each of the first ``--n`` test images of the paper's split (the embedded
default data) is enlarged to S x S for each of ``--sizes`` (bicubic,
Pillow). The enlarged colour image is the ground truth; the command's own
path (``photo.colorize_photo``) colorizes it from its luma with each method:

- ``native``: the U-Net on the full S x S luma;
- ``reduced N``: the luma shrunk to a short side of N pixels (each of
  ``--short-sides``), the chroma upsampled bilinearly;
- ``square 32``: the MLPs' path (the luma shrunk to 32x32, chroma upsampled
  bicubically), which any model can take;
- ``gray-copy``: the luma (rounded to 8 bits) copied into R, G and B.

Scores on the 8-bit outputs: RGB MSE with pixels in [-1, 1] (over every value
of every image) and the mean over images of the PSNR.

    python benchmarks/anysize_eval.py --checkpoint RUN_FOLDER|FILE|pretrained:NAME [--n 200] [--sizes 128 256]
                                      [--short-sides 32 64] [--json]
"""
import argparse
import json
import sys
import time

import numpy as np
from PIL import Image

from minimlp.colorize.task.metrics import psnr
from minimlp.colorize.models.store import load_colorizer
from minimlp.colorize.task.data import load_split
from minimlp.colorize.models.architectures import conv_core
from minimlp.colorize.running.photo import colorize_photo
from minimlp.data import rgb_to_gray


def enlarge(images, size):
    """uint8 (N, 32, 32, 3) → uint8 (N, size, size, 3), bicubic."""
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BICUBIC)) for im in images])


def gray_copy(images):
    """The luma of each image, rounded to 8 bits, in R, G and B."""
    luma = np.clip(np.rint(rgb_to_gray(images.astype(np.float32))), 0, 255).astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=-1)


def score(output, truth):
    """{'mse': RGB MSE in [-1, 1], 'psnr': mean per-image PSNR} of uint8 image stacks."""
    diff = (output.astype(np.float64) - truth.astype(np.float64)) / 127.5
    return {"mse": float(np.mean(diff ** 2)), "psnr": psnr(output, truth)}


def methods(model, short_sides):
    """(label, colorize_photo resolution) for each method the model can take."""
    out = [("square 32", "square")]
    if conv_core(model) is not None:
        out = [("native", "native")] + [(f"reduced {n}", n) for n in short_sides] + out
    return out


def measure(model, task, images, sizes, short_sides):
    """Rows {'size', 'method', 'mse', 'psnr', 'seconds'} for every size and method, gray-copy included."""
    rows = []
    for size in sizes:
        truth = enlarge(images, size)
        rows.append({"size": size, "method": "gray-copy", **score(gray_copy(truth), truth), "seconds": 0.0})
        for label, resolution in methods(model, short_sides):
            started = time.perf_counter()
            output = np.stack([np.asarray(colorize_photo(model, task, Image.fromarray(im), resolution=resolution))
                               for im in truth])
            rows.append({"size": size, "method": label, **score(output, truth),
                         "seconds": time.perf_counter() - started})
    return rows


def table(rows, n, checkpoint):
    """The rows as a Markdown table."""
    lines = [f"{checkpoint} on the first {n} test images (paper split), enlarged bicubically:", "",
             "| size | method | RGB MSE | mean PSNR (dB) | seconds |", "|---|---|---|---|---|"]
    lines += [f"| {r['size']} | {r['method']} | {r['mse']:.5f} | {r['psnr']:.2f} | {r['seconds']:.1f} |"
              for r in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="run folder, .npz file, 'pretrained' or 'pretrained:NAME'")
    parser.add_argument("--n", type=int, default=200, help="test images (the first N of the paper's 1000)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--short-sides", type=int, nargs="+", default=[32], help="reduced resolutions to try")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.n < 1 or min(args.sizes) < 1 or min(args.short_sides) < 1:
        parser.error("--n, --sizes and --short-sides must be positive")
    model, config = load_colorizer(args.checkpoint, device=args.device)
    images = load_split("default", "paper").test.images[:args.n]
    rows = measure(model, config["task"], images, args.sizes, args.short_sides)
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "model": config["model"], "n_images": len(images),
                          "rows": rows}))
    else:
        print(table(rows, len(images), args.checkpoint))
    return 0


if __name__ == "__main__":
    sys.exit(main())
