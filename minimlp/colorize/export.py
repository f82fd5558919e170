"""Export a trained colorizer as a small pretrained file: weight matrices in float16, with its config.

``export_pretrained`` reads a run's ``best.npz`` (or any model checkpoint),
stores every floating-point array with two or more dimensions (the Linear
weight matrices and the convolution kernels, nearly all of the bytes) as float16 and keeps the
vectors (biases, BatchNorm's affine parameters and running statistics) in
float32. Loading needs nothing special: ``Module.load_state_dict`` copies into
the model's float32 parameters, casting as it copies, so the float16 values
are used exactly (every float16 is a float32).

Rounding a weight to float16 changes it by at most 2⁻¹¹ of its size (about
0.05%); ``compare_storage`` measures what that does to the test MSE.

``ship`` writes a pretrained model as the package stores it: ``NAME.npz`` and
``NAME.json`` (its scores on the paper's 1,000 test images, float16 and
float32, with the config, the command that trained it, the git commit, the
package versions and the training time; see ``provenance``). From the shell::

    python -m minimlp.colorize.export RUN_FOLDER unet-45k [--dir minimlp/colorize/pretrained]
    python -m minimlp.colorize.export RUN_FOLDER unet-vivid-small-45k --temperature 1
"""
import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..serialization import save
from ..train.checkpoint import MODEL_FORMAT, read_checkpoint
from .loading import checkpoint_file


def half_state(state_dict, dtype=np.float16):
    """The state dict with floating arrays of ndim ≥ 2 cast to ``dtype`` (vectors and integers unchanged)."""
    out = {}
    for key, value in state_dict.items():
        value = np.asarray(value)
        if np.issubdtype(value.dtype, np.floating) and value.ndim >= 2:
            value = value.astype(dtype)
        out[key] = value
    return out


def export_pretrained(checkpoint, path, dtype=np.float16, temperature=None):
    """Write ``path`` (.npz, a minimlp model checkpoint) from ``checkpoint`` with float16 weight matrices.

    ``temperature``: the annealed-mean temperature a chroma-bins (vivid) model is shipped to decode at.
    """
    state = read_checkpoint(checkpoint_file(checkpoint))
    config = dict(state["config"])
    config["storage"] = np.dtype(dtype).name
    if temperature is not None:
        if "chroma_bins" not in config:
            raise ValueError(f"{checkpoint}: a decoding temperature needs a chroma-bins (vivid) model, not "
                             f"{config.get('model')!r}")
        config["chroma_bins"] = {**config["chroma_bins"], "temperature": float(temperature)}
    save({"format": MODEL_FORMAT, "model": half_state(state["model"], dtype), "config": config,
          "epoch": state.get("epoch"), "valid_loss": state.get("valid_loss")}, path)
    os.chmod(path, 0o644)   # a shipped file must be readable by all, whatever the umask
    return path


def compare_storage(float32_checkpoint, float16_checkpoint, images):
    """(float32 test MSE, float16 test MSE) of the two files on ``images``."""
    from .evaluate import evaluate_images
    from .loading import load_colorizer
    out = []
    for ckpt in (float32_checkpoint, float16_checkpoint):
        model, config = load_colorizer(ckpt)
        out.append(evaluate_images(model, config["task"], images)["test_mse"])
    return tuple(out)


def _git(*args):
    """Output of a git command run in this package's folder, or None where there is no git or no repository."""
    try:
        done = subprocess.run(["git", *args], cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def versions():
    """Versions of Python and the packages the colorizer runs on (None for one not installed)."""
    from importlib import metadata

    from .. import __version__
    out = {"python": platform.python_version(), "minimlp": __version__}
    for name in ("numpy", "numba", "Pillow", "cupy-cuda12x"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(run):
    """Where a run came from: its command, commit, versions and training seconds.

    Each comes from the run itself when it recorded it (``config.json``'s
    'command', 'commit', 'dirty', 'versions'; the training time is the sum of
    the history's per-epoch seconds); a commit or versions the run did not
    record are read now and marked ``"recorded": "at export"``.
    """
    state = read_checkpoint(os.path.join(run, "last.npz")) if os.path.isdir(run) else read_checkpoint(run)
    config = state.get("config") or {}
    history = state.get("history") or []
    out = {"command": config.get("command"),
           "training_seconds": float(sum(row["seconds"] for row in history)) if history else None,
           "epochs_run": len(history) or None, "machine": config.get("machine")}
    recorded = config.get("provenance")   # written by train_run (``provenance.provenance()``)
    if recorded:
        out.update(commit=recorded["git_commit"], dirty=recorded["git_dirty"], versions=recorded["versions"],
                   machine=recorded["machine"], recorded="at training")
    elif "commit" in config and "versions" in config:
        out.update(commit=config["commit"], dirty=config.get("dirty"), versions=config["versions"],
                   recorded="at training")
    else:
        out.update(commit=_git("rev-parse", "HEAD"), dirty=bool(_git("status", "--porcelain", "--untracked-files=no")),
                   versions=versions(), recorded="at export")
    return out


def ship(run, name, folder, temperature=None):
    """Write ``folder/NAME.npz`` (float16 weight matrices) and ``folder/NAME.json`` from a run; return the json dict.

    ``temperature``: as in ``export_pretrained``.
    """
    from .evaluate import evaluate_images
    from .loading import load_colorizer, load_split
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
                  source_run=os.path.basename(os.path.normpath(run)), config=config, **provenance(run))
    target.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    os.chmod(target.with_suffix(".json"), 0o644)
    return record


def main(argv=None):
    from .loading import PRETRAINED_DIR
    parser = argparse.ArgumentParser(prog="python -m minimlp.colorize.export",
                                     description="ship a training run as a pretrained model (NAME.npz, NAME.json)")
    parser.add_argument("run", help="a training run's --out folder (its best.npz is exported)")
    parser.add_argument("name", help="file stem, e.g. unet-45k (see loading.PRETRAINED for the names it serves)")
    parser.add_argument("--dir", default=str(PRETRAINED_DIR), help="where to write (default: the package's)")
    parser.add_argument("--temperature", type=float,
                        help="a vivid model's decoding temperature (default: the one it was trained with)")
    args = parser.parse_args(argv)
    try:
        record = ship(args.run, args.name, args.dir, temperature=args.temperature)
    except ValueError as exc:
        parser.exit(2, f"python -m minimlp.colorize.export: {exc}\n")
    print(f"{args.dir}/{args.name}.npz: test MSE {record['test_mse']:.5f} (float32 {record['float32_test_mse']:.5f}), "
          f"PSNR {record['psnr']:.2f} dB; gray-copy {record['baseline_gray_mse']:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
