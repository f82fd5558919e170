"""RESULTS.md and the valid-loss figures of ``reproduce``: every row beside the paper, gray-copy and ridge.

Noise: the seed-to-seed standard deviation σ is pooled over the rows run with
several seeds (Table 1). A row's difference Δ from its study's reference row
(the paper's setting) is called *within noise* when |Δ| < 2σ·√(1/n₁ + 1/n₂),
n being each row's number of seeds: a rough two-sigma rule, not a test.
"""
import math
import os

import numpy as np

from ..atomic import write_text
from .figures import valid_curves

PAPER_NA = "n/a"
FIGURES = {"fig5": "fig_output_activation.png", "fig11": "fig_optimizers.png", "fig12": "fig_learning_rates.png"}


def mean_std(values):
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else None


def fmt(values):
    """'0.02512 ± 0.00012' for several seeds, '0.02512' for one."""
    m, s = mean_std(values)
    return f"{m:.5f}" if s is None else f"{m:.5f} ± {s:.5f}"


def pooled_std(results):
    """Pooled seed standard deviation of test MSE over the runs with ≥ 2 seeds (None if there are none)."""
    num, dof = 0.0, 0
    for per_seed in results.values():
        tests = [s["test"] for s in per_seed]
        if len(tests) > 1:
            num += np.var(tests, ddof=1) * (len(tests) - 1)
            dof += len(tests) - 1
    return math.sqrt(num / dof) if dof else None


def _noise_note(row, ref, results, sigma):
    if row["run"] == ref["run"]:
        return "reference"
    a, b = [s["test"] for s in results[row["run"]]], [s["test"] for s in results[ref["run"]]]
    delta = np.mean(a) - np.mean(b)
    if sigma is None:
        return f"{delta:+.5f}"
    limit = 2 * sigma * math.sqrt(1 / len(a) + 1 / len(b))
    return f"{delta:+.5f} ({'within noise' if abs(delta) < limit else 'beyond noise'})"


def study_table(rows, results, baselines, sigma, paper_best):
    ref = next((r for r in rows if r["is_paper_best"]), rows[0])
    lines = ["| setting | paper test MSE | ours train MSE | ours valid MSE | ours test MSE | seeds | "
             "gray-copy test | ridge test | ours vs gray-copy (test) | Δ test vs paper's setting |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    gray, ridge = baselines["gray_copy"]["test"], baselines["ridge"]["test"]
    for row in rows:
        per_seed = results[row["run"]]
        test = np.mean([s["test"] for s in per_seed])
        paper = f"{paper_best:.3f}" if row["is_paper_best"] else PAPER_NA
        lines.append(f"| {row['label']} | {paper} | {fmt([s['train'] for s in per_seed])} | "
                     f"{fmt([s['valid'] for s in per_seed])} | {fmt([s['test'] for s in per_seed])} | "
                     f"{len(per_seed)} | {gray:.5f} | {ridge:.5f} | {(test / gray - 1) * 100:+.1f}% | "
                     f"{_noise_note(row, ref, results, sigma)} |")
    return lines


def write_report(out, rows, runs, results, baselines, meta, paper_best=0.033):
    """Write ``out/RESULTS.md`` and the figures; return the path of RESULTS.md."""
    from .reproduce import STUDY_TITLES
    os.makedirs(out, exist_ok=True)
    sigma = pooled_std(results)
    g, r = baselines["gray_copy"], baselines["ridge"]
    lines = ["# Reproducing Xia & Salhi, *Image Colorization with Neural Networks*", "",
             f"- command: `{meta['command']}`",
             f"- date: {meta['date']}; machine: {meta['machine']}; device: {meta['device']}; jobs: {meta['jobs']}",
             f"- wall time: {sum(i['wall_seconds'] for i in meta.get('invocations') or [meta]) / 60:.1f} min over "
             f"{len(meta.get('invocations') or [meta])} invocation(s) into this folder (this one: "
             f"{meta['wall_seconds'] / 60:.1f} min; see invocations.json); training time summed over runs: "
             f"{meta['train_seconds'] / 60:.1f} min",
             f"- epochs per run: **{meta['epochs']}** (the paper: 80)"
             + (f"; quick mode: first {meta['train_size']} training images only" if meta.get("train_size") else ""),
             "- data: the paper's split of CIFAR-10 (the embedded default, 5000 train / 500 valid / 1000 test); "
             "MSE over every value of the RGB image in [-1, 1]; each run's scores are those of its "
             "best-validation epoch",
             f"- paper test MSE: the paper reports {paper_best} for its best model (Table 3 settings); its other "
             f"numbers are {PAPER_NA} (paper text not available here)",
             "", "## Baselines on the same images", "",
             "| baseline | train MSE | valid MSE | test MSE | test PSNR (dB) |", "|---|---|---|---|---|",
             f"| gray-copy (luma in R, G, B) | {g['train']:.5f} | {g['valid']:.5f} | {g['test']:.5f} | "
             f"{g['test_psnr']:.2f} |",
             f"| ridge regression gray → RGB (closed form, λ = {r['lambda']:g} chosen on valid) | "
             f"{r['train']:.5f} | {r['valid']:.5f} | {r['test']:.5f} | {r['test_psnr']:.2f} |", ""]
    best_rows = [row for row in rows if row["is_paper_best"]]
    if best_rows:
        tests = [s["test"] for s in results[best_rows[0]["run"]]]
        m, _ = mean_std(tests)
        lines += [f"Our run of the paper's best setting: test MSE {fmt(tests)} over {len(tests)} seed(s), "
                  f"{(m / g['test'] - 1) * 100:+.1f}% against gray-copy and {(m / r['test'] - 1) * 100:+.1f}% "
                  f"against ridge (negative = better).", ""]
    if meta["epochs"] and meta["epochs"] < 80 and not meta.get("quick"):
        n_runs = sum(len(per) for per in results.values())
        per_epoch = meta["train_seconds"] / max(1, n_runs * meta["epochs"])
        hours = per_epoch * 80 * n_runs / 2 / 3600
        lines += [f"**These tables used {meta['epochs']} epochs per run, not the paper's 80** (time box). The full "
                  f"run is `minimlp-colorize reproduce --out results --epochs 80 --seeds 3 --jobs 2`; at the "
                  f"{per_epoch:.1f} s per epoch measured here it needs about {hours:.1f} h on 2 cores "
                  f"(two runs side by side, one BLAS thread each).", ""]
    lines += ["## Noise", "",
              (f"Seed-to-seed standard deviation of the test MSE, pooled over the rows run with several seeds: "
               f"σ = {sigma:.5f}. " if sigma is not None else "Only one seed per row: no noise estimate. ")
              + "A difference is called *within noise* when |Δ| < 2σ·√(1/n₁ + 1/n₂); rows with one seed are "
                "judged with the same σ (seed noise only; it does not cover other sources of variation).", ""]
    for study, title in STUDY_TITLES.items():
        study_rows = [row for row in rows if row["study"] == study]
        if not study_rows:
            continue
        lines += [f"## {title}", ""] + study_table(study_rows, results, baselines, sigma, paper_best) + [""]
        if study in FIGURES:
            curves = [(row["label"], os.path.join(out, "runs", f"{row['run']}-s0", "history.csv"))
                      for row in study_rows]
            valid_curves(curves, os.path.join(out, FIGURES[study]), title=title,
                         baseline=g["valid"])
            lines += [f"![{title}]({FIGURES[study]})", ""]
    ablation = os.path.join(out, "ABLATION.md")
    if os.path.exists(ablation):   # written by examples/beat_baseline.py into the same folder
        with open(ablation, encoding="utf-8") as f:
            text = f.read().strip().splitlines()
        lines += ["## Beating gray-copy (from `ABLATION.md`, written by `examples/beat_baseline.py`)", ""]
        lines += [("#" + line if line.startswith("#") else line) for line in text[1:]] + [""]
    lines += ["## Runs", "", "| run | seeds | best epoch (per seed) | seconds (per seed) |", "|---|---|---|---|"]
    for run, per_seed in results.items():
        lines.append(f"| {run} | {len(per_seed)} | {', '.join(str(s['best_epoch']) for s in per_seed)} | "
                     f"{', '.join(str(round(s['seconds'])) for s in per_seed)} |")
    return write_text(os.path.join(out, "RESULTS.md"), "\n".join(lines) + "\n")
