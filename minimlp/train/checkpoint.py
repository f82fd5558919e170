"""Training checkpoints: everything needed to resume a run exactly, written atomically."""
import os

from ..random import get_rng_state, set_rng_state
from ..serialization import DamagedFileError, load, save

LAST = "last.npz"
BEST = "best.npz"
TRAIN_FORMAT = "minimlp-train-1"
MODEL_FORMAT = "minimlp-model-1"
LOOKS_LIKE = (f"a checkpoint is the {BEST} or {LAST} that training writes into its folder "
              f"(a .npz archive tagged {MODEL_FORMAT} or {TRAIN_FORMAT})")


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or belongs to a different run or model."""


class DamagedCheckpoint(CheckpointError):
    """A checkpoint file that is truncated or damaged (a minimlp .npz that cannot be read whole)."""


def save_training_state(folder, *, epoch, model, optimizer, scheduler, history, config, best_valid):
    """Write ``folder/last.npz``: model, optimizer, scheduler, RNG state, history and config after ``epoch`` epochs."""
    state = {
        "format": TRAIN_FORMAT,
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": get_rng_state(),
        "history": history.rows,
        "config": config,
        "best_valid": best_valid,
    }
    return save(state, os.path.join(folder, LAST))


def save_model(path, *, model, config, epoch=None, valid_loss=None):
    """Write a model-only checkpoint (weights, config) such as ``best.npz``."""
    return save({"format": MODEL_FORMAT, "model": model.state_dict(), "config": config, "epoch": epoch,
                 "valid_loss": valid_loss}, path)


def read_checkpoint(path, expected_format=None):
    """Load a checkpoint file and check its format tag (``DamagedCheckpoint`` if it is truncated or damaged)."""
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = load(path)
    except DamagedFileError as exc:
        raise DamagedCheckpoint(str(exc)) from exc
    except ValueError as exc:
        raise CheckpointError(f"{exc}, so not a minimlp checkpoint; {LOOKS_LIKE}") from exc
    if not isinstance(state, dict) or state.get("format") not in (TRAIN_FORMAT, MODEL_FORMAT):
        raise CheckpointError(f"{path} is a .npz file but not a minimlp checkpoint (no format tag); {LOOKS_LIKE}")
    if expected_format and state["format"] != expected_format:
        raise CheckpointError(f"{path} is a {state['format']} file, expected {expected_format}")
    return state


def restore_training_state(state, *, model, optimizer, scheduler):
    """Load weights, optimizer, scheduler and RNG state from a ``last.npz`` dict; return (epoch, history rows, best)."""
    try:
        model.load_state_dict(state["model"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"the checkpoint's weights do not fit this model: {exc}") from exc
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state["epoch"], state["history"], state["best_valid"]
