"""RESULTS.md and the valid-loss figures of ``reproduce``: every row beside the paper, gray-copy and ridge,
written from the runs' summaries (so ``--report-only`` needs no run folders). The noise rule: docs/colorizer.md.
"""
import math
import os

import numpy as np

from ...atomic import write_text
from ..running.figures import valid_curves
from .paper_numbers import paper_best_test, paper_number, paper_text
from .provenance import describe
from .studies import STUDY_TITLES

PAPER_NA = "n/a"
NOT_RECORDED = "not recorded"
SUMMARY_KEYS = ("train", "valid", "test", "test_psnr")
FIGURES = {"fig5": "fig_output_activation.png", "fig11": "fig_optimizers.png", "fig12": "fig_learning_rates.png"}


def section_markers(name):
    return f"<!-- section {name} -->", f"<!-- end of section {name} -->"


def kept_sections(path):
    """The marked sections of the markdown file at ``path`` (see ``replace_section``), as one text ('' if none)."""
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.find("<!-- section ")
    return text[start:] if start >= 0 else ""


def replace_section(path, name, body):
    """Write ``body`` between the markers of section ``name`` of the markdown file at ``path`` (appended at the
    end, with its markers, if absent): a table another script writes into the same file, kept when that
    script rewrites the rest (``kept_sections``)."""
    begin, end = section_markers(name)
    text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):].lstrip("\n")
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block
    write_text(path, text)


def mean_std(values):
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else None


def fmt(values):
    """'0.02512 ± 0.00012' for several seeds, '0.02512' for one."""
    return fmt_summary(mean_std(values))


def fmt_summary(pair, digits=5):
    """'m ± s' of a summary's (mean, std) pair, 'm' when std is None, NOT_RECORDED when the pair is None."""
    if pair is None:
        return NOT_RECORDED
    m, s = pair
    return f"{m:.{digits}f}" if s is None else f"{m:.{digits}f} ± {s:.{digits}f}"


def summarise(results):
    """{run: summary} of {run: [scores per seed]}: (mean, std or None) of each of ``SUMMARY_KEYS``, seeds, epochs.

    A key missing from any seed's scores (PSNR, in runs scored before it was kept) is None.
    """
    out = {}
    for run, per_seed in results.items():
        summary = {"seeds": len(per_seed), "best_epoch": [s["best_epoch"] for s in per_seed],
                   "seconds": [s["seconds"] for s in per_seed]}
        for key in SUMMARY_KEYS:
            values = [s.get(key) for s in per_seed]
            summary[key] = None if any(v is None for v in values) else list(mean_std(values))
        out[run] = summary
    return out


def pooled_std(summaries):
    """Pooled seed standard deviation of test MSE over the runs with ≥ 2 seeds (None if there are none)."""
    num, dof = 0.0, 0
    for summary in summaries.values():
        if summary["seeds"] > 1:
            num += summary["test"][1] ** 2 * (summary["seeds"] - 1)
            dof += summary["seeds"] - 1
    return math.sqrt(num / dof) if dof else None


def _noise_note(row, ref, summaries, sigma):
    if row["run"] == ref["run"]:
        return "reference"
    a, b = summaries[row["run"]], summaries[ref["run"]]
    delta = a["test"][0] - b["test"][0]
    if sigma is None:
        return f"{delta:+.5f}"
    limit = 2 * sigma * math.sqrt(1 / a["seeds"] + 1 / b["seeds"])
    return f"{delta:+.5f} ({'within noise' if abs(delta) < limit else 'beyond noise'})"


def paper_cell(row):
    """The paper's test MSE for a row; for the paper's best setting in a study without numbers, its Table 4/5 value."""
    value = paper_number(row["study"], row["label"])
    if value is not None:
        return paper_text(value)
    if row["is_paper_best"]:
        return f"{paper_text(paper_best_test())} (Tables 4, 5)"
    return PAPER_NA


def wins_on(mse, psnr, base_mse, base_psnr):
    """Which metrics beat a baseline: 'both', 'MSE', 'PSNR' or 'neither' (lower MSE, higher mean PSNR)."""
    by_mse = mse < base_mse
    if psnr is None:
        return f"{'MSE' if by_mse else 'not on MSE'}; PSNR {NOT_RECORDED}"
    by_psnr = psnr > base_psnr
    return {(True, True): "both", (True, False): "MSE", (False, True): "PSNR", (False, False): "neither"}[
        (by_mse, by_psnr)]


def study_table(rows, summaries, baselines, sigma):
    ref = next((r for r in rows if r["is_paper_best"]), rows[0])
    lines = ["| setting | paper test MSE | ours train MSE | ours valid MSE | ours test MSE | ours test PSNR (dB) | "
             "seeds | gray-copy test MSE / PSNR | ridge test MSE / PSNR | ours vs gray-copy (test MSE) | "
             "beats gray-copy on | beats ridge on | Δ test vs paper's setting |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    g, r = baselines["gray_copy"], baselines["ridge"]
    for row in rows:
        summary = summaries[row["run"]]
        test = summary["test"][0]
        psnr = summary["test_psnr"][0] if summary["test_psnr"] else None
        lines.append(f"| {row['label']} | {paper_cell(row)} | {fmt_summary(summary['train'])} | "
                     f"{fmt_summary(summary['valid'])} | {fmt_summary(summary['test'])} | "
                     f"{fmt_summary(summary['test_psnr'], 2)} | {summary['seeds']} | "
                     f"{g['test']:.5f} / {g['test_psnr']:.2f} | {r['test']:.5f} / {r['test_psnr']:.2f} | "
                     f"{(test / g['test'] - 1) * 100:+.1f}% | {wins_on(test, psnr, g['test'], g['test_psnr'])} | "
                     f"{wins_on(test, psnr, r['test'], r['test_psnr'])} | {_noise_note(row, ref, summaries, sigma)} |")
    return lines


def _provenance_lines(meta):
    """Where the numbers came from: the training invocation's code, and the report's if it was rebuilt."""
    trained = meta.get("provenance")
    lines = [f"- code and machine of the training: {describe(trained)}" if trained else
             f"- code and machine of the training: not recorded ({meta.get('provenance_note', 'no record')})"]
    rebuilt = meta.get("report")
    if rebuilt:
        lines.append(f"- this report rebuilt from `runs.json` without training by `{rebuilt['command']}` on "
                     f"{rebuilt['date']}: {describe(rebuilt['provenance'])}")
    return lines


def _figure(out, study, title, study_rows, baseline):
    """Draw a study's valid-loss figure from its runs' history.csv; keep an earlier one when they are gone."""
    path = os.path.join(out, FIGURES[study])
    curves = [(row["label"], os.path.join(out, "runs", f"{row['run']}-s0", "history.csv")) for row in study_rows]
    if all(os.path.exists(csv) for _, csv in curves):
        valid_curves(curves, path, title=title, baseline=baseline)
    return [f"![{title}]({FIGURES[study]})", ""] if os.path.exists(path) else []


def write_report(out, rows, summaries, baselines, meta):
    """Write ``out/RESULTS.md`` and the figures from the runs' summaries (``summarise``); return its path."""
    os.makedirs(out, exist_ok=True)
    sigma = pooled_std(summaries)
    g, r = baselines["gray_copy"], baselines["ridge"]
    lines = ["# Reproducing Xia & Salhi, *Image Colorization with Neural Networks*", "",
             f"- command: `{meta['command']}`",
             f"- date: {meta['date']}; machine: {meta['machine']}; device: {meta['device']}; jobs: {meta['jobs']}",
             *_provenance_lines(meta),
             f"- wall time: {sum(i['wall_seconds'] for i in meta.get('invocations') or [meta]) / 60:.1f} min over "
             f"{len(meta.get('invocations') or [meta])} invocation(s) into this folder (this one: "
             f"{meta['wall_seconds'] / 60:.1f} min; see invocations.json); training time summed over runs: "
             f"{meta['train_seconds'] / 60:.1f} min",
             f"- epochs per run: **{meta['epochs']}** (the paper: 80)"
             + (f"; quick mode: first {meta['train_size']} training images only" if meta.get("train_size") else ""),
             "- data: the paper's split of CIFAR-10 (the embedded default, 5000 train / 500 valid / 1000 test); "
             "MSE over every value of the RGB image in [-1, 1]; PSNR: mean over the test images of "
             "10·log10(255² / MSE) on the 8-bit images; each run's scores are those of its best-validation epoch",
             "- paper test MSE: the paper's own numbers (its Tables 1, 2, 4 and 5 and Figure 11's text; "
             "`minimlp/colorize/experiments/paper_numbers.py`). A row of the paper's best setting in a study that "
             f"prints no number shows that model's {paper_text(paper_best_test())} (Tables 4, 5); {PAPER_NA} where the paper "
             "gives nothing (plain SGD, Figures 5 and 12)",
             "- beats … on: the metrics on which the row is better than the baseline on the test images (lower MSE, "
             f"higher mean PSNR); '{NOT_RECORDED}' marks runs scored before their PSNR was kept",
             "", "## Baselines on the same images", "",
             "| baseline | train MSE | valid MSE | test MSE | test PSNR (dB) |", "|---|---|---|---|---|",
             f"| gray-copy (luma in R, G, B) | {g['train']:.5f} | {g['valid']:.5f} | {g['test']:.5f} | "
             f"{g['test_psnr']:.2f} |",
             f"| ridge regression gray → RGB (closed form, λ = {r['lambda']:g} chosen on valid) | "
             f"{r['train']:.5f} | {r['valid']:.5f} | {r['test']:.5f} | {r['test_psnr']:.2f} |", "",
             f"Ridge beats gray-copy on {wins_on(r['test'], r['test_psnr'], g['test'], g['test_psnr'])} "
             "(test images).", ""]
    best_rows = [row for row in rows if row["is_paper_best"]]
    if best_rows:
        best = summaries[best_rows[0]["run"]]
        m = best["test"][0]
        psnr = f", mean PSNR {fmt_summary(best['test_psnr'], 2)} dB" if best["test_psnr"] else ""
        lines += [f"Our run of the paper's best setting: test MSE {fmt_summary(best['test'])}{psnr} over "
                  f"{best['seeds']} seed(s), {(m / g['test'] - 1) * 100:+.1f}% against gray-copy and "
                  f"{(m / r['test'] - 1) * 100:+.1f}% against ridge (negative = better); the paper reports "
                  f"{paper_text(paper_best_test())} for it (Tables 4, 5).", ""]
    if meta["epochs"] and meta["epochs"] < 80 and not meta.get("quick"):
        n_runs = sum(summary["seeds"] for summary in summaries.values())
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
        lines += [f"## {title}", ""] + study_table(study_rows, summaries, baselines, sigma) + [""]
        if study in FIGURES:
            lines += _figure(out, study, title, study_rows, g["valid"])
    ablation = os.path.join(out, "ABLATION.md")
    if os.path.exists(ablation):   # written by examples/beat_baseline.py into the same folder
        with open(ablation, encoding="utf-8") as f:
            text = f.read().strip().splitlines()
        lines += ["## Beating gray-copy (from `ABLATION.md`, written by `examples/beat_baseline.py`)", ""]
        lines += [("#" + line if line.startswith("#") else line) for line in text[1:]] + [""]
    lines += ["## Runs", "", "| run | seeds | best epoch (per seed) | seconds (per seed) |", "|---|---|---|---|"]
    for run, summary in summaries.items():
        lines.append(f"| {run} | {summary['seeds']} | {', '.join(str(e) for e in summary['best_epoch'])} | "
                     f"{', '.join(str(round(t)) for t in summary['seconds'])} |")
    return write_text(os.path.join(out, "RESULTS.md"), "\n".join(lines) + "\n")
