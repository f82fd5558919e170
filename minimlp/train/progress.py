"""A progress bar with ETA for each epoch (tqdm), silent in quiet mode."""
import sys


def progress(iterable, total, description, quiet):
    """Wrap ``iterable`` in a tqdm bar on stderr unless ``quiet``."""
    if quiet:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=description, leave=False, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5)
