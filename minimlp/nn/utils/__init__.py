"""minimlp.nn.utils, torch.nn.utils's names: gradient clipping and flat parameter vectors (``clip_grad``),
packed sequences (``rnn``), an evaluation BatchNorm folded into the layer before it (``fusion``) and
``skip_init`` (``init``), weight and spectral normalisation (``parametrize``, ``parametrizations``, and the
older hooks ``weight_norm``, ``spectral_norm``)."""
from . import parametrizations, parametrize, rnn
from .clip_grad import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)
from .fusion import fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights
from .init import skip_init
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm", "parameters_to_vector",
           "vector_to_parameters", "rnn", "parametrize", "parametrizations",
           "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights",
           "skip_init", "weight_norm", "remove_weight_norm", "spectral_norm", "remove_spectral_norm"]
