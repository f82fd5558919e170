"""Beat gray-copy: the ablation from the paper's best model to the project's best colorizers.

    python examples/beat_baseline.py --out results [--seeds 1] [--seeds-for chroma5k=3] [--epochs-for paper=80]
                                     [--steps paper,chroma5k,...] [--export unet45k=unet-45k]

Each step changes one thing and is scored on the paper's 1000 test images
(the embedded default's test split), beside gray-copy and ridge on the same
images: MSE, mean PSNR, colourfulness ratio and which metric beats gray-copy.
Models are always selected by their own validation set (the paper's 500
images, or the full split's 5000 held-out training images), never by the
test set. The 45,000-image runs use ``full_split`` of the shared archive,
whose train and valid come from CIFAR-10's training set, so none of the 1000
test images (from CIFAR-10's test set) is ever trained on.

Runs go through ``reproduce.run_one`` into ``OUT/runs/<id>-e<epochs>-s<seed>/``
(the paper-mlp1 run is the same folder ``reproduce`` uses, so it is not trained
twice); finished runs are skipped, and a run trained with ``minimlp-colorize
train`` into that folder counts as finished. Writes ``OUT/ABLATION.md`` and the
image grid ``OUT/fig_grid.png`` (one row per step). ``--export KEY=NAME``
ships step KEY's seed with the lowest validation MSE as the package's
pretrained NAME (``export.ship``: float16 weight matrices, a JSON of its
scores and provenance); nothing is chosen by test MSE.
"""
import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from minimlp.atomic import write_text
from minimlp.colorize.experiments.baselines import baseline_scores, ridge_gray_to_rgb, ridge_predict
from minimlp.colorize.task.metrics import colorfulness_ratio
from minimlp.colorize.running.prediction import evaluate_images, predict_rgb
from minimlp.colorize.task.metrics import scores
from minimlp.colorize.experiments.ship import ship
from minimlp.colorize.running.figures import gray_images, image_grid
from minimlp.colorize.models.store import PRETRAINED_DIR, load_colorizer
from minimlp.colorize.task.data import load_split
from minimlp.colorize.experiments.provenance import describe, provenance
from minimlp.colorize.experiments.report import kept_sections, wins_on
from minimlp.colorize.experiments.run import run_one
from minimlp.colorize.experiments.studies import _row, config_id, resolve
from minimlp.colorize.task.arrays import gray_input, planar_to_images, rgb_target

# (key, what changed, study row, data, epochs)
STEPS = [
    ("paper", "the paper's best: RGB target, 1024-512-3072, sigmoid, BatchNorm, Adam 2e-4, batch 16; 5,000 images",
     _row("beat", "", "paper-mlp1"), "default", 80),
    ("chroma5k", "chroma target (predict U, V; keep the input's luma) with the chroma-mlp recipe: 2×2048 ReLU, "
                 "dropout 0.2, AdamW wd 1e-2, one-cycle max lr 1e-3, batch 128, h-flips; still 5,000 images",
     _row("beat", "", "chroma-mlp", split="paper"), "default", 20),
    ("chroma45k", "the same on all 45,000 training images (full split; valid = 5,000 other training images)",
     _row("beat", "", "chroma-mlp"), "shared", 20),
    ("unet-small45k", "convolutions: U-Net 16-32-64 (two 3x3 conv + BatchNorm + ReLU per level, two max-poolings, "
                      "transposed-conv upsampling, concatenated skips), AdamW one-cycle max lr 2e-3, batch 64, "
                      "h-flips; 45,000 images", _row("beat", "", "unet-small"), "shared", 12),
    ("unet45k", "the U-Net at full width, 32-64-128", _row("beat", "", "unet"), "shared", 14),
    ("vivid45k", "vivid colours: the small U-Net classifying each pixel's chroma into bins (rebalanced softmax "
                 "cross-entropy), decoded by the annealed mean at T = 1, the shipped decoding (the lowest-MSE "
                 "temperature whose colourfulness ratio is at least 0.7 on validation; Zhang's T = 0.38: MSE "
                 "0.02702, ratio 1.20)", _row("beat", "", "unet-vivid-small"),
     "shared", 3),
]


KEYS = [key for key, *_ in STEPS]
# decoding temperature of a chroma-bins step as shipped (--export ships it); other steps decode as trained
DECODING = {"vivid45k": 1.0}


def run_dir(out, row, config, seed):
    return os.path.join(out, "runs", f"{config_id(row)}{'' if config['data'] == 'default' else '_' + config['data']}"
                                     f"-e{config['training']['epochs']}-s{seed}")


def load_decoded(folder, temperature=None):
    """A run's best checkpoint and config; a chroma-bins model decodes at ``temperature`` when one is given."""
    model, config = load_colorizer(folder)
    if temperature is not None:
        model.chroma_bins.temperature = temperature
    return model, config


def paper_test(folder, images, temperature=None):
    """Scores of a run's best checkpoint on the paper's 1000 test images (cached in paper_test[_T<t>].json)."""
    path = os.path.join(folder, "paper_test.json" if temperature is None else f"paper_test_T{temperature:g}.json")
    if os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if "colorfulness_ratio" in cached:
            return cached
    model, config = load_decoded(folder, temperature)
    result = evaluate_images(model, config["task"], images)
    write_text(path, json.dumps(result, indent=2))
    return result


def ensemble_scores(folders, images, temperature=None):
    """(MSE, PSNR, colourfulness ratio) of the mean of the runs' RGB predictions."""
    preds = []
    for folder in folders:
        model, config = load_decoded(folder, temperature)
        preds.append(predict_rgb(model, config["task"], images))
    mean = np.clip(np.mean(preds, axis=0), -1, 1)
    return (*scores(mean, images), colorfulness_ratio(mean, rgb_target(images)))


def fmt(values, digits=5):
    values = np.asarray(values)
    if len(values) == 1:
        return f"{values.mean():.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def overrides(text, flag):
    """'key=N,key=N' → {key: N}, keys checked against the steps."""
    out = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in KEYS or not value.isdigit():
            sys.exit(f"{flag}: expected KEY=N with KEY one of {', '.join(KEYS)}, got {item!r}")
        out[key] = int(value)
    return out


def row_line(step, what, epochs, seeds, mse, psnr, colour, base, seconds):
    gray, ridge = base["gray_copy"]["test"], base["ridge"]["test"]
    mean = float(np.mean(mse))
    wins = "-" if step == 0 else wins_on(mean, float(np.mean(psnr)), gray, base["gray_copy"]["test_psnr"])
    return (f"| {step} | {what} | {epochs} | {seeds} | {fmt(mse)} | {(mean / gray - 1) * 100:+.1f}% | "
            f"{(mean / ridge - 1) * 100:+.1f}% | {fmt(psnr, 2)} | {fmt(colour, 3)} | {wins} | {seconds} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per step")
    parser.add_argument("--seeds-for", default="", help="KEY=N overrides, e.g. chroma5k=3")
    parser.add_argument("--epochs-for", default="", help="KEY=N overrides of a step's epochs, e.g. paper=80")
    parser.add_argument("--steps", default=",".join(KEYS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--export", default="", help="KEY=NAME: ship that step's lowest-valid seed as the "
                                                     "pretrained NAME (see minimlp-colorize ship)")
    parser.add_argument("--export-dir", default=str(PRETRAINED_DIR), help="where --export writes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    seeds_for, epochs_for = overrides(args.seeds_for, "--seeds-for"), overrides(args.epochs_for, "--epochs-for")
    wanted = args.steps.split(",")
    if set(wanted) - set(KEYS):
        sys.exit(f"--steps: unknown {sorted(set(wanted) - set(KEYS))}; choose from {', '.join(KEYS)}")
    export_key, _, export_name = args.export.partition("=")
    if args.export and (export_key not in wanted or not export_name):
        sys.exit(f"--export: expected KEY=NAME with KEY one of the steps run ({args.steps}), got {args.export!r}")
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    ignore = os.path.join(args.out, "runs", ".gitignore")
    if not os.path.exists(ignore):   # checkpoints stay out of git
        Path(ignore).write_text("*\n")
    paper_split = load_split("default", "paper")
    test_images = paper_split.test.images
    base = baseline_scores(paper_split)
    weights, _, _ = ridge_gray_to_rgb(paper_split)
    ridge_colour = colorfulness_ratio(np.clip(ridge_predict(weights, gray_input(test_images)), -1, 1),
                                      rgb_target(test_images))
    gray, ridge = base["gray_copy"], base["ridge"]
    lines = ["# Beating gray-copy: ablation", "",
             f"- command: `python examples/beat_baseline.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}; {describe(provenance())}",
             "- every number: on the paper's 1000 test images (RGB MSE in [-1, 1], mean per-image PSNR on the "
             "8-bit images), best-validation checkpoint; mean ± std over seeds. Colourfulness: the mean chroma "
             "√(U² + V²) of the outputs over the truth's.", "",
             "| step | what changed | epochs | seeds | test MSE | vs gray-copy | vs ridge | mean PSNR (dB) | "
             "colourfulness | beats gray-copy on | train time per seed |",
             "|---|---|---|---|---|---|---|---|---|---|---|",
             row_line(0, "gray-copy (luma copied into R, G, B)", "-", "-", [gray["test"]], [gray["test_psnr"]],
                      [0.0], base, "0"),
             row_line("0'", f"ridge regression gray → RGB (closed form, λ = {ridge['lambda']:g})", "-", "-",
                      [ridge["test"]], [ridge["test_psnr"]], [ridge_colour], base, "< 1 min")]
    chosen = {}
    for i, (key, what, row, data, epochs) in enumerate(STEPS, 1):
        if key not in wanted:
            continue
        config = resolve(row, epochs_for.get(key, epochs), data)
        n = seeds_for.get(key, args.seeds)
        folders = [run_dir(args.out, row, config, s) for s in range(n)]
        results = []
        for seed, folder in enumerate(folders):
            print(f"{key} seed {seed}: {folder}", file=sys.stderr, flush=True)
            trained = run_one({**config, "seed": seed}, folder, args.device)
            results.append((paper_test(folder, test_images, DECODING.get(key)), trained["seconds"], folder,
                            trained["valid"]))
        tests = [r[0] for r in results]
        lines.append(row_line(i, what, config["training"]["epochs"], n, [t["test_mse"] for t in tests],
                              [t["psnr"] for t in tests], [t["colorfulness_ratio"] for t in tests], base,
                              f"{np.mean([r[1] for r in results]) / 60:.1f} min"))
        if n > 1:
            mse, psnr, colour = ensemble_scores(folders, test_images, DECODING.get(key))
            lines.append(row_line(f"{i}e", f"ensemble: mean of the {n} seeds' outputs", "", n, [mse], [psnr],
                                  [colour], base, ""))
        # the run a step stands for: its seed with the lowest *validation* MSE (never chosen by test MSE)
        chosen[key] = min(results, key=lambda r: r[3])[2]
    lines += ["", "Negative percentages: lower MSE than the baseline (better). Beats … on: lower MSE, higher mean "
                  "PSNR than gray-copy."]
    if args.export:
        record = ship(chosen[export_key], export_name, args.export_dir, temperature=DECODING.get(export_key))
        lines += ["", f"Pretrained `{export_name}.npz` (float16 weight matrices) from step {export_key}: test MSE "
                      f"{record['test_mse']:.6f} with float16 storage vs {record['float32_test_mse']:.6f} in float32; "
                      f"mean PSNR {record['psnr']:.2f} dB (gray-copy {record['baseline_gray_psnr']:.2f} dB)."]
    grid_images = test_images[:10]
    rows = [("ground truth", grid_images), ("gray input", gray_images(grid_images)),
            ("gray-copy", gray_images(grid_images))]
    for key, folder in chosen.items():
        model, config = load_decoded(folder, DECODING.get(key))
        rows.append((key, planar_to_images(predict_rgb(model, config["task"], grid_images))))
    image_grid(rows, os.path.join(args.out, "fig_grid.png"))
    lines += ["", "![test images: ground truth, gray input, gray-copy, then each step's model](fig_grid.png)",
              "", f"Wall time of this invocation: {(time.perf_counter() - started) / 60:.1f} min (finished runs are "
                  "reused, not retrained; their training time is in the table)."]
    path = os.path.join(args.out, "ABLATION.md")
    kept = kept_sections(path)   # the recipe search's table (examples/recipe_search.py)
    write_text(path, "\n".join(lines) + "\n" + ("\n" + kept if kept else ""))
    print(os.path.join(args.out, "ABLATION.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
