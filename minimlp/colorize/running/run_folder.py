"""A training run's folder while it trains: locked against a second training, and left as found on an early error.

``run_folder`` holds the folder's lock (``minimlp.train.lock``) for the run.
If the run fails (or is interrupted) before its first checkpoint, nothing in
the folder can be resumed: the ``config.json`` it wrote is removed again, and
the folder too when this run created it and it is left empty.
"""
import os
from contextlib import contextmanager

from ...train.checkpoint import LAST
from ...train.lock import folder_lock

CONFIG = "config.json"


@contextmanager
def run_folder(out, command=None):
    """Lock ``out`` (created if needed) for the ``with`` block; tidy it up after a failure before epoch 1.

    ``command``: the command line of a ``train`` command (the lock file names it, and a second
    training is told to choose another ``--out``); None for a run of a study or a sweep.
    """
    created = not os.path.isdir(out)
    try:
        with folder_lock(out, "--out" if command else None, command):
            try:
                yield out
            except BaseException:
                if not os.path.exists(os.path.join(out, LAST)) and os.path.exists(os.path.join(out, CONFIG)):
                    os.remove(os.path.join(out, CONFIG))
                raise
    except BaseException:
        if created and os.path.isdir(out) and not os.listdir(out):
            os.rmdir(out)
        raise
