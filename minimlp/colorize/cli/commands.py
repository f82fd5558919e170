"""The colorizer's everyday commands: train, evaluate, colorize, models."""
import datetime
import json
import os

from ... import __version__
from ...backend import resolve_device
from ...train import CheckpointError, read_checkpoint
from ...train.checkpoint import BEST, LAST, DamagedCheckpoint
from ..experiments.provenance import provenance
from ..models.architectures import is_convolutional
from ..models.presets import PRESETS, TRAINING_KEYS, preset, recipe
from ..models.store import (
    PRETRAINED,
    default_pretrained,
    installed_pretrained,
    load_colorizer,
    vivid_pretrained,
)
from ..running.photo_files import colorize_files, output_paths
from ..running.prediction import evaluate_images
from ..running.rules import check_batchnorm_batch
from ..running.training import train_run
from ..task.data import load_split
from .arguments import check_numbers, check_output_folder


def make_config(args):
    """The run's full configuration: the preset's recipe, overridden by the flags given."""
    chosen = preset(args.model)
    training = dict(chosen["training"])
    for key in TRAINING_KEYS:
        value = getattr(args, key)
        if value is not None:
            training[key] = value
    if args.drop_last:
        training["drop_last"] = True
    if args.data == "default" and args.split is None:
        training["split"] = "paper"
    return {"model": args.model, "task": chosen["task"], "model_kwargs": dict(chosen["model"]),
            "training": training, "data": args.data, "train_size": args.train_size, "seed": args.seed,
            "minimlp_version": __version__}


def _check_resume_config(stored, args):
    """Refuse a --resume whose flags contradict the stored run (extending --epochs is allowed)."""
    if args.model is not None and args.model != stored["model"]:
        raise CheckpointError(f"{args.out} holds a {stored['model']} run, not {args.model}: "
                              f"drop --model or choose another --out")
    for key in TRAINING_KEYS:
        value = getattr(args, key)
        if key != "epochs" and value is not None and value != stored["training"][key]:
            raise CheckpointError(f"--{key.replace('_', '-')} {value} contradicts the stored run "
                                  f"({stored['training'][key]}); --resume continues the run as configured")
    if getattr(args, "drop_last", False) and not stored["training"].get("drop_last"):
        raise CheckpointError("--drop-last contradicts the stored run (which keeps short last batches); "
                              "--resume continues the run as configured")
    if args.epochs is not None:
        if stored["training"]["schedule"] == "onecycle" and args.epochs != stored["training"]["epochs"]:
            raise CheckpointError(f"--epochs {args.epochs}: the stored run's one-cycle schedule spans its "
                                  f"{stored['training']['epochs']} epochs and cannot be stretched; drop --epochs "
                                  f"to finish it, or start a new run")
        stored["training"]["epochs"] = args.epochs
    return stored


def _stored_config(last):
    """The config of the run whose ``last.npz`` is ``last``; a one-line error if that file is damaged."""
    try:
        return read_checkpoint(last)["config"]
    except DamagedCheckpoint as exc:
        best = os.path.join(os.path.dirname(last), BEST)
        intact = f"; its {BEST} still serves evaluate and colorize" if os.path.exists(best) else ""
        raise CheckpointError(f"--resume: {exc}, so the run cannot be continued: train it again into another "
                              f"--out{intact}") from None


def train(args):
    out = args.out
    check_numbers(args)
    check_output_folder(out, "--out")
    last = os.path.join(out, LAST)
    if args.resume:
        if not os.path.exists(last):
            raise CheckpointError(f"--resume: {out} holds no {LAST} to continue from")
        config = _check_resume_config(_stored_config(last), args)
    else:
        if os.path.exists(last):
            raise CheckpointError(f"{out} already holds a run ({LAST}); pass --resume to continue it "
                                  f"or choose another --out")
        args.model = args.model or "paper-mlp1"
        config = make_config(args)
        config["command"] = getattr(args, "command_line", None)
    check_batchnorm_batch(config)
    config["started"] = datetime.datetime.now().isoformat(timespec="seconds")
    config["provenance"] = provenance()
    _, _, scores = train_run(config, out, device=args.device, resume=args.resume, quiet=args.quiet)
    better = scores["improvement_over_gray"] * 100
    print(f"test MSE (RGB, pixels in [-1, 1]) {scores['test_mse']:.5f}  PSNR {scores['psnr']:.2f} dB   "
          f"(gray-copy baseline on the same {scores['n_images']} images: MSE {scores['baseline_gray_mse']:.5f}, "
          f"PSNR {scores['baseline_gray_psnr']:.2f} dB; the model is {abs(better):.1f}% "
          f"{'better' if better >= 0 else 'worse'})")
    print(f"best epoch {scores['best_epoch']}; files in {out}: best.npz, last.npz, history.csv, config.json, "
          f"metrics.json, loss_curve.png, samples_test.png")
    return 0


def evaluate(args):
    model, config = load_colorizer(args.checkpoint, device=resolve_device(args.device),
                                   flip_average=args.flip_average)
    split = load_split(args.data, args.data_split, flag="--data-split")
    images = getattr(split, args.split).images
    scores = evaluate_images(model, config["task"], images)
    scores.update(model=config["model"], task=config["task"], split=args.split, data=args.data,
                  data_split=args.data_split, flip_average=args.flip_average, provenance=provenance())
    if args.json:
        print(json.dumps(scores))
    else:
        averaged = ", each prediction averaged with the mirror image's" if args.flip_average else ""
        print(f"{config['model']} on {scores['n_images']} {args.split} images ({args.data}{averaged}):")
        print(f"  model      MSE {scores['test_mse']:.5f}  PSNR {scores['psnr']:.2f} dB")
        print(f"  gray-copy  MSE {scores['baseline_gray_mse']:.5f}  PSNR {scores['baseline_gray_psnr']:.2f} dB")
        print(f"  colourfulness ratio {scores['colorfulness_ratio']:.3f} (the outputs' mean chroma over the truth's)")
        print(f"  wrong-hue rate {scores['wrong_hue_rate']:.3f} (the share whose {scores['wrong_hue_rule']})")
        print(f"  the model's MSE is {abs(scores['improvement_over_gray']) * 100:.1f}% "
              f"{'below' if scores['improvement_over_gray'] >= 0 else 'above'} gray-copy")
    return 0


def colorize(args):
    check_output_folder(args.out, "-o")
    targets = output_paths(args.inputs, args.out, overwrite=args.overwrite)
    if args.vivid and args.checkpoint is not None:
        raise ValueError("--vivid chooses the pretrained vivid model: drop either --vivid or --checkpoint")
    checkpoint = f"pretrained:{vivid_pretrained()}" if args.vivid else args.checkpoint or "pretrained"
    if args.max_pixels < 1:
        raise ValueError(f"--max-pixels {args.max_pixels}: must be at least 1")
    model, config = load_colorizer(checkpoint, device=resolve_device(args.device), flip_average=args.flip_average)
    if args.resolution is not None and not is_convolutional(config):
        raise ValueError(f"--resolution {args.resolution}: {checkpoint} holds an MLP ({config['model']}), which "
                         f"runs at 32x32 only; drop --resolution or use a U-Net checkpoint")
    failed = colorize_files(model, config["task"], args.inputs, targets, resolution=args.resolution,
                            max_pixels=args.max_pixels)
    return 1 if failed else 0


def models(args):
    """`minimlp-colorize models`: each preset with its recipe, then the pretrained models."""
    width = max(map(len, [*PRESETS, *PRETRAINED]))
    lines = [f"{name:{width}s} [{p['task']}] {p['about']}\n{'':{width}s} training: {recipe(p)}"
             for name, p in PRESETS.items()]
    installed = installed_pretrained()
    default = default_pretrained() if installed else None
    lines.append("\npretrained models (--checkpoint pretrained:NAME; 'pretrained' alone is the default):")
    files = max(len(stem) for stem in PRETRAINED.values()) + len(".npz")
    for name, stem in PRETRAINED.items():
        state = ("default" if name == default else "installed") if name in installed else "not installed"
        lines.append(f"{name:{width}s} {stem + '.npz':{files}s}  ({state})")
    print("\n".join(lines))
    return 0
