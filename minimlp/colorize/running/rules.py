"""The rules a training run's settings must meet, shared by ``train``'s options and ``sweep``'s grid values.

Each check raises ``ValueError`` with one line naming the option (as the
caller spells it: ``--lr`` or ``--grid lr=0``) and what it must be; checks
create nothing, so a refused command leaves the disk as it found it.
"""
import math

from ..models.architectures import needs_two_images

# setting -> (test, what it must be); NaN is refused for every setting
LIMITS = {
    "epochs": (lambda v: v >= 1, "at least 1"),
    "batch_size": (lambda v: v >= 1, "at least 1"),
    "lr": (lambda v: 0 < v < math.inf, "a finite number greater than 0"),
    "weight_decay": (lambda v: 0 <= v < math.inf, "a finite number, 0 or more"),
    "train_size": (lambda v: v >= 2, "at least 2 (BatchNorm needs two images to train on)"),
}


def check_value(key, value, named=None):
    """Refuse ``value`` of setting ``key`` outside its range; ``named``: how the message shows it
    (default ``--key value``)."""
    if key in LIMITS and value is not None:
        ok, what = LIMITS[key]
        if math.isnan(value) or not ok(value):
            raise ValueError(f"{named or '--' + key.replace('_', '-') + ' ' + str(value)}: must be {what}")


def check_batchnorm_batch(config, named=None):
    """A model with BatchNorm1d cannot train on batches of one image."""
    size = config["training"]["batch_size"]
    if needs_two_images(config) and size < 2:
        raise ValueError(f"{named or f'--batch-size {size}'}: {config['model']} has BatchNorm, which needs at "
                         f"least 2 images per batch to train")


def check_config(config, named=None):
    """Every rule on a whole run config (its training settings, its train size, its batches).

    ``named(key, value)`` gives the text that names a setting in a message (default ``--key value``).
    """
    named = named or (lambda key, value: None)
    for key in ("epochs", "batch_size", "lr", "weight_decay"):
        check_value(key, config["training"][key], named(key, config["training"][key]))
    check_value("train_size", config.get("train_size"), named("train_size", config.get("train_size")))
    check_batchnorm_batch(config, named("batch_size", config["training"]["batch_size"]))
