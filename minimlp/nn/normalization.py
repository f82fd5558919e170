"""What the normalisation layers share: γ and β, the running statistics, and a backward that checks G's shape
and hands it to the kernel the forward chose (``BatchNorm1d``, ``LayerNorm``, ``GroupNorm``, ``InstanceNorm1d/2d/3d``,
``RMSNorm``)."""
import numpy as np

from ..backend import get_array_module
from .checks import check_grad_like
from .module import Module
from .parameter import Parameter


class Normalization(Module):
    """A layer y = γ·x̂ + β whose forward keeps (backward, saved, input shape) with ``_keep``; backward runs
    ``backward(G, saved, weight, bias, want_dx)``, the input gradient only when asked."""

    _optional_state = ("num_batches_tracked",)   # torch fills it in when a state_dict lacks it

    def __init__(self):
        super().__init__()
        self._cache = None

    def _affine(self, shape, weight, bias, dtype):
        """γ = 1 (if ``weight``) and β = 0 (if ``weight`` and ``bias``) of ``shape``, as torch initialises them."""
        self.weight = Parameter(np.ones(shape, dtype=dtype)) if weight else None
        self.bias = Parameter(np.zeros(shape, dtype=dtype)) if weight and bias else None

    def _running_statistics(self, count, dtype, track):
        """running_mean = 0, running_var = 1 and num_batches_tracked = 0 as buffers (torch's names), or the three
        names bound to None where the statistics are not tracked (as torch)."""
        self.register_buffer("running_mean", np.zeros(count, dtype=dtype) if track else None)
        self.register_buffer("running_var", np.ones(count, dtype=dtype) if track else None)
        self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64) if track else None)

    def reset_running_stats(self):
        """running_mean = 0, running_var = 1 and num_batches_tracked = 0 again, in place (torch's)."""
        if self._buffers.get("running_mean") is not None:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self):
        """The running statistics reset, γ = 1 and β = 0 again, in place (torch's ``reset_parameters``)."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def _keep(self, backward, saved, shape):
        self._cache = (backward, saved, tuple(shape))

    def _empty_batch_output(self, x):
        """An input with no samples (N = 0): an empty output, and a backward adding zero gradients, as torch."""
        self._keep(zero_gradients, x.shape, x.shape)
        return x.copy()

    def backward(self, dout):
        return self._backward(dout, True)

    def backward_parameters(self, dout):
        self._backward(dout, False)

    def _backward(self, dout, want_dx):
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])
        backward, saved, _ = self._cache
        return backward(dout, saved, self.weight, self.bias, want_dx)

    def _on_moved(self):
        self._cache = None


def data(parameter):
    """A parameter's array, or None for an absent one."""
    return None if parameter is None else parameter.data


def zero_gradients(dout, shape, weight, bias, want_dx=True):
    """The backward of an empty batch: zeros added to each parameter's gradient; ∂L/∂x empty, of ``shape``."""
    for parameter in (weight, bias):
        if parameter is not None:
            parameter.accumulate(get_array_module(parameter.data).zeros_like(parameter.data))
    return get_array_module(dout).zeros(shape, dtype=dout.dtype) if want_dx else None
