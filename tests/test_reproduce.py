"""``minimlp-colorize reproduce --quick`` end to end: runs, resume/skip, RESULTS.md with baselines and numbers."""
import json
import os

import pytest
from PIL import Image

from minimlp.colorize import cli
from minimlp.colorize.running.figures import valid_curves
from minimlp.colorize.experiments.report import paper_cell, wins_on
from minimlp.colorize.experiments.studies import QUICK, STUDIES, config_id, plan


def test_the_studies_dedupe_to_one_run_per_configuration():
    rows, runs = plan(epochs=3, seeds=3)
    assert len(rows) == len(STUDIES)
    # the paper's best (Table 3) sits in Tables 1, 2 (the 1-layer autoencoder), 4, 5 and Figures 5, 11, 12
    best = [r for r in rows if r["is_paper_best"]]
    assert {r["study"] for r in best} == {"table1", "table2", "table4", "table5", "fig5", "fig11", "fig12"}
    assert len({r["run"] for r in best}) == 1
    assert runs[best[0]["run"]][1] == 3 and runs["paper-mlp3-e3"][1] == 3
    assert runs["paper-mlp1_batchnorm-False-e3"][1] == 1
    assert len(runs) == 18


def test_each_row_gets_the_papers_own_number():
    rows, _ = plan(epochs=3, seeds=1)
    cells = {(row["study"], row["label"]): paper_cell(row) for row in rows}
    assert cells[("table1", "1 hidden layer")] == "0.032" and cells[("table2", "1 hidden layer")] == "0.03408"
    assert cells[("table4", "BatchNorm")] == cells[("table5", "sigmoid")] == "0.03298"
    assert cells[("table5", "relu")] == "0.03899" and cells[("fig11", "SGD + momentum 0.9")] == "0.27"
    assert cells[("table2", "5 hidden layers")] == "0.05870"   # the paper's precision, trailing zero kept
    assert cells[("fig11", "Adam")] == "0.032" and cells[("fig11", "SGD")] == "n/a"
    # the paper's best setting where its study prints no number; other rows of those studies have none
    assert cells[("fig5", "tanh")] == cells[("fig12", "lr 0.0002")] == "0.03298 (Tables 4, 5)"
    assert cells[("fig5", "relu")] == cells[("fig12", "lr 0.001")] == "n/a"
    assert sum(cell != "n/a" for cell in cells.values()) == 3 + 4 + 2 + 3 + 3 + 2


def test_beats_names_the_metrics_won():
    assert wins_on(0.02, 27.0, 0.024, 26.2) == "both" and wins_on(0.02, 25.0, 0.024, 26.2) == "MSE"
    assert wins_on(0.03, 27.0, 0.024, 26.2) == "PSNR" and wins_on(0.03, 25.0, 0.024, 26.2) == "neither"
    assert wins_on(0.03, None, 0.024, 26.2) == "not on MSE; PSNR not recorded"


# Measured with `reproduce --quick --device cpu` (2 epochs, 500 training images, seed 0; OpenBLAS, 2 cores):
# test MSE 0.20978 for the paper's best setting and 0.15712 without BatchNorm; gray-copy 0.02394 and ridge 0.03930
# on the test images. The bounds allow 3% for another BLAS's rounding; plain SGD (0.457) or a broken model is far out.
QUICK_TEST_MSE = {"1 hidden layer": 0.20978, "no BatchNorm": 0.15712}
GRAY_COPY_TEST, RIDGE_TEST = 0.02394, 0.03930


def _row_cells(text, label):
    line = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_quick_reproduce_writes_results_with_baselines_and_numbers(tmp_path):
    out = str(tmp_path / "results")
    assert cli.main(["reproduce", "--out", out, "--quick", "--device", "cpu"]) == 0
    text = open(os.path.join(out, "RESULTS.md"), encoding="utf-8").read()
    assert f"- command: `minimlp-colorize reproduce --out {out} --quick --jobs 1`" in text   # what ran
    assert "## Table 1" in text and "## Table 4" in text
    runs = sorted(d for d in os.listdir(os.path.join(out, "runs")) if not d.startswith("."))
    assert runs == sorted(f"{q}-e2-s0" for q in QUICK)
    for label, run in (("1 hidden layer", "paper-mlp1-e2-s0"), ("no BatchNorm", "paper-mlp1_batchnorm-False-e2-s0")):
        scores = json.load(open(os.path.join(out, "runs", run, "scores.json")))
        assert scores["epochs"] == 2
        assert scores["test"] == pytest.approx(QUICK_TEST_MSE[label], rel=0.03)
        # setting | paper | train | valid | test | PSNR | seeds | gray-copy MSE / PSNR | ridge MSE / PSNR |
        # vs gray-copy | beats gray-copy on | beats ridge on | Δ
        cells = _row_cells(text, label)
        assert cells[1] == ("0.032" if label == "1 hidden layer" else "0.03356")   # the paper's Tables 1 and 4
        assert [float(c) for c in cells[2:5]] == pytest.approx(
            [scores["train"], scores["valid"], scores["test"]], abs=5e-6)
        assert float(cells[5]) == pytest.approx(scores["test_psnr"], abs=0.005)
        gray_mse, gray_psnr = (float(c) for c in cells[7].split(" / "))
        ridge_mse, ridge_psnr = (float(c) for c in cells[8].split(" / "))
        assert gray_mse == pytest.approx(GRAY_COPY_TEST, abs=1e-5) and gray_psnr == pytest.approx(26.22, abs=0.01)
        assert ridge_mse == pytest.approx(RIDGE_TEST, rel=0.01)
        assert float(cells[9].rstrip("%")) == pytest.approx((scores["test"] / gray_mse - 1) * 100, abs=0.1)
        assert cells[10] == "neither" and scores["test_psnr"] < gray_psnr   # 2 epochs: worse on both metrics
    assert _row_cells(text, "BatchNorm")[1] == "0.03298"   # the paper's best, in its Table 4
    assert "- code and machine of the training: commit " in text and "numpy " in text
    # --report-only rewrites the same tables from runs.json alone (the run folders are not needed)
    os.rename(os.path.join(out, "runs"), str(tmp_path / "moved"))
    assert cli.main(["reproduce", "--out", out, "--report-only"]) == 0
    rebuilt = open(os.path.join(out, "RESULTS.md"), encoding="utf-8").read()
    assert [line for line in rebuilt.splitlines() if line.startswith("|")] == \
        [line for line in text.splitlines() if line.startswith("|")]
    assert f"- this report rebuilt from `runs.json` without training by `minimlp-colorize reproduce --out {out} " \
           "--report-only`" in rebuilt
    os.rename(str(tmp_path / "moved"), os.path.join(out, "runs"))
    # a rerun skips the finished runs (their scores.json is kept untouched)
    before = os.path.getmtime(os.path.join(out, "runs", runs[0], "scores.json"))
    assert cli.main(["reproduce", "--out", out, "--quick", "--device", "cpu"]) == 0
    assert os.path.getmtime(os.path.join(out, "runs", runs[0], "scores.json")) == before
    assert config_id(STUDIES[0]) == "paper-mlp1"
    # the valid-loss figure of the Figure 5/11/12 studies, from the runs' history.csv
    figure = valid_curves([(run, os.path.join(out, "runs", run, "history.csv")) for run in runs],
                          str(tmp_path / "curves.png"), title="valid", baseline=0.023)
    with Image.open(figure) as img:
        assert img.size[0] > 300 and img.size[1] > 200
