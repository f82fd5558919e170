"""``minimlp-colorize reproduce --quick`` end to end: runs, resume/skip, RESULTS.md with baselines and numbers."""
import json
import os
import re

from PIL import Image

from minimlp.colorize import cli
from minimlp.colorize.figures import valid_curves
from minimlp.colorize.reproduce import QUICK, STUDIES, config_id, plan


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


def test_quick_reproduce_writes_results_with_baselines_and_numbers(tmp_path):
    out = str(tmp_path / "results")
    assert cli.main(["reproduce", "--out", out, "--quick", "--device", "cpu"]) == 0
    text = open(os.path.join(out, "RESULTS.md"), encoding="utf-8").read()
    assert "gray-copy test" in text and "ridge test" in text and "paper test MSE" in text
    assert "## Table 1" in text and "## Table 4" in text and "0.033" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1 hidden layer") or
            line.startswith("| no BatchNorm")]
    assert len(rows) == 2
    for line in rows:
        numbers = [float(v) for v in re.findall(r"\b0\.\d{5}\b", line)]
        assert len(numbers) >= 5 and all(0 < v < 1 for v in numbers)
    runs = sorted(d for d in os.listdir(os.path.join(out, "runs")) if not d.startswith("."))
    assert runs == sorted(f"{q}-e2-s0" for q in QUICK)
    scores = json.load(open(os.path.join(out, "runs", runs[0], "scores.json")))
    assert scores["epochs"] == 2 and scores["test"] > 0
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
