"""A training run of the colorizer: data, model, optimizer and schedule from a config, ``fit``, scores, figures."""
import os
import sys
from types import SimpleNamespace

import numpy as np

from ... import manual_seed, nn, optim
from ...atomic import write_json
from ...backend import gpu_unavailable_reason, resolve_device
from ...data import Batches
from ...train import fit, read_checkpoint
from ...train.checkpoint import BEST
from ..models.architectures import build_model, eval_batch_size, needs_two_images
from ..task.arrays import FlippedBatches, gray_copy, make_arrays, planar_to_images, prepare_task, task_loss
from ..task.data import load_split
from .figures import gray_images, image_grid, loss_curve
from .prediction import evaluate_images, predict_rgb
from .run_folder import CONFIG, run_folder

TRAIN_EVAL_IMAGES = 5000  # the train(eval) loss of each epoch is measured on the first 5,000 training images
# (all of the paper's split; on the full split, as many as the validation set, and not 45,000 forward passes)

OPTIMIZERS = {
    "sgd": lambda params, lr, wd: optim.SGD(params, lr=lr, weight_decay=wd),
    "momentum": lambda params, lr, wd: optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd),
    "rmsprop": lambda params, lr, wd: optim.RMSprop(params, lr=lr, weight_decay=wd),
    "adam": lambda params, lr, wd: optim.Adam(params, lr=lr, weight_decay=wd),
    "adamw": lambda params, lr, wd: optim.AdamW(params, lr=lr, weight_decay=wd),
}


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
    and ``metrics.json`` carry the config's 'provenance' (the code's commit, the package versions and the
    machine: ``experiments.provenance``), which the caller records.

    Everything that can be refused (the device, the data, an epoch without a batch) is refused before
    anything is written; the folder is then locked for the run and tidied up if it fails before its first
    checkpoint (``run_folder``).
    """
    log = log or (lambda text: None if quiet else print(text, file=sys.stderr))
    tr = config["training"]
    asked, device = device, resolve_device(device)
    run = _prepare(config, device)
    with run_folder(out, config.get("command")):
        for note in run.notes:   # shown even with --quiet: it changes what trains
            print(note, file=sys.stderr)
        write_json(config, os.path.join(out, CONFIG))
        epochs = tr["epochs"]
        log(f"training {config['model']} on {len(run.x_train)} images ({config['data']}, {tr['split']} split), "
            f"{epochs} epoch{'s' if epochs != 1 else ''}, batch {tr['batch_size']}, {tr['optimizer']} lr "
            f"{tr['lr']:g}, device {_device_text(asked, device)}")
        history = fit(run.model, task_loss(config), run.optimizer, run.batches, run.valid, epochs,
                      scheduler=run.scheduler, scheduler_interval=run.interval, train_eval_batches=run.train_eval,
                      checkpoint_dir=out, resume=resume, config=config, quiet=quiet, log=log, callbacks=callbacks)
        scores = _finish(config, run, history, out)
    return run.model, history, scores


def _prepare(config, device):
    """The run's data, model, optimizer, schedule and batches (a namespace); a ValueError for an epoch that
    would hold no batch. Nothing is written."""
    tr = config["training"]
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
    notes = []
    drop_last = _drop_last(tr, len(x_train), needs_two_images(config), warn=notes.append)
    batches = Batches(x_train, y_train, tr["batch_size"], shuffle=True, seed=config["seed"], device=device,
                      drop_last=drop_last)
    steps = len(batches)
    if steps == 0:
        raise ValueError(f"--batch-size {tr['batch_size']}: an epoch would hold no batch ({len(x_train)} training "
                         f"images, and --drop-last drops a batch shorter than {tr['batch_size']}); lower "
                         f"--batch-size or drop --drop-last")
    if tr["hflip"]:
        batches = FlippedBatches(batches, seed=config["seed"])
    scheduler, interval = make_scheduler(tr["schedule"], optimizer, tr["lr"], tr["epochs"], steps)
    train_eval = Batches(x_train[:TRAIN_EVAL_IMAGES], y_train[:TRAIN_EVAL_IMAGES], eval_batch_size(model),
                         shuffle=False, device=device)
    valid = Batches(x_valid, y_valid, eval_batch_size(model), shuffle=False, device=device)
    return SimpleNamespace(split=split, x_train=x_train, x_valid=x_valid, y_valid=y_valid, model=model,
                           optimizer=optimizer, batches=batches, scheduler=scheduler, interval=interval,
                           train_eval=train_eval, valid=valid, notes=notes)


def _finish(config, run, history, out):
    """After training: the best checkpoint's test scores (``metrics.json``), the loss curve and the samples."""
    model = run.model
    best = read_checkpoint(os.path.join(out, BEST))
    model.load_state_dict(best["model"])
    scores = evaluate_images(model, config["task"], run.split.test.images)
    scores.update(model=config["model"], best_epoch=best["epoch"], checkpoint=os.path.join(out, BEST),
                  provenance=config.get("provenance"))
    write_json(scores, os.path.join(out, "metrics.json"))
    baseline_valid = (None if config["task"] == "chroma-bins"
                      else nn.MSELoss()(_baseline_output(run.x_valid, config["task"]), run.y_valid))
    loss_curve(history, os.path.join(out, "loss_curve.png"), title=f"{config['model']} ({config['task']} task)",
               baseline=baseline_valid, task=config["task"])
    test = run.split.test
    sample_figure(model, config["task"], test.images[across_classes(test.labels, 12)],
                  os.path.join(out, "samples_test.png"))
    return scores


def _device_text(asked, device):
    """'cpu', or for ``--device auto`` the device with why it was picked (said once, in the run's first line)."""
    if str(asked).lower() != "auto":
        return device
    why = "CuPy and a GPU work" if device == "gpu" else gpu_unavailable_reason()
    return f"{device} (picked by --device auto: {why})"


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


