"""Layers a ``Sequential`` runs as one: a BatchNorm1d/BatchNorm2d computing batch statistics, then a ReLU
(everywhere), a Sigmoid or a Tanh (where a kernel runs that pair: on the GPU); and, on the GPU, a Linear before
such a BatchNorm leaves its bias to it (``folds_bias``).

The pair's output f(γ x̂ + β) is written by BatchNorm's own pass, and its backward multiplies G by f′ inside
BatchNorm's backward (``formulas.batch_norm.forward_train_relu``, ``…_sigmoid``, ``…_tanh``; ops
``batch_norm_relu``, ``batch_norm_sigmoid``, ``batch_norm_tanh``): the activation's read and write of every
value, each way, are saved, and on the GPU its two kernel launches. The values are those of the two layers run
one after the other. Only the exact classes are fused: a subclass, a layer whose ``forward`` or ``backward`` was
replaced on the instance, or one with forward or backward hooks, runs as itself.

The bias b of a Linear (on a 2-d input) is, on the GPU, a kernel of its own, reading and writing the whole
output. Before a BatchNorm computing batch statistics the Linear writes z = x Wᵀ alone, and the BatchNorm's
kernels read z + b per channel in their passes (``formulas.batch_norm.forward_train``'s ``shift``), rounded as
the Linear's own addition rounds it. Nothing else reads the Linear's output; its backward is unchanged
(∂L/∂b = Σ ∂L/∂z). On the CPU the products add b inside them, as the convolutions do everywhere (their bias
rides on the copy out of the channel-major product), so there nothing would be saved.
"""
from ..backend import device_of
from .activation import ReLU, Sigmoid, Tanh
from .batchnorm import BatchNorm1d
from .batchnorm2d import BatchNorm2d
from .linear import Linear
from .module import claim_backward, mark_forward

_REPLACEABLE = ("forward", "backward", "backward_parameters")


def _plain(*modules):
    """Exact layers as the library wrote them: nothing replaced on the instance, no hooks."""
    return not any(name in vars(m) for m in modules for name in _REPLACEABLE) and not any(
        m._has_hooks() for m in modules)


def fuses(first, second, x):
    """Whether ``first`` then ``second`` run as one pass on input ``x``."""
    return (type(first) in (BatchNorm1d, BatchNorm2d) and type(second) in (ReLU, Sigmoid, Tanh)
            and _plain(first, second) and first._fuses_activation(x, second))


def folds_bias(layer, norm, x):
    """Whether ``layer`` on input ``x`` leaves its bias to the BatchNorm ``norm`` after it."""
    return (type(layer) is Linear and x.ndim == 2 and layer.bias is not None and type(norm) is BatchNorm1d
            and device_of(x) == "gpu" and (norm.training or not norm.track_running_stats) and _plain(layer, norm))


def forward_unbiased(layer, x):
    """``layer(x)`` without its bias (the next layer adds it: ``folds_bias``)."""
    mark_forward(layer)
    return layer._forward(x, with_bias=False)


def forward_shifted(norm, x, shift):
    """``norm(x + shift)``, ``shift`` the bias the layer before left out."""
    mark_forward(norm)
    return norm._forward_shifted(x, shift)


def forward(first, second, x, shift=None):
    """``second(first(x + shift))`` in one pass (``shift`` None: ``second(first(x))``)."""
    mark_forward(first)
    mark_forward(second)
    return first._forward_activation(x, second, shift)


def backward(first, second, dout, want_dx=True):
    """∂L/∂x of the pair ``first``, ``second`` (None unless ``want_dx``), the parameters' gradients added; refused
    where either already ran backward since its last call (``module.claim_backward``)."""
    claim_backward(second)
    claim_backward(first)
    return first._backward_activation(dout, want_dx)
