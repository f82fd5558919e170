"""fit: the training loop shared by every example and the colorizer."""
import math
import os
import sys
import time

from .. import random
from .checkpoint import BEST, LAST, read_checkpoint, restore_training_state, save_model, save_training_state
from .history import History
from .progress import progress

READ_EVERY = 20   # steps between reads of the running loss (a device-to-host wait on the GPU)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and step."""


class StopTraining(Exception):
    """Raise from a callback to end training after the current epoch (cleanly, checkpoint written)."""


def evaluate_loss(model, loss_fn, batches):
    """Mean loss over ``batches`` in evaluation mode (weighted by batch size); the mode is restored after.
    A NaN or infinite mean raises FloatingPointError (on the CPU the loss itself raises first)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for xb, yb in batches:
            n = xb.shape[0]
            total += loss_fn(model(xb), yb) * n
            count += n
    finally:
        model.train(was_training)
    if not count:
        return math.nan
    value = float(total) / count
    if not math.isfinite(value):
        raise FloatingPointError(f"the evaluation loss is {value} (the model diverged, or the data holds NaN/Inf)")
    return value


def train_one_epoch(model, loss_fn, optimizer, batches, *, epoch, scheduler=None, per_step_scheduler=False,
                    quiet=True, step_fn=None):
    """One pass over ``batches`` in training mode; returns the running mean of the loss.

    ``step_fn(xb, yb) -> loss`` replaces the plain step (zero_grad, forward,
    loss, backward, optimizer step) when given. The plain step runs backward
    inside ``optimizer.step_in_backward()`` (the same step, faster where the
    layers can update their weights as they go).
    """
    model.train()
    total, count, read_at = 0.0, 0, 0
    bar = progress(batches, len(batches), f"epoch {epoch}", quiet)
    for step, (xb, yb) in enumerate(bar, start=1):
        try:
            if step_fn is not None:
                loss = step_fn(xb, yb)
            else:
                optimizer.zero_grad()
                loss = loss_fn(model(xb), yb)
                _backward_and_step(model, loss_fn.backward(), optimizer)
        except FloatingPointError as exc:
            raise TrainingDiverged(f"training diverged at epoch {epoch}, step {step}: {exc}") from exc
        if per_step_scheduler and scheduler is not None:
            scheduler.step()
        n = xb.shape[0]
        total += loss * n
        count += n
        if step % READ_EVERY == 0:
            running = _read_running_loss(total, count, epoch, read_at, step)
            read_at = step
            if not quiet:
                bar.set_postfix(loss=f"{running:.5f}", refresh=False)
    if count == 0:
        raise ValueError(f"epoch {epoch}: the training batches yielded no batch (fewer samples than the batch "
                         f"size, with drop_last?)")
    return _read_running_loss(total, count, epoch, read_at, step)


def _read_running_loss(total, count, epoch, read_at, step):
    """The running mean loss as a number: on the GPU the one read of the device in ``READ_EVERY`` steps (a
    loss there stays on the device); a NaN or infinite value stops the training, naming the steps since the
    last read (on the CPU each step's loss is checked as it is computed, so this only repeats that check). The
    sum is in the loss's dtype: float32 on the GPU, about 1e-5 of the mean over an epoch of hundreds of steps,
    which a per-step float64 cast (a launch and an allocation) would not pay for."""
    running = float(total) / count
    if not math.isfinite(running):
        steps = f"step {step}" if step == read_at + 1 else f"steps {read_at + 1}-{step}"
        raise TrainingDiverged(f"training diverged at epoch {epoch}, {steps}: the running loss is {running}")
    return running


def _backward_and_step(model, grad, optimizer):
    """Backward for the parameters (no input gradient), then the step: inside backward where that is safe.

    ``step_in_backward`` is used where the optimizer says it can step inside backward, on models without
    parameters shared between layers (a shared weight would be used again after its update).
    """
    backward = model.backward_parameters if hasattr(model, "backward_parameters") else model.backward
    can = getattr(optimizer, "can_step_in_backward", None)
    if can is not None and can() and not _shares_parameters(model):
        with optimizer.step_in_backward():
            backward(grad)
    else:
        backward(grad)
        optimizer.step()


def _shares_parameters(model):
    seen = set()
    for module in (model.modules() if hasattr(model, "modules") else ()):
        for p in module._parameters.values():
            if p is not None:
                if id(p) in seen:
                    return True
                seen.add(id(p))
    return False


def fit(model, loss_fn, optimizer, train_batches, valid_batches=None, epochs=1, *, scheduler=None,
        scheduler_interval="epoch", train_eval_batches=None, checkpoint_dir=None, resume=False, config=None,
        callbacks=(), quiet=False, step_fn=None, log=None):
    """Train ``model`` for ``epochs`` epochs and return its ``History``.

    Each epoch: one pass of ``train_batches`` in training mode, then the
    training set re-measured in evaluation mode (``train_eval_batches``: an
    unshuffled ``Batches`` of the training data) and ``valid_batches`` in
    evaluation mode. The learning-rate ``scheduler`` steps every epoch
    (``scheduler_interval='epoch'``; ReduceLROnPlateau gets the valid loss) or
    every step (``'step'``, e.g. OneCycleLR).

    With ``checkpoint_dir``, after every epoch it writes atomically
    ``last.npz`` (model, optimizer, scheduler, RNG state, history, config) and
    ``best.npz`` (weights with the lowest valid loss so far), and
    ``resume=True`` continues from ``last.npz`` to the same result as an
    uninterrupted run. A NaN/Inf loss raises ``TrainingDiverged`` naming the
    epoch and step; the last good checkpoint is kept. Callbacks are called as
    ``callback(epoch, row, model)`` after each epoch's checkpoint is written
    and may raise ``StopTraining`` to end the run there.
    """
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
    log = log or (lambda text: None if quiet else print(text, file=sys.stderr))
    history = History()
    start_epoch, best_valid = 0, math.inf
    if checkpoint_dir is not None:
        os.makedirs(checkpoint_dir, exist_ok=True)
        last_path = os.path.join(checkpoint_dir, LAST)
        if resume and os.path.exists(last_path):
            state = read_checkpoint(last_path)
            start_epoch, rows, best_valid = restore_training_state(
                state, model=model, optimizer=optimizer, scheduler=scheduler)
            history = History(rows)
            best_valid = math.inf if best_valid is None else best_valid
            log(f"resuming from {last_path} after epoch {start_epoch}")
            if start_epoch >= epochs:
                log(f"nothing to train: the run already has {start_epoch} epochs and {epochs} were asked for "
                    f"(give a larger epoch count to train on)")
    for epoch in range(start_epoch + 1, epochs + 1):
        started = time.perf_counter()
        train_batches.epoch = epoch - 1
        random.start_epoch(epoch)
        train_loss = train_one_epoch(model, loss_fn, optimizer, train_batches, epoch=epoch, scheduler=scheduler,
                                     per_step_scheduler=scheduler_interval == "step", quiet=quiet, step_fn=step_fn)
        lr = optimizer.param_groups[0]["lr"]
        train_eval = evaluate_loss(model, loss_fn, train_eval_batches) if train_eval_batches is not None else None
        valid = evaluate_loss(model, loss_fn, valid_batches) if valid_batches is not None else None
        if scheduler is not None and scheduler_interval == "epoch":
            if getattr(scheduler, "steps_on_metric", False):
                scheduler.step(valid if valid is not None else train_loss)
            else:
                scheduler.step()
        history.append(epoch=epoch, train_loss=train_loss, train_eval_loss=train_eval, valid_loss=valid, lr=lr,
                       seconds=time.perf_counter() - started)
        row = history[-1]
        log(_describe(row, epochs))
        if checkpoint_dir is not None:
            if valid is not None and valid < best_valid:
                best_valid = valid
                save_model(os.path.join(checkpoint_dir, BEST), model=model, config=config, epoch=epoch,
                           valid_loss=valid)
            save_training_state(checkpoint_dir, epoch=epoch, model=model, optimizer=optimizer, scheduler=scheduler,
                                history=history, config=config, best_valid=best_valid)
            history.to_csv(os.path.join(checkpoint_dir, "history.csv"))
        try:
            for callback in callbacks:
                callback(epoch, row, model)
        except StopTraining:
            break
    return history


def _describe(row, epochs):
    parts = [f"epoch {row['epoch']}/{epochs}", f"train {row['train_loss']:.5f}"]
    if row["train_eval_loss"] is not None:
        parts.append(f"train(eval) {row['train_eval_loss']:.5f}")
    if row["valid_loss"] is not None:
        parts.append(f"valid {row['valid_loss']:.5f}")
    parts += [f"lr {row['lr']:.3g}", f"{row['seconds']:.1f}s"]
    return "  ".join(parts)
