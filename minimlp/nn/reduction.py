"""A loss's ``reduction``, and the deprecated ``size_average`` and ``reduce`` every torch loss still takes, read as
torch reads them."""
import warnings

REDUCTIONS = ("mean", "sum", "none")


def reduction_argument(owner, size_average, reduce, reduction, allowed=REDUCTIONS):
    """``reduction`` checked against ``allowed``, or, where either deprecated argument is given, "mean" if both
    are true (None counts as true), "sum" if only ``reduce`` is, "none" otherwise, with torch's warning."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                      f"instead.", UserWarning, stacklevel=3)
    if reduction not in allowed:
        choices = "'mean', 'sum' or 'none'" if allowed == REDUCTIONS else f"one of {allowed}"
        raise ValueError(f"{owner}: reduction must be {choices}, got {reduction!r}")
    return reduction
