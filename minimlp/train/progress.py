"""A progress bar with ETA for each epoch (tqdm) on a terminal; nothing in quiet mode or in a log file."""
import sys


def progress(iterable, total, description, quiet):
    """Wrap ``iterable`` in a tqdm bar on stderr unless ``quiet``.

    Where stderr is not a terminal (a log file, a pipe) the bar is disabled: its carriage-return redraws
    would fill the file with half lines. The per-epoch lines of ``fit`` are written either way.
    """
    if quiet:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=description, leave=False, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5, disable=None)
