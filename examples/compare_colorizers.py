"""Several trained colorizers side by side on the same test images: a table (MSE, PSNR, colourfulness) and a grid.

    python examples/compare_colorizers.py --out results \
        --checkpoints "paper's MLP=runs/paper-mlp1" "chroma MLP=pretrained:chroma-mlp" "U-Net=pretrained:unet" \
                      "vivid U-Net=pretrained:unet-vivid" [--data default --split paper] [--images 12]

Every model is scored on the test split's images (default: the paper's 1,000) beside gray-copy and ridge
(gray → RGB, λ chosen on the validation set) on the same images: RGB MSE in [-1, 1], mean per-image PSNR,
the colourfulness ratio (mean chroma √(U² + V²) of the outputs over the truth's) and which of MSE and PSNR
each beats gray-copy on. Writes ``OUT/COMPARISON.md`` and ``OUT/fig_colorizers.png`` (rows: ground truth,
gray input, gray-copy, then each model, on the first ``--images`` test images).
"""
import argparse
import os
import sys

import numpy as np

from minimlp.colorize.experiments.baselines import ridge_gray_to_rgb, ridge_predict
from minimlp.colorize.task.metrics import colorfulness_ratio
from minimlp.colorize.running.prediction import predict_rgb
from minimlp.colorize.task.metrics import scores
from minimlp.colorize.running.figures import gray_images, image_grid
from minimlp.colorize.models.store import load_colorizer
from minimlp.colorize.task.data import load_split
from minimlp.colorize.experiments.provenance import describe, provenance
from minimlp.colorize.experiments.report import wins_on
from minimlp.colorize.task.arrays import gray_copy, gray_input, planar_to_images, rgb_target
from minimlp.atomic import write_text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", nargs="+", required=True, help="LABEL=CHECKPOINT (run folder, .npz, "
                                                                         "pretrained or pretrained:NAME)")
    parser.add_argument("--data", default="default")
    parser.add_argument("--split", default="paper", choices=["paper", "full"])
    parser.add_argument("--images", type=int, default=12, help="test images in the figure")
    parser.add_argument("--out", default="results")
    args = parser.parse_args(argv)
    entries = []
    for item in args.checkpoints:
        label, sep, checkpoint = item.rpartition("=")   # labels may hold "=", checkpoints hardly
        if not sep or not label or not checkpoint:
            parser.error(f"--checkpoints takes LABEL=CHECKPOINT, got {item!r}")
        entries.append((label, checkpoint))
    split = load_split(args.data, args.split)
    images = split.test.images
    truth = rgb_target(images)
    weights, lam, _ = ridge_gray_to_rgb(split)
    outputs = [("gray-copy", gray_copy(gray_input(images))),
               (f"ridge (λ = {lam:g})", np.clip(ridge_predict(weights, gray_input(images)), -1, 1))]
    for label, checkpoint in entries:
        model, config = load_colorizer(checkpoint)
        outputs.append((label, predict_rgb(model, config["task"], images)))
        print(f"{label}: {config['model']} ({config['task']})", file=sys.stderr)
    base = scores(outputs[0][1], images)
    lines = [f"# Colorizers compared on {len(images)} test images ({args.data}, {args.split} split)", "",
             f"- command: `python examples/compare_colorizers.py {' '.join(repr(a) if ' ' in a else a for a in (argv or sys.argv[1:]))}`",
             f"- {describe(provenance())}", "",
             "| model | test MSE | vs gray-copy | mean PSNR (dB) | colourfulness ratio | beats gray-copy on |",
             "|---|---|---|---|---|---|"]
    for label, rgb in outputs:
        mse, psnr = scores(rgb, images)
        wins = "-" if label == "gray-copy" else wins_on(mse, psnr, *base)
        lines.append(f"| {label} | {mse:.5f} | {(mse / base[0] - 1) * 100:+.1f}% | {psnr:.2f} | "
                     f"{colorfulness_ratio(rgb, truth):.3f} | {wins} |")
    lines += ["", "Colourfulness ratio: mean √(U² + V²) of the outputs over that of the ground truth (1: as vivid; "
              "gray-copy: 0). Negative percentages: lower MSE than gray-copy.", "",
              "![ground truth, gray input, then each colorizer](fig_colorizers.png)", ""]
    os.makedirs(args.out, exist_ok=True)
    write_text(os.path.join(args.out, "COMPARISON.md"), "\n".join(lines))
    k = args.images
    rows = [("ground truth", images[:k]), ("gray input", gray_images(images[:k]))]
    rows += [(label, planar_to_images(rgb[:k])) for label, rgb in outputs if not label.startswith("ridge")]
    image_grid(rows, os.path.join(args.out, "fig_colorizers.png"))
    print("\n".join(lines[5:7 + len(outputs)]))


if __name__ == "__main__":
    main()
