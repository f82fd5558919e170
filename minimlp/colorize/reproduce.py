"""Rerun Xia & Salhi's studies on the paper's split and write ``OUT/RESULTS.md`` with figures.

    minimlp-colorize reproduce --out results/ [--epochs 80] [--seeds 3] [--jobs 2] [--only table1,fig11]
    minimlp-colorize reproduce --out /tmp/q --quick      # 2 epochs, 2 configurations, 500 training images
    minimlp-colorize reproduce --out results/ --report-only   # rewrite RESULTS.md from results/runs.json

The studies are data (``STUDIES``): each row is a preset plus overrides of its
model or training settings (the paper's Table 3 otherwise). Rows that resolve
to the same configuration in several tables (the paper's best appears in
almost every one) are trained once per seed. Headline rows (Table 1) run
``--seeds`` seeds; the others run seed 0 only.

Each run goes through ``commands.train_run`` into ``OUT/runs/<config-id>-e<epochs>-s<seed>/``.
A run with ``scores.json`` is done and skipped; one with ``metrics.json`` is
trained and only re-scored; one with ``last.npz`` resumes where it stopped, so
an interrupted reproduce continues when rerun with the same arguments.
``scores.json`` holds train / valid / test MSE of the best-validation
checkpoint, all measured the same way as the test MSE (``evaluate_images``:
RGB in [-1, 1], clipped); the train MSE on the first 5,000 training images
(``commands.TRAIN_EVAL_IMAGES``: the paper split's all, the full split's first 5,000).

``--jobs N`` trains N configurations side by side in separate processes, each
with one BLAS thread (``OPENBLAS_NUM_THREADS=1`` and friends are set before
the children start); on a busy 2-core machine one BLAS thread per process is
also several times faster than OpenBLAS's default threading.
``--executor ray [--address ADDRESS]`` trains each run as a task on a Ray
cluster instead (``executors.py``, ``ray_executor.py``).

Beside ``RESULTS.md`` goes ``OUT/runs.json``: the invocation's record (command,
machine, the code's commit and package versions) and every run's summary over
seeds (``report.summarise``). ``--report-only`` rewrites ``RESULTS.md`` from it
(baselines recomputed, the paper's numbers from ``paper_numbers``) and trains
nothing; the run folders under ``OUT/runs/`` stay out of git, so this is how a
committed report is rebuilt after the report's code changes.

``--quick`` (a smoke test for CI): 2 epochs, the configurations in ``QUICK``,
the first ``QUICK_TRAIN_SIZE`` training images, one seed.
"""
import datetime
import inspect
import json
import os
import sys
import time

from .models import PAPER_TRAINING, mlp, preset
from .provenance import machine, provenance

QUICK = ("paper-mlp1", "paper-mlp1_batchnorm-False")
QUICK_TRAIN_SIZE = 500
RUNS_JSON = "runs.json"


def _row(study, label, model="paper-mlp1", headline=False, **overrides):
    """One table row: a preset and its overrides (keys of the preset's model or training settings)."""
    model_over = {k: v for k, v in overrides.items() if k not in PAPER_TRAINING}
    train_over = {k: v for k, v in overrides.items() if k in PAPER_TRAINING}
    return {"study": study, "label": label, "model": model, "model_kwargs": model_over, "training": train_over,
            "headline": headline}


STUDY_TITLES = {
    "table1": "Table 1: MLP depth (hidden layers of 512)",
    "table2": "Table 2: autoencoder depth",
    "table4": "Table 4: BatchNorm",
    "table5": "Table 5: hidden activation",
    "fig5": "Figure 5: output activation",
    "fig11": "Figure 11: optimizer (lr 2e-4 for all, the paper's Table 3 value)",
    "fig12": "Figure 12: learning rate (Adam)",
}

STUDIES = [
    _row("table1", "1 hidden layer", "paper-mlp1", headline=True),
    _row("table1", "2 hidden layers", "paper-mlp2", headline=True),
    _row("table1", "3 hidden layers", "paper-mlp3", headline=True),
    *[_row("table2", f"{d} hidden layer{'s' if d > 1 else ''}", f"paper-ae{d}") for d in (1, 2, 3, 5)],
    _row("table4", "BatchNorm", "paper-mlp1"),
    _row("table4", "no BatchNorm", "paper-mlp1", batchnorm=False),
    *[_row("table5", act, "paper-mlp1", activation=act) for act in ("sigmoid", "relu", "tanh")],
    *[_row("fig5", act, "paper-mlp1", out_activation=act) for act in ("none", "relu", "sigmoid", "tanh")],
    *[_row("fig11", label, "paper-mlp1", optimizer=opt)
      for label, opt in (("SGD", "sgd"), ("SGD + momentum 0.9", "momentum"), ("RMSprop", "rmsprop"),
                         ("Adam", "adam"))],
    *[_row("fig12", f"lr {lr:g}", "paper-mlp1", lr=lr) for lr in (0.01, 0.001, 0.0002, 0.0001)],
]


def resolve(row, epochs=None, data="default", train_size=None):
    """The ``train_run`` config (seed left out) of a study row."""
    chosen = preset(row["model"])
    defaults = {k: p.default for k, p in inspect.signature(mlp).parameters.items()
                if k not in ("hidden", "in_features", "out_features")} if "arch" not in chosen["model"] else {}
    model_kwargs = {**defaults, **chosen["model"], **row["model_kwargs"]}
    training = {**chosen["training"], **row["training"]}
    if epochs is not None:
        training["epochs"] = epochs
    return {"model": row["model"], "task": chosen["task"], "model_kwargs": model_kwargs, "training": training,
            "data": data, "train_size": train_size}


def identity(config):
    """What makes two configs the same run (the preset's name does not: paper-ae1 is paper-mlp1)."""
    return json.dumps({k: config[k] for k in ("task", "model_kwargs", "training", "data", "train_size")},
                      sort_keys=True)


def config_id(row):
    """A readable folder name: the preset, then each override as key-value."""
    parts = [row["model"]] + [f"{k}-{v}" for k, v in sorted({**row["model_kwargs"], **row["training"]}.items())]
    return "_".join(parts)


def plan(studies=STUDIES, epochs=None, seeds=3, only=None, quick=False, data="default", train_size=None):
    """(rows, runs): the rows to report, each with its 'run' id; the unique runs {id: (config, seeds)}."""
    if quick:
        epochs, seeds, train_size = 2, 1, QUICK_TRAIN_SIZE
    wanted = None if not only else {s.strip() for s in only.split(",") if s.strip()}
    if wanted:
        unknown = wanted - {r["study"] for r in studies}
        if unknown:
            raise ValueError(f"unknown studies {sorted(unknown)}; choose from {sorted(STUDY_TITLES)}")
    rows, runs, by_identity = [], {}, {}
    for row in studies:
        if wanted and row["study"] not in wanted:
            continue
        if quick and config_id(row) not in QUICK:
            continue
        config = resolve(row, epochs, data, train_size)
        key = identity(config)
        run = by_identity.setdefault(key, f"{config_id(row)}-e{config['training']['epochs']}")
        n = seeds if row["headline"] else 1
        old = runs.get(run, (config, 0))
        runs[run] = (old[0], max(old[1], n))
        rows.append({**row, "run": run, "is_paper_best": identity(config) == identity(
            resolve(_row("", "", "paper-mlp1"), epochs, data, train_size))})
    return rows, runs


def run_one(config, folder, device="cpu", callbacks=(), log=None):
    """Train (or resume, or skip) one run and return its scores (also written to ``folder/scores.json``).

    ``callbacks`` go to ``fit`` (after each epoch); ``log`` gets the lines also appended to ``folder/train.log``.
    """
    from .commands import TRAIN_EVAL_IMAGES, _write_json, train_run
    from .evaluate import evaluate_images
    from .loading import load_colorizer, load_split
    from ..train.history import History
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
        train_run(config, folder, device=device, resume=os.path.exists(os.path.join(folder, "last.npz")),
                  quiet=True, log=log_line, callbacks=callbacks)
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
    _write_json(scores, path)
    return scores


def run_all(runs, out, device="cpu", jobs=1, log=print, executor=None):
    """Train every (run, seed) not yet done; return {run id: [scores per seed]}.

    ``executor`` (``executors.LocalExecutor(jobs)`` when None) says where the runs train.
    """
    from .executors import LocalExecutor, run_runs
    todo = [(f"{run}-s{seed}", {**config, "seed": seed}) for run, (config, n) in runs.items() for seed in range(n)]
    folder = os.path.join(out, "runs")
    os.makedirs(folder, exist_ok=True)
    ignore = os.path.join(folder, ".gitignore")
    if not os.path.exists(ignore):   # checkpoints stay out of git; RESULTS.md and figures go in
        with open(ignore, "w", encoding="utf-8") as f:
            f.write("*\n")
    scores = run_runs(todo, folder, executor or LocalExecutor(jobs), device, log)
    results = {}
    for name, _ in todo:
        run, seed = name.rsplit("-s", 1)
        results.setdefault(run, {})[int(seed)] = scores[name]
    return {run: [by_seed[s] for s in sorted(by_seed)] for run, by_seed in results.items()}


def machine_description():
    """'platform, CPU model, N CPU cores' of this machine."""
    m = machine()
    return f"{m['platform']}, {m['cpu']}, {m['cores']} CPU cores"


def _record_invocation(out, meta, n_runs):
    """Append this invocation (date, wall time) to ``OUT/invocations.json`` and return the whole list.

    A reproduce that was interrupted and rerun, or rerun only to rewrite the
    report, then still states the wall time the results really took.
    """
    path = os.path.join(out, "invocations.json")
    history = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            history = json.load(f)
    history.append({"date": meta["date"], "command": meta["command"], "wall_seconds": round(meta["wall_seconds"], 1),
                    "train_seconds": round(meta["train_seconds"], 1)})
    from .commands import _write_json
    _write_json(history, path)
    return history


def _baselines(train_size):
    """Gray-copy and ridge on the paper's split (ridge fitted on the first ``train_size`` training images if set)."""
    from .baselines import baseline_scores
    from .loading import load_split
    split = load_split("default", "paper")
    if train_size:
        split = split._replace(train=split.train.subset(range(train_size)))
    return baseline_scores(split)


def reproduce(args):
    """The ``reproduce`` command: plan, train (in parallel if asked), write RESULTS.md, runs.json and the figures."""
    from .report import summarise, write_report
    if getattr(args, "report_only", False):
        return report_only(args)
    started = time.perf_counter()
    rows, runs = plan(epochs=args.epochs, seeds=args.seeds, only=args.only, quick=args.quick)
    executor_kind = getattr(args, "executor", "local")
    device = args.device if args.device != "auto" else "cpu" if args.jobs > 1 or executor_kind != "local" else "auto"
    n_runs = sum(n for _, n in runs.values())
    from .executors import executor_from_args
    with executor_from_args(args, device) as executor:   # connects first: a dead address writes nothing
        print(f"reproduce: {len(rows)} table rows, {len(runs)} distinct configurations, {n_runs} runs "
              f"into {args.out}/runs ({executor.describe()})", file=sys.stderr)
        results = run_all(runs, args.out, device=device, log=lambda text: print(text, file=sys.stderr, flush=True),
                          executor=executor)
    train_size = next(iter(runs.values()))[0].get("train_size") if runs else None
    baselines = _baselines(train_size)
    ran = " --quick" if args.quick else f" --epochs {args.epochs} --seeds {args.seeds}"   # --quick overrides both
    command = f"minimlp-colorize reproduce --out {args.out}{ran} --jobs {args.jobs}" \
        + (f" --only {args.only}" if args.only else "")
    meta = {"command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine_description(), "device": device,
            "jobs": args.jobs if executor.name == "local" else executor.describe(),
            "wall_seconds": time.perf_counter() - started,
            "train_seconds": sum(s["seconds"] for per in results.values() for s in per),
            "epochs": next(iter(runs.values()))[0]["training"]["epochs"] if runs else None,
            "quick": args.quick, "train_size": train_size, "provenance": provenance()}
    meta["invocations"] = _record_invocation(args.out, meta, sum(1 for _ in results))
    summaries = summarise(results)
    from .commands import _write_json
    _write_json({"meta": meta, "summaries": summaries}, os.path.join(args.out, RUNS_JSON))
    path = write_report(args.out, rows, summaries, baselines, meta)
    print(path)
    return 0


def report_only(args):
    """``reproduce --report-only``: rewrite ``OUT/RESULTS.md`` from ``OUT/runs.json``; nothing is trained."""
    from .report import write_report
    path = os.path.join(args.out, RUNS_JSON)
    if not os.path.exists(path):
        raise FileNotFoundError(f"--report-only: {path} not found; run reproduce without --report-only first")
    with open(path, encoding="utf-8") as f:
        stored = json.load(f)
    meta, summaries = stored["meta"], stored["summaries"]
    rows, _ = plan(epochs=meta["epochs"], seeds=args.seeds, only=args.only, quick=meta["quick"])
    missing = sorted({row["run"] for row in rows} - set(summaries))
    if missing:
        raise ValueError(f"--report-only: {path} holds no run {missing[0]} ({len(missing)} missing); "
                         f"rerun reproduce with the same --epochs/--only/--quick as the stored runs")
    command = f"minimlp-colorize reproduce --out {args.out} --report-only" + (f" --only {args.only}" if args.only
                                                                               else "")
    meta = {**meta, "report": {"command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
                               "provenance": provenance()}}
    print(write_report(args.out, rows, summaries, _baselines(meta.get("train_size")), meta))
    return 0
