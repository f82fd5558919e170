"""The deprecated ``size_average`` and ``reduce`` arguments every torch loss still takes, read as torch reads them."""
import warnings


def legacy_reduction(size_average, reduce, reduction):
    """``reduction``, or where either deprecated argument is given: "mean" if both are true (None counts as
    true), "sum" if only ``reduce`` is, "none" otherwise, with torch's warning."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    result = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{result}' instead.",
                  UserWarning, stacklevel=3)
    return result
