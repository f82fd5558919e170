"""Beat gray-copy: the ablation from the paper's best model to the project's best colorizer.

    python examples/beat_baseline.py --out results [--seeds 1] [--steps paper,chroma5k,chroma45k]
                                     [--export chroma-mlp-45k]

Each step changes one thing and is scored on the paper's 1000 test images
(the embedded default's test split), beside gray-copy and ridge on the same
images. Models are always selected by their own validation set (the paper's
500 images, or the full split's 5000 held-out training images), never by the
test set. The 45,000-image runs use ``full_split`` of the shared archive,
whose train and valid come from CIFAR-10's training set, so none of the 1000
test images (from CIFAR-10's test set) is ever trained on.

Runs go through ``reproduce.run_one`` into ``OUT/runs/<id>-s<seed>/`` (the
paper-mlp1 run is the same folder ``reproduce`` uses, so it is not trained
twice); finished runs are skipped. Writes ``OUT/ABLATION.md`` and the image
grid ``OUT/fig_grid.png``; ``--export NAME`` stores the shipped run as the
package's pretrained model (float16 weight matrices) with a JSON of its scores:
the last step's seed with the lowest validation MSE (the steps are ordered so
that the last is the recipe we ship; nothing is chosen by test MSE).
"""
import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from minimlp.colorize.baselines import baseline_scores
from minimlp.colorize.evaluate import evaluate_images, predict_rgb, scores
from minimlp.colorize.export import compare_storage, export_pretrained
from minimlp.colorize.figures import gray_images, image_grid
from minimlp.colorize.loading import PRETRAINED_DIR, load_colorizer, load_split
from minimlp.colorize.reproduce import _row, config_id, machine_description, resolve, run_one
from minimlp.colorize.tasks import planar_to_images

# (key, what changed, study row, data, epochs)
STEPS = [
    ("paper", "the paper's best: RGB target, 1024-512-3072, sigmoid, BatchNorm, Adam 2e-4, batch 16; 5,000 images",
     _row("beat", "", "paper-mlp1"), "default", None),
    ("chroma5k", "chroma target (predict U, V; keep the input's luma) with the chroma-mlp recipe: 2×2048 ReLU, "
                 "dropout 0.2, AdamW wd 1e-2, one-cycle max lr 1e-3, batch 128, h-flips; still 5,000 images",
     _row("beat", "", "chroma-mlp", split="paper"), "default", 20),
    ("chroma45k", "the same on all 45,000 training images (full split; valid = 5,000 other training images)",
     _row("beat", "", "chroma-mlp"), "shared", 20),
]


def run_dir(out, row, config, seed):
    return os.path.join(out, "runs", f"{config_id(row)}{'' if config['data'] == 'default' else '_' + config['data']}"
                                     f"-e{config['training']['epochs']}-s{seed}")


def paper_test(folder, images):
    """Scores of a run's best checkpoint on the paper's 1000 test images (cached in paper_test.json)."""
    path = os.path.join(folder, "paper_test.json")
    if os.path.exists(path):
        return json.load(open(path))
    model, config = load_colorizer(folder)
    result = evaluate_images(model, config["task"], images)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    return result


def ensemble_mse(folders, images):
    """Test MSE of the mean of the runs' RGB predictions."""
    preds = []
    for folder in folders:
        model, config = load_colorizer(folder)
        preds.append(predict_rgb(model, config["task"], images))
    return scores(np.clip(np.mean(preds, axis=0), -1, 1), images)[0]


def fmt(values):
    values = np.asarray(values)
    return f"{values.mean():.5f}" if len(values) == 1 else f"{values.mean():.5f} ± {values.std(ddof=1):.5f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per step")
    parser.add_argument("--seeds-for", default="", help="key=N overrides, e.g. chroma5k=3")
    parser.add_argument("--paper-epochs", type=int, default=80, help="epochs of the paper's model (its run)")
    parser.add_argument("--chroma-epochs", type=int, default=20, help="epochs of the chroma-mlp steps")
    parser.add_argument("--export-dir", default=str(PRETRAINED_DIR), help="where --export writes")
    parser.add_argument("--steps", default=",".join(k for k, *_ in STEPS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--export", help="name of the pretrained file to write from the last step (its lowest-valid seed)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    ignore = os.path.join(args.out, "runs", ".gitignore")
    if not os.path.exists(ignore):   # checkpoints stay out of git
        Path(ignore).write_text("*\n")
    seeds_for = dict(item.split("=") for item in args.seeds_for.split(",") if item)
    test_images = load_split("default", "paper").test.images
    base = baseline_scores(load_split("default", "paper"))
    gray, ridge = base["gray_copy"]["test"], base["ridge"]["test"]
    lines = ["# Beating gray-copy: ablation", "",
             f"- command: `python examples/beat_baseline.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}; machine: {machine_description()}",
             "- every number: MSE on the paper's 1000 test images (RGB in [-1, 1]), best-validation checkpoint; "
             "mean ± std over seeds", "",
             "| step | what changed | epochs | seeds | test MSE | vs gray-copy | vs ridge | train time per seed |",
             "|---|---|---|---|---|---|---|---|",
             f"| 0 | gray-copy (luma copied into R, G, B) | - | - | {gray:.5f} | 0.0% | "
             f"{(gray / ridge - 1) * 100:+.1f}% | 0 |",
             f"| 0' | ridge regression gray → RGB (closed form, λ = {base['ridge']['lambda']:g}) | - | - | "
             f"{ridge:.5f} | {(ridge / gray - 1) * 100:+.1f}% | 0.0% | < 1 min |"]
    best = None
    done = {}
    for i, (key, what, row, data, epochs) in enumerate(STEPS, 1):
        if key not in args.steps.split(","):
            continue
        config = resolve(row, args.paper_epochs if epochs is None else args.chroma_epochs, data)
        n = int(seeds_for.get(key, args.seeds))
        folders = [run_dir(args.out, row, config, s) for s in range(n)]
        results = []
        for seed, folder in enumerate(folders):
            print(f"{key} seed {seed}: {folder}", file=sys.stderr, flush=True)
            trained = run_one({**config, "seed": seed}, folder, args.device)
            results.append((paper_test(folder, test_images)["test_mse"], trained["seconds"], folder, trained["valid"]))
        tests = [r[0] for r in results]
        mean = float(np.mean(tests))
        lines.append(f"| {i} | {what} | {config['training']['epochs']} | {n} | {fmt(tests)} | "
                     f"{(mean / gray - 1) * 100:+.1f}% | {(mean / ridge - 1) * 100:+.1f}% | "
                     f"{np.mean([r[1] for r in results]) / 60:.1f} min |")
        if n > 1:
            ens = ensemble_mse(folders, test_images)
            lines.append(f"| {i}e | ensemble: mean of the {n} seeds' outputs | | {n} | {ens:.5f} | "
                         f"{(ens / gray - 1) * 100:+.1f}% | {(ens / ridge - 1) * 100:+.1f}% | |")
        # the model we ship: the last step's seed with the lowest *validation* MSE (never chosen by test MSE)
        done[key] = best = min(results, key=lambda r: r[3])
    lines += ["", "Negative percentages: lower MSE than the baseline (better)."]
    if args.export and best is not None:
        Path(args.export_dir).mkdir(parents=True, exist_ok=True)
        target = Path(args.export_dir) / f"{args.export}.npz"
        export_pretrained(best[2], target)
        mse32, mse16 = compare_storage(best[2], str(target), test_images)
        model, config = load_colorizer(str(target))
        metrics = evaluate_images(model, config["task"], test_images)
        metrics.update(model=config["model"], task=config["task"], split="test", data="default",
                       float32_test_mse=mse32, source_run=os.path.basename(best[2]))
        Path(target).with_suffix(".json").write_text(json.dumps(metrics, indent=2) + "\n")
        lines += ["", f"Pretrained `{target.name}` (float16 weight matrices, {target.stat().st_size / 1e6:.1f} MB): "
                      f"test MSE {mse16:.6f} with float16 storage vs {mse32:.6f} in float32 "
                      f"({(mse16 / mse32 - 1) * 100:+.3f}%); {abs(1 - mse16 / gray) * 100:.1f}% "
                      f"{'below' if mse16 < gray else 'above'} gray-copy's {gray:.5f}."]
    if "paper" in done and best is not None:
        grid_images = test_images[:10]
        rows = [("ground truth", grid_images), ("gray input", gray_images(grid_images)),
                ("gray-copy", gray_images(grid_images))]
        for label, folder in (("paper's best", done["paper"][2]), ("ours", best[2])):
            model, config = load_colorizer(folder)
            rows.append((label, planar_to_images(predict_rgb(model, config["task"], grid_images))))
        image_grid(rows, os.path.join(args.out, "fig_grid.png"))
        lines += ["", "![test images: ground truth, gray input, gray-copy, the paper's best model, ours]"
                      "(fig_grid.png)"]
    lines += ["", f"Wall time of this invocation: {(time.perf_counter() - started) / 60:.1f} min (finished runs are "
              "reused, not retrained; their training time is in the table)."]
    Path(args.out, "ABLATION.md").write_text("\n".join(lines) + "\n")
    print(os.path.join(args.out, "ABLATION.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
