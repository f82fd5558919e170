"""Rerun Xia & Salhi's studies on the paper's split and write ``OUT/RESULTS.md`` with figures.

    minimlp-colorize reproduce --out results/ [--epochs 80] [--seeds 3] [--jobs 2] [--only table1,fig11]
    minimlp-colorize reproduce --out /tmp/q --quick      # 2 epochs, 2 configurations, 500 training images
    minimlp-colorize reproduce --out results/ --report-only   # rewrite RESULTS.md from results/runs.json

What goes into ``OUT/runs.json`` and ``OUT/runs/``: docs/colorizer.md.
"""
import datetime
import json
import os
import time

from ...atomic import write_json
from ..task.data import load_split
from .baselines import baseline_scores
from .executors import run_device, train_all
from .provenance import machine, provenance
from .results_folder import check_results_folder
from .report import summarise, write_report
from .studies import plan

RUNS_JSON = "runs.json"


def seeded_runs(runs):
    """[(run name 'ID-sN', config with its seed)] of the plan's ``runs`` ({id: (config, seeds)})."""
    return [(f"{run}-s{seed}", {**config, "seed": seed}) for run, (config, n) in runs.items() for seed in range(n)]


def run_all(args, runs, rows, device):
    """Train every (run, seed) not yet done; return ({run id: [scores per seed]}, the executor)."""
    todo = seeded_runs(runs)
    scores, executor = train_all(args, todo, args.out, device,
                                 f"reproduce: {len(rows)} table rows, {len(runs)} distinct configurations, ")
    results = {}
    for name, _ in todo:
        run, seed = name.rsplit("-s", 1)
        results.setdefault(run, {})[int(seed)] = scores[name]
    return {run: [by_seed[s] for s in sorted(by_seed)] for run, by_seed in results.items()}, executor


def machine_description():
    """'platform, CPU model, N CPU cores' of this machine."""
    m = machine()
    return f"{m['platform']}, {m['cpu']}, {m['cores']} CPU cores"


def _record_invocation(out, meta, fresh=False):
    """Append this invocation (date, wall time) to ``OUT/invocations.json`` and return the whole list.

    A reproduce that was interrupted and rerun, or rerun only to rewrite the
    report, then still states the wall time the results really took. ``fresh``:
    the folder's study is being replaced (``--force``), so its list starts again.
    """
    path = os.path.join(out, "invocations.json")
    history = []
    if os.path.exists(path) and not fresh:
        with open(path, encoding="utf-8") as f:
            history = json.load(f)
    history.append({"date": meta["date"], "command": meta["command"], "wall_seconds": round(meta["wall_seconds"], 1),
                    "train_seconds": round(meta["train_seconds"], 1)})
    write_json(history, path)
    return history


def _baselines(train_size):
    """Gray-copy and ridge on the paper's split (ridge fitted on the first ``train_size`` training images if set)."""
    split = load_split("default", "paper")
    if train_size:
        split = split._replace(train=split.train.subset(range(train_size)))
    return baseline_scores(split)


def reproduce(args):
    """The ``reproduce`` command: plan, train (in parallel if asked), write RESULTS.md, runs.json and the figures."""
    if getattr(args, "report_only", False):
        return report_only(args)
    started = time.perf_counter()
    rows, runs = plan(epochs=args.epochs, seeds=args.seeds, only=args.only, quick=args.quick)
    replacing = check_results_folder(args.out, "reproduce", [name for name, _ in seeded_runs(runs)],
                                     getattr(args, "force", False))
    device = run_device(args)
    results, executor = run_all(args, runs, rows, device)
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
    meta["invocations"] = _record_invocation(args.out, meta, fresh=replacing)
    summaries = summarise(results)
    write_json({"meta": meta, "summaries": summaries}, os.path.join(args.out, RUNS_JSON))
    path = write_report(args.out, rows, summaries, baselines, meta)
    print(path)
    return 0


def report_only(args):
    """``reproduce --report-only``: rewrite ``OUT/RESULTS.md`` from ``OUT/runs.json``; nothing is trained."""
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
