"""``minimlp-colorize sweep``: every combination of presets, an option grid (``KEY=V1,V2``) and seeds, on any
executor; finished runs are reused, and ``OUT/SWEEP.md`` ranks the configurations by mean valid MSE.
The grid's keys and the folders: docs/colorizer.md.
"""
import itertools
import json
import os

from ... import settings
from ...atomic import write_text
from ..models.architectures import ACTIVATIONS
from ..models.presets import MODEL_KEYS, PRESETS, TRAINING_KEYS, preset
from ..running.rules import check_config, check_value
from .executors import add_executor_options, run_device, train_all
from .report import fmt
from .results_folder import check_results_folder
from .studies import identity, resolve_config

CHOICES = {"optimizer": ("sgd", "momentum", "rmsprop", "adam", "adamw"), "schedule": ("none", "onecycle", "cosine"),
           "split": ("paper", "full"), "activation": tuple(ACTIVATIONS), "out_activation": tuple(ACTIVATIONS)}
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _value(key, text):
    """One grid value of ``key`` from its text, or ValueError naming what is wrong."""
    where = f"--grid {key}={text}"
    if key in CHOICES:
        if text not in CHOICES[key]:
            raise ValueError(f"{where}: choose from {', '.join(CHOICES[key])}")
        return text
    if key in ("hflip", "batchnorm", "bn_after_output"):
        if text.lower() not in BOOLEANS:
            raise ValueError(f"{where}: expected true or false")
        return BOOLEANS[text.lower()]
    try:
        if key in ("batch_size", "epochs"):
            value = int(text)
            if value < 1:
                raise ValueError
            return value
        if key == "hidden":
            widths = [int(w) for w in text.split("-")]
            if not widths or min(widths) < 1:
                raise ValueError
            return widths
        value = float(text)
    except ValueError:
        kind = {"batch_size": "a positive integer", "epochs": "a positive integer",
                "hidden": "widths joined by '-', e.g. 512-256"}.get(key, "a number")
        raise ValueError(f"{where}: expected {kind}") from None
    if key == "dropout" and not 0 <= value < 1:
        raise ValueError(f"{where}: must be in [0, 1)")
    return value   # the training settings' ranges are train's own (running.rules), checked on every run


def parse_grid(entries):
    """['lr=1e-3,2e-4', 'batch_size=16,64'] -> {'lr': [0.001, 0.0002], 'batch_size': [16, 64]}."""
    grid = {}
    for entry in entries or ():
        key, sep, values = entry.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not values.strip():
            raise ValueError(f"--grid {entry}: expected KEY=VALUE[,VALUE...], e.g. lr=1e-3,2e-4")
        if key not in TRAINING_KEYS + MODEL_KEYS:
            raise ValueError(f"--grid {entry}: unknown option {key!r}; choose from "
                             f"{', '.join(TRAINING_KEYS + MODEL_KEYS)}")
        if key in grid:
            raise ValueError(f"--grid: {key} given twice")
        texts = [v.strip() for v in values.split(",")]
        if "" in texts:
            raise ValueError(f"--grid {entry}: an empty value")
        grid[key] = [_value(key, v) for v in texts]
    return grid


def parse_seeds(text):
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        seeds = None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"--seeds {text}: expected seeds as non-negative integers, e.g. 0,1,2")
    return sorted(set(seeds))


def _text(value):
    return "-".join(map(str, value)) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) \
        else str(value)


def plan_sweep(models, grid, seeds, epochs=None, train_size=None, data="default"):
    """[(run name, config with seed)], one per distinct configuration and seed, in grid order."""
    keys = list(grid)
    runs, seen = [], set()
    for name in models:
        if "arch" in preset(name)["model"] and set(keys) & set(MODEL_KEYS):
            raise ValueError(f"--grid {', '.join(sorted(set(keys) & set(MODEL_KEYS)))}: options of the MLP presets; "
                             f"{name} is a U-Net")
        for values in itertools.product(*(grid[k] for k in keys)):
            over = dict(zip(keys, values))
            training = {k: v for k, v in over.items() if k in TRAINING_KEYS}
            if data == "default" and "split" not in over:
                training["split"] = "paper"
            config = resolve_config(name, {k: v for k, v in over.items() if k in MODEL_KEYS}, training, epochs, data,
                                    train_size)
            if data == "default" and config["training"]["split"] != "paper":
                raise ValueError(f"{name} with split={config['training']['split']}: the embedded default data holds "
                                 f"only the paper's split; pass --data PATH for the full one")
            if identity(config) in seen:
                continue
            seen.add(identity(config))
            run = "_".join([name] + [f"{k}-{_text(v)}" for k, v in sorted(over.items())])
            run += f"-e{config['training']['epochs']}" + (f"-n{train_size}" if train_size else "")
            runs += [(f"{run}-s{seed}", {**config, "seed": seed}) for seed in seeds]
    return runs


def write_sweep_report(out, runs, scores, grid):
    """``OUT/SWEEP.md`` (configurations by mean valid MSE) and ``OUT/sweep.json`` (every run's scores)."""
    by_config = {}
    for name, config in runs:
        by_config.setdefault(name.rsplit("-s", 1)[0], []).append(scores[name])
    order = sorted(by_config, key=lambda c: sum(s["valid"] for s in by_config[c]) / len(by_config[c]))
    described = " ".join(f"{k}={','.join(_text(v) for v in vs)}" for k, vs in grid.items())
    lines = ["# Sweep", "", f"- grid: {described or 'none'}",
             f"- {len(by_config)} configurations, {len(runs)} runs; MSE of each run's best-validation epoch", "",
             "| configuration | seeds | train MSE | valid MSE | test MSE | test vs gray-copy | best epoch |",
             "|---|---|---|---|---|---|---|"]
    for config in order:
        per = by_config[config]
        test, gray = sum(s["test"] for s in per) / len(per), per[0]["gray_copy_test"]
        lines.append(f"| {config} | {len(per)} | {fmt([s['train'] for s in per])} | {fmt([s['valid'] for s in per])} "
                     f"| {fmt([s['test'] for s in per])} | {(test / gray - 1) * 100:+.1f}% | "
                     f"{', '.join(str(s['best_epoch']) for s in per)} |")
    write_text(os.path.join(out, "sweep.json"), json.dumps({name: scores[name] for name, _ in runs}, indent=2) + "\n")
    return write_text(os.path.join(out, "SWEEP.md"), "\n".join(lines) + "\n")


def add_sweep_parser(sub):
    s = sub.add_parser("sweep", help="train every combination of presets, an option grid and seeds")
    s.add_argument("--out", required=True, help="results folder: runs/, SWEEP.md, sweep.json")
    s.add_argument("--models", default="paper-mlp1", help=f"comma-separated presets ({', '.join(PRESETS)})")
    s.add_argument("--grid", nargs="+", metavar="KEY=V1,V2", help="options and their values, e.g. lr=1e-3,2e-4 "
                                                                  "batch_size=16,64 hidden=512,512-512")
    s.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    s.add_argument("--epochs", type=int, help="epochs of every run (default: each preset's)")
    s.add_argument("--train-size", type=int, help="use only the first N training images (quick sweeps)")
    s.add_argument("--data", default="default", help="as for train: default, shared or a CIFAR-10 source")
    s.add_argument("--device", default=settings.device("auto"), help="cpu, gpu or auto")
    s.add_argument("--force", action="store_true",
                   help="replace the report of a sweep with other settings that --out holds (refused otherwise)")
    add_executor_options(s)
    return s


def sweep(args):
    """The ``sweep`` command: check everything, connect, train what is not done, write SWEEP.md."""
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in models:
        preset(name)
    check_value("epochs", args.epochs)
    check_value("train_size", args.train_size)
    grid = parse_grid(args.grid)
    runs = plan_sweep(models, grid, parse_seeds(args.seeds), args.epochs, args.train_size, args.data)
    for _, config in runs:   # train's own rules, on every run, before any starts
        check_config(config, named=lambda key, value: f"--grid {key}={_text(value)}" if key in grid else None)
    check_results_folder(args.out, "sweep", [name for name, _ in runs], args.force)
    scores, _ = train_all(args, runs, args.out, run_device(args), "sweep: ")
    print(write_sweep_report(args.out, runs, scores, grid))
    return 0
