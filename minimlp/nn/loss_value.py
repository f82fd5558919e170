"""A reduced loss's value: a checked Python float on the CPU, a 0-d array left on the GPU.

Reading a number computed on the GPU makes the host wait until the GPU has finished everything queued before it,
so a training step that reads its loss cannot overlap the next step's launches with this step's work. On the GPU
a loss therefore returns ``total / divisor`` as a 0-d CuPy array: ``float(loss)`` (torch's ``loss.item()``)
reads it when the caller wants the number, and ``minimlp.train.fit`` reads the running loss once per
progress update, where it also stops a diverged training. On the CPU reading costs nothing: the loss is a
Python float, and a NaN or infinite value raises FloatingPointError at once, naming what is not finite.
"""
from ..backend import device_of


def reduced_loss(total, divisor, check):
    """``total / divisor`` (``divisor`` a number: 1 for "sum"); ``check(value)`` raises on the CPU where the
    value says the training diverged, and is not called on the GPU (it would read the device)."""
    if device_of(total) == "gpu":
        return total if divisor == 1 else total / divisor
    value = float(total)
    if divisor != 1:
        value /= divisor
    check(value)
    return value
