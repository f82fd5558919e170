"""The maths of every op, as plainly as NumPy allows: what runs where no kernel applies, and what each kernel
is tested against. Functions work on NumPy or CuPy (the module of their inputs) and give their formula.
Forward functions take arrays; backward functions take the parameters (``data``, ``accumulate(gradient)``),
add ∂L/∂θ into them and return ∂L/∂x; optimizer updates change the parameter and its state in place.
``winograd`` is another way to compute ``conv.conv2d`` (fewer multiplies): the formula its kernel is tested
against, itself tested against the direct one.
"""

from . import (
               activation,
               adam,
               adaptive_max,
               batch_norm,
               conv,
               cross_entropy,
               distance,
               dropout,
               embedding,
               fold,
               gaussian_nll,
               gelu,
               glu,
               gru_cell,
               im2col,
               linear,
               local_response_norm,
               loss,
               lstm_cell,
               margin,
               multilabel,
               nll,
               norm,
               piecewise_activation,
               pointwise_loss,
               pooling,
               ranking,
               recurrent,
               resample,
               rmsprop,
               rnn_cell,
               sgd,
               shuffle,
               smooth_activation,
               soft_cross_entropy,
               soft_encoding,
               softmax,
               special,
               winograd,
)

__all__ = ["activation", "adam", "batch_norm", "conv", "cross_entropy", "dropout", "embedding", "gelu", "glu",
           "im2col", "linear", "loss", "margin", "nll", "norm", "piecewise_activation", "pointwise_loss", "pooling",
           "resample", "rmsprop", "sgd", "shuffle", "smooth_activation", "soft_cross_entropy", "soft_encoding",
           "softmax", "special", "winograd",
           "adaptive_max", "local_response_norm", "fold", "distance", "gaussian_nll", "multilabel", "ranking",
           "recurrent", "rnn_cell", "lstm_cell", "gru_cell"]
