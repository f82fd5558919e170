"""The colorizer's commands: train, evaluate, colorize."""
import datetime
import json
import os
import sys

import numpy as np

from .. import __version__, manual_seed, nn, optim
from ..atomic import write_text
from ..backend import resolve_device
from ..data import Batches
from ..train import CheckpointError, fit, read_checkpoint
from ..train.checkpoint import BEST, LAST
from .checks import check_batchnorm_batch, check_numbers, check_output_folder, needs_two_images
from .evaluate import evaluate_images, predict_rgb
from .figures import gray_images, image_grid, loss_curve
from .loading import load_colorizer, load_split, vivid_pretrained
from .models import build_model, eval_batch_size, is_convolutional, preset
from .provenance import provenance
from .tasks import FlippedBatches, gray_copy, make_arrays, planar_to_images, prepare_task, task_loss

TRAIN_EVAL_IMAGES = 5000  # the train(eval) loss of each epoch is measured on the first 5,000 training images
# (all of the paper's split; on the full split, as many as the validation set, and not 45,000 forward passes)

OPTIMIZERS = {
    "sgd": lambda params, lr, wd: optim.SGD(params, lr=lr, weight_decay=wd),
    "momentum": lambda params, lr, wd: optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd),
    "rmsprop": lambda params, lr, wd: optim.RMSprop(params, lr=lr, weight_decay=wd),
    "adam": lambda params, lr, wd: optim.Adam(params, lr=lr, weight_decay=wd),
    "adamw": lambda params, lr, wd: optim.AdamW(params, lr=lr, weight_decay=wd),
}


def make_config(args):
    """The run's full configuration: the preset's recipe, overridden by the flags given."""
    chosen = preset(args.model)
    training = dict(chosen["training"])
    for key in ("optimizer", "lr", "batch_size", "epochs", "weight_decay", "schedule", "split", "hflip"):
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
    for key in ("optimizer", "lr", "batch_size", "weight_decay", "schedule", "split", "hflip"):
        value = getattr(args, key)
        if value is not None and value != stored["training"][key]:
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


def _write_json(obj, path):
    write_text(path, json.dumps(obj, indent=2) + "\n")


def make_optimizer(name, params, lr, weight_decay):
    return OPTIMIZERS[name](params, lr, weight_decay)


def make_scheduler(name, optimizer, lr, epochs, steps_per_epoch):
    """(scheduler, interval) for 'none', 'onecycle' (per step) or 'cosine' (per epoch)."""
    if name == "none":
        return None, "epoch"
    if name == "onecycle":
        return optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch), "step"
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
    raise ValueError(f"unknown schedule {name!r}")


def train_run(config, out, device="auto", resume=False, quiet=False, log=None, callbacks=()):
    """Train the run described by ``config`` into folder ``out``; return (model, history, test scores).

    ``callbacks`` are passed to ``fit`` (called after each epoch's checkpoint is written). ``config.json``
    and ``metrics.json`` carry the code's commit, the package versions and the machine (``provenance``).
    """
    config = {**config, "provenance": provenance()}
    log = log or (lambda text: None if quiet else print(text, file=sys.stderr))
    tr = config["training"]
    device = resolve_device(device, announce=not quiet)
    manual_seed(config["seed"])
    split = load_split(config["data"], tr["split"])
    train_images = split.train.images
    if config.get("train_size"):
        train_images = train_images[:config["train_size"]]
    x_train, y_train = make_arrays(train_images, config["task"])
    x_valid, y_valid = make_arrays(split.valid.images, config["task"])
    prepare_task(config, y_train)
    model = build_model(config).to(device=device)
    optimizer = make_optimizer(tr["optimizer"], model.parameters(), tr["lr"], tr["weight_decay"])
    drop_last = _drop_last(tr, len(x_train), needs_two_images(config), warn=lambda text: print(text, file=sys.stderr))
    batches = Batches(x_train, y_train, tr["batch_size"], shuffle=True, seed=config["seed"], device=device,
                      drop_last=drop_last)
    steps = len(batches)
    if tr["hflip"]:
        batches = FlippedBatches(batches, seed=config["seed"])
    scheduler, interval = make_scheduler(tr["schedule"], optimizer, tr["lr"], tr["epochs"], steps)
    train_eval = Batches(x_train[:TRAIN_EVAL_IMAGES], y_train[:TRAIN_EVAL_IMAGES], eval_batch_size(model),
                         shuffle=False, device=device)
    valid = Batches(x_valid, y_valid, eval_batch_size(model), shuffle=False, device=device)
    os.makedirs(out, exist_ok=True)
    _write_json(config, os.path.join(out, "config.json"))
    log(f"training {config['model']} on {len(x_train)} images ({config['data']}, {tr['split']} split), "
        f"{tr['epochs']} epochs, batch {tr['batch_size']}, {tr['optimizer']} lr {tr['lr']:g}, device {device}")
    history = fit(model, task_loss(config), optimizer, batches, valid, tr["epochs"], scheduler=scheduler,
                  scheduler_interval=interval, train_eval_batches=train_eval, checkpoint_dir=out, resume=resume,
                  config=config, quiet=quiet, log=log, callbacks=callbacks)
    best = read_checkpoint(os.path.join(out, BEST))
    model.load_state_dict(best["model"])
    scores = evaluate_images(model, config["task"], split.test.images)
    scores.update(model=config["model"], best_epoch=best["epoch"], checkpoint=os.path.join(out, BEST),
                  provenance=config["provenance"])
    _write_json(scores, os.path.join(out, "metrics.json"))
    baseline_valid = (None if config["task"] == "chroma-bins"
                      else nn.MSELoss()(_baseline_output(x_valid, config["task"]), y_valid))
    loss_curve(history, os.path.join(out, "loss_curve.png"), title=f"{config['model']} ({config['task']} task)",
               baseline=baseline_valid, task=config["task"])
    test = split.test
    sample_figure(model, config["task"], test.images[across_classes(test.labels, 12)],
                  os.path.join(out, "samples_test.png"))
    return model, history, scores


def _drop_last(training, n_images, needs_two, warn):
    """Whether to drop each epoch's last short batch: asked for, or forced because it would hold one image
    and the network (``needs_two``: an MLP with BatchNorm1d) cannot train on one.

    The forced case is said once (``warn``, shown even with --quiet: it changes what trains).
    """
    if training.get("drop_last"):
        return True
    if needs_two and n_images % training["batch_size"] == 1:
        warn(f"note: {n_images} images in batches of {training['batch_size']} leave a last batch of 1, which "
            f"BatchNorm cannot train on; it is dropped each epoch (a different image each time)")
        return True
    return False


def across_classes(labels, count):
    """``count`` indices taking each class in turn (the first image of each class, then the second, …)."""
    labels = np.asarray(labels)
    queues = [list(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    picked = []
    while len(picked) < min(count, len(labels)):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return np.asarray(picked, dtype=np.int64)


def _baseline_output(x, task):
    """Gray-copy in the task's own units: gray in R, G, B (rgb), or zero chroma (chroma)."""
    return gray_copy(x) if task == "rgb" else np.zeros((len(x), 2048), dtype=x.dtype)


def sample_figure(model, task, images, path):
    """Rows: ground truth, gray input, model output (the paper's Figure 1 layout)."""
    output = planar_to_images(predict_rgb(model, task, images))
    return image_grid([("ground truth", images), ("gray input", gray_images(images)), ("output", output)], path)


def train(args):
    out = args.out
    check_numbers(args)
    check_output_folder(out, "--out")
    last = os.path.join(out, LAST)
    if args.resume:
        if not os.path.exists(last):
            raise CheckpointError(f"--resume: {out} holds no {LAST} to continue from")
        config = _check_resume_config(read_checkpoint(last)["config"], args)
    else:
        if os.path.exists(last):
            raise CheckpointError(f"{out} already holds a run ({LAST}); pass --resume to continue it "
                                  f"or choose another --out")
        args.model = args.model or "paper-mlp1"
        config = make_config(args)
        config["command"] = getattr(args, "command_line", None)
    check_batchnorm_batch(config)
    config["started"] = datetime.datetime.now().isoformat(timespec="seconds")
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
    model, config = load_colorizer(args.checkpoint, device=args.device)
    split = load_split(args.data, args.data_split, flag="--data-split")
    images = getattr(split, args.split).images
    scores = evaluate_images(model, config["task"], images)
    scores.update(model=config["model"], task=config["task"], split=args.split, data=args.data,
                  data_split=args.data_split, provenance=provenance())
    if args.json:
        print(json.dumps(scores))
    else:
        print(f"{config['model']} on {scores['n_images']} {args.split} images ({args.data}):")
        print(f"  model      MSE {scores['test_mse']:.5f}  PSNR {scores['psnr']:.2f} dB")
        print(f"  gray-copy  MSE {scores['baseline_gray_mse']:.5f}  PSNR {scores['baseline_gray_psnr']:.2f} dB")
        print(f"  colourfulness ratio {scores['colorfulness_ratio']:.3f} (the outputs' mean chroma over the truth's)")
        print(f"  the model's MSE is {abs(scores['improvement_over_gray']) * 100:.1f}% "
              f"{'below' if scores['improvement_over_gray'] >= 0 else 'above'} gray-copy")
    return 0


def colorize(args):
    from .photo_files import colorize_files, output_paths
    check_output_folder(args.out, "-o")
    targets = output_paths(args.inputs, args.out, overwrite=args.overwrite)
    if args.vivid and args.checkpoint is not None:
        raise ValueError("--vivid chooses the pretrained vivid model: drop either --vivid or --checkpoint")
    checkpoint = f"pretrained:{vivid_pretrained()}" if args.vivid else args.checkpoint or "pretrained"
    model, config = load_colorizer(checkpoint, device=resolve_device(args.device))
    if args.resolution is not None and not is_convolutional(config):
        raise ValueError(f"--resolution {args.resolution}: {checkpoint} holds an MLP ({config['model']}), which "
                         f"runs at 32x32 only; drop --resolution or use a U-Net checkpoint")
    os.makedirs(args.out, exist_ok=True)
    failed = colorize_files(model, config["task"], args.inputs, targets, resolution=args.resolution)
    return 1 if failed else 0
