"""Ship a training run as a pretrained model: ``NAME.npz`` (float16 weight matrices) and ``NAME.json``.

The json holds the model's scores on the paper's 1,000 test images, float16 and float32, with its config,
the command that trained it, the git commit, the package versions and the training time. From the shell::

    minimlp-colorize ship RUN_FOLDER unet-45k [--dir minimlp/colorize/pretrained]
    minimlp-colorize ship RUN_FOLDER unet-vivid-small-45k --temperature 1
"""
import json
import os
from pathlib import Path

from ...train.checkpoint import read_checkpoint
from ..models.export import export_pretrained
from ..models.store import PRETRAINED_DIR, load_colorizer
from ..running.prediction import evaluate_images
from ..task.data import load_split
from .provenance import provenance


def run_provenance(run):
    """Where a run came from: its command, commit, versions and training seconds.

    Each comes from the run itself when it recorded it (``config.json``'s
    'provenance', or the 'commit', 'dirty', 'versions' of older runs; the
    training time is the sum of the history's per-epoch seconds); what the run
    did not record is read now and marked ``"recorded": "at export"``.
    """
    state = read_checkpoint(os.path.join(run, "last.npz")) if os.path.isdir(run) else read_checkpoint(run)
    config = state.get("config") or {}
    history = state.get("history") or []
    out = {"command": config.get("command"),
           "training_seconds": float(sum(row["seconds"] for row in history)) if history else None,
           "epochs_run": len(history) or None, "machine": config.get("machine")}
    recorded = config.get("provenance")   # recorded at training (``provenance.provenance()``)
    if recorded:
        out.update(commit=recorded["git_commit"], dirty=recorded["git_dirty"], versions=recorded["versions"],
                   machine=recorded["machine"], recorded="at training")
    elif "commit" in config and "versions" in config:
        out.update(commit=config["commit"], dirty=config.get("dirty"), versions=config["versions"],
                   recorded="at training")
    else:
        now = provenance()
        out.update(commit=now["git_commit"], dirty=now["git_dirty"], versions=now["versions"],
                   machine=now["machine"], recorded="at export")
    return out


def ship(run, name, folder, temperature=None):
    """Write ``folder/NAME.npz`` (float16 weight matrices) and ``folder/NAME.json`` from a run; return the json dict.

    ``temperature``: as in ``export_pretrained``.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    target = Path(folder) / f"{name}.npz"
    export_pretrained(run, target, temperature=temperature)
    images = load_split("default", "paper").test.images
    model, config = load_colorizer(str(target))
    record = evaluate_images(model, config["task"], images)
    float32_model, _ = load_colorizer(run)
    if getattr(model, "chroma_bins", None) is not None:   # score the float32 run as shipped (its temperature)
        float32_model.chroma_bins.temperature = model.chroma_bins.temperature
    record.update(model=config["model"], task=config["task"], split="test", data="default",
                  float32_test_mse=evaluate_images(float32_model, config["task"], images)["test_mse"],
                  source_run=os.path.basename(os.path.normpath(run)), config=config, **run_provenance(run))
    target.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    os.chmod(target.with_suffix(".json"), 0o644)
    return record


def add_ship_parser(sub):
    """``minimlp-colorize ship RUN NAME [--dir] [--temperature]``."""
    parser = sub.add_parser("ship", help="ship a training run as a pretrained model (NAME.npz, NAME.json)")
    parser.add_argument("run", help="a training run's --out folder (its best.npz is exported)")
    parser.add_argument("name", help="file stem, e.g. unet-45k (``models.store.PRETRAINED`` lists the names served)")
    parser.add_argument("--dir", default=str(PRETRAINED_DIR), help="where to write (default: the package's)")
    parser.add_argument("--temperature", type=float,
                        help="a vivid model's decoding temperature (default: the one it was trained with)")
    return parser


def ship_command(args):
    """The ``ship`` command: write the files, print their scores."""
    record = ship(args.run, args.name, args.dir, temperature=args.temperature)
    print(f"{args.dir}/{args.name}.npz: test MSE {record['test_mse']:.5f} (float32 {record['float32_test_mse']:.5f}), "
          f"PSNR {record['psnr']:.2f} dB; gray-copy {record['baseline_gray_mse']:.5f}")
    return 0
