"""The pretrained store and checkpoints: which file a ``--checkpoint`` names, and the colorizer it holds."""
import os
from pathlib import Path

from ...train.checkpoint import BEST, LAST, CheckpointError, DamagedCheckpoint, read_checkpoint
from .architectures import build_model
from .mirror import mirror_averaged

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"

# pretrained model name -> file stem in PRETRAINED_DIR (<stem>.npz: float16 weights and config; <stem>.json: its
# scores and provenance, written by ``export``)
PRETRAINED = {"unet4": "unet4-45k", "unet": "unet-45k", "unet-small": "unet-small-45k",
              "chroma-mlp": "chroma-mlp-45k", "unet4-vivid": "unet4-vivid-45k", "unet-vivid": "unet-vivid-45k",
              "unet-vivid-small": "unet-vivid-small-45k"}
# `--checkpoint pretrained` is the first of these that is installed: the four-level U-Net, then the older ones
DEFAULT_PRETRAINED = ("unet4", "unet", "unet-small", "chroma-mlp")
# `colorize --vivid` takes the first of these that is installed
VIVID_PRETRAINED = ("unet4-vivid", "unet-vivid", "unet-vivid-small")


def installed_pretrained():
    """The names in ``PRETRAINED`` whose files are installed, in the registry's order."""
    return [name for name, stem in PRETRAINED.items() if (PRETRAINED_DIR / f"{stem}.npz").exists()]


def default_pretrained():
    """The name `--checkpoint pretrained` loads: the first of ``DEFAULT_PRETRAINED`` installed."""
    return _first_installed(DEFAULT_PRETRAINED, f"no pretrained model is installed in {PRETRAINED_DIR}")


def vivid_pretrained():
    """The name `colorize --vivid` loads: the first of ``VIVID_PRETRAINED`` installed (a one-line error if none)."""
    return _first_installed(VIVID_PRETRAINED, f"no pretrained vivid model is installed ({' or '.join(VIVID_PRETRAINED)} "
                            f"in {PRETRAINED_DIR}); train one with `minimlp-colorize train --model unet-vivid-small`")


def _first_installed(names, missing):
    installed = installed_pretrained()
    found = [name for name in names if name in installed]
    if not found:
        raise CheckpointError(missing)
    return found[0]


def pretrained_file(name=None):
    """The .npz of pretrained model ``name`` (the default when None); a one-line error if it is not installed."""
    name = name or default_pretrained()
    have = ", ".join(installed_pretrained()) or "none"
    if name not in PRETRAINED:
        raise CheckpointError(f"unknown pretrained model {name!r}; the installed ones are: {have} "
                              f"(`minimlp-colorize models` lists them)")
    path = PRETRAINED_DIR / f"{PRETRAINED[name]}.npz"
    if not path.exists():
        raise CheckpointError(f"pretrained model {name!r} is not installed (no {path.name} in {PRETRAINED_DIR}; "
                              f"the installed ones are: {have})")
    return str(path)


def checkpoint_file(checkpoint):
    """The model file for ``checkpoint``: 'pretrained' or 'pretrained:NAME', a run folder (best.npz, else
    last.npz), or a .npz path."""
    if checkpoint == "pretrained" or checkpoint.startswith("pretrained:"):
        return pretrained_file(checkpoint.partition(":")[2])
    if os.path.isdir(checkpoint):
        for name in (BEST, LAST):
            path = os.path.join(checkpoint, name)
            if os.path.exists(path):
                return path
        raise CheckpointError(f"{checkpoint} holds no {BEST} or {LAST}: is it a training run's --out folder?")
    if os.path.exists(checkpoint):
        return checkpoint
    raise CheckpointError(f"no checkpoint at {checkpoint} (give a run folder, a .npz file, 'pretrained' or "
                          f"'pretrained:NAME')")


def intact_sibling(path):
    """For a damaged ``best.npz`` or ``last.npz``: '; the run's last.npz is intact: pass --checkpoint …' when the
    other file of its run folder reads whole, else ''."""
    folder, name = os.path.split(path)
    other = {BEST: LAST, LAST: BEST}.get(name)
    if other is None or not os.path.exists(os.path.join(folder, other)):
        return ""
    try:
        read_checkpoint(os.path.join(folder, other))
    except CheckpointError:
        return ""
    return f"; the run's {other} is intact: pass --checkpoint {os.path.join(folder, other)}"


def load_colorizer(checkpoint, device="cpu", flip_average=False):
    """(model in eval mode, config) from a checkpoint (see ``checkpoint_file``); ``flip_average``: a U-Net's
    predictions averaged with those for the mirror image (``mirror.mirror_averaged``)."""
    path = checkpoint_file(checkpoint)
    try:
        state = read_checkpoint(path)
    except DamagedCheckpoint as exc:
        raise DamagedCheckpoint(f"{exc}{intact_sibling(path)}") from None
    config = state.get("config")
    if not config or "model_kwargs" not in config:
        raise CheckpointError(f"{path} carries no colorizer config (was it written by minimlp-colorize?)")
    model = build_model(config)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: the weights do not fit the {config.get('model')} architecture: {exc}") from exc
    model.to(device=device)
    if flip_average:
        model = mirror_averaged(model)
    return model.eval(), config
