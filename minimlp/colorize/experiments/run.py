"""One run of an experiment: train it (or resume it, or only score it, or reuse its scores) in its folder.

A run with ``scores.json`` is done; one with ``metrics.json`` is trained and only re-scored; one with
``last.npz`` resumes where it stopped, so an interrupted study or sweep continues when run again.
``scores.json`` holds the train / valid / test MSE of the best-validation checkpoint, all measured as the
test MSE is (``evaluate_images``: RGB in [-1, 1], clipped); the train MSE on the first 5,000 training images
(``training.TRAIN_EVAL_IMAGES``).
"""
import json
import os

from ...atomic import write_json
from ...train.history import History
from ..models.store import load_colorizer
from ..running.prediction import evaluate_images
from ..running.training import TRAIN_EVAL_IMAGES, train_run
from ..task.data import load_split
from .provenance import provenance


def run_one(config, folder, device="cpu", callbacks=(), log=None):
    """Train (or resume, or skip) one run and return its scores (also written to ``folder/scores.json``).

    ``callbacks`` go to ``fit`` (after each epoch); ``log`` gets the lines also appended to ``folder/train.log``.
    """
    path = os.path.join(folder, "scores.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    os.makedirs(folder, exist_ok=True)
    log_file = os.path.join(folder, "train.log")

    def log_line(text):
        with open(log_file, "a", encoding="utf-8") as f:
            f.write(text + "\n")
        if log is not None:
            log(text)
    if not os.path.exists(os.path.join(folder, "metrics.json")):
        train_run({**config, "provenance": provenance()}, folder, device=device,
                  resume=os.path.exists(os.path.join(folder, "last.npz")), quiet=True, log=log_line,
                  callbacks=callbacks)
    model, stored = load_colorizer(folder, device=device)
    split = load_split(config["data"], config["training"]["split"])
    train_images = split.train.images[:min(config.get("train_size") or TRAIN_EVAL_IMAGES, TRAIN_EVAL_IMAGES)]
    test = evaluate_images(model, config["task"], split.test.images)
    history = History.from_csv(os.path.join(folder, "history.csv"))
    scores = {"train": evaluate_images(model, config["task"], train_images)["test_mse"],
              "valid": evaluate_images(model, config["task"], split.valid.images)["test_mse"],
              "test": test["test_mse"], "test_psnr": test["psnr"], "gray_copy_test": test["baseline_gray_mse"],
              "best_epoch": history.best()["epoch"], "epochs": len(history),
              "seconds": sum(r["seconds"] for r in history.rows)}
    write_json(scores, path)
    return scores
