"""Layer pairs a ``Sequential`` runs as one: a BatchNorm1d/BatchNorm2d computing batch statistics, then a ReLU
(everywhere), a Sigmoid or a Tanh (where a kernel runs that pair: on the GPU).

The pair's output f(γ x̂ + β) is written by BatchNorm's own pass, and its backward multiplies G by f′ inside
BatchNorm's backward (``formulas.batch_norm.forward_train_relu``, ``…_sigmoid``, ``…_tanh``; ops
``batch_norm_relu``, ``batch_norm_sigmoid``, ``batch_norm_tanh``): the activation's read and write of every
value, each way, are saved, and on the GPU its two kernel launches. The values are those of the two layers run
one after the other. Only the exact classes are fused: a subclass, a layer whose ``forward`` or ``backward`` was
replaced on the instance, or one with forward or backward hooks, runs as itself.
"""
from .activation import ReLU, Sigmoid, Tanh
from .batchnorm import BatchNorm1d
from .batchnorm2d import BatchNorm2d
from .module import claim_backward, mark_forward

_REPLACEABLE = ("forward", "backward", "backward_parameters")


def fuses(first, second, x):
    """Whether ``first`` then ``second`` run as one pass on input ``x``."""
    return (type(first) in (BatchNorm1d, BatchNorm2d) and type(second) in (ReLU, Sigmoid, Tanh)
            and not any(name in vars(m) for m in (first, second) for name in _REPLACEABLE)
            and not (first._has_hooks() or second._has_hooks())
            and first._fuses_activation(x, second))


def forward(first, second, x):
    """``second(first(x))`` in one pass."""
    mark_forward(first)
    mark_forward(second)
    return first._forward_activation(x, second)


def backward(first, second, dout, want_dx=True):
    """∂L/∂x of the pair ``first``, ``second`` (None unless ``want_dx``), the parameters' gradients added; refused
    where either already ran backward since its last call (``module.claim_backward``)."""
    claim_backward(second)
    claim_backward(first)
    return first._backward_activation(dout, want_dx)
