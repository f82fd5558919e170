"""minimlp.nn.utils, torch.nn.utils's names: gradient clipping and flat parameter vectors (``clip_grad``), and
packed sequences (``rnn``)."""
from . import rnn
from .clip_grad import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm", "parameters_to_vector",
           "vector_to_parameters", "rnn"]
