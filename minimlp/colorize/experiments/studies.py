"""The paper's studies as data, and how a row becomes a run's config.

Each row of ``STUDIES`` is a preset plus overrides of its model or training settings (the paper's Table 3
otherwise). Rows that resolve to the same configuration in several tables (the paper's best appears in
almost every one) are the same run (``identity``), trained once per seed. Headline rows (Table 1) run
``--seeds`` seeds; the others seed 0 only. ``--quick`` (a smoke test for CI): 2 epochs, the configurations
in ``QUICK``, the first ``QUICK_TRAIN_SIZE`` training images, one seed.
"""
import inspect
import json

from ..models.architectures import mlp
from ..models.presets import TRAINING_KEYS, preset

QUICK = ("paper-mlp1", "paper-mlp1_batchnorm-False")
QUICK_TRAIN_SIZE = 500
RUNS_JSON = "runs.json"


def _row(study, label, model="paper-mlp1", headline=False, **overrides):
    """One table row: a preset and its overrides (keys of the preset's model or training settings)."""
    model_over = {k: v for k, v in overrides.items() if k not in TRAINING_KEYS}
    train_over = {k: v for k, v in overrides.items() if k in TRAINING_KEYS}
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


def resolve_config(name, model_overrides=None, training_overrides=None, epochs=None, data="default",
                   train_size=None):
    """The ``train_run`` config (seed left out) of preset ``name`` with overrides of its model and training
    settings. An MLP preset's config lists every setting of ``mlp`` (its defaults filled in), so that two
    presets that build the same network are the same run; a U-Net preset's lists its own settings only."""
    chosen = preset(name)
    defaults = {k: p.default for k, p in inspect.signature(mlp).parameters.items()
                if k not in ("hidden", "in_features", "out_features")} if "arch" not in chosen["model"] else {}
    model_kwargs = {**defaults, **chosen["model"], **(model_overrides or {})}
    training = {**chosen["training"], **(training_overrides or {})}
    if epochs is not None:
        training["epochs"] = epochs
    return {"model": name, "task": chosen["task"], "model_kwargs": model_kwargs, "training": training,
            "data": data, "train_size": train_size}


def resolve(row, epochs=None, data="default", train_size=None):
    """The ``train_run`` config (seed left out) of a study row."""
    return resolve_config(row["model"], row["model_kwargs"], row["training"], epochs, data, train_size)


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
