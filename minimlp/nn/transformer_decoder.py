"""TransformerDecoderLayer, TransformerDecoder and Transformer: torch's blocks, the memory's gradient by hand."""
import copy

import numpy as np

from ..backend import get_array_module, xp_for
from . import init
from .attention import MultiheadAttention
from .checks import InputError, check_floating, check_grad_like, whole
from .container import ModuleList
from .dropout import Dropout
from .layernorm import LayerNorm
from .linear import Linear
from .module import Module, backward_of
from .transformer import (
    TransformerEncoder,
    TransformerEncoderLayer,
    _detect_is_causal_mask,
    _TransformerLayer,
    generate_square_subsequent_mask,
)


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, attention over the encoder's output (the memory m), then a feed-forward network, each with a
    residual connection and a LayerNorm (torch's).

    Post-norm (default):  x₁ = norm1(x + SA(x)),  x₂ = norm2(x₁ + CA(x₁, m)),  y = norm3(x₂ + FF(x₂));
    pre-norm (``norm_first``):  x₁ = x + SA(norm1(x)),  x₂ = x₁ + CA(norm2(x₁), m),  y = x₂ + FF(norm3(x₂));
    SA(x) = dropout1(self_attn(x, x, x)), CA(x, m) = dropout2(multihead_attn(x, m, m)),
    FF(x) = dropout3(linear2(dropout(activation(linear1(x))))).

    tgt x (T, N, d_model) and memory m (S, N, d_model) ((N, ·, d_model) with ``batch_first``; one sequence each
    without N); ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``, the masks going to SA and CA
    as MultiheadAttention's. Submodules as torch's; ``activation`` as in TransformerEncoderLayer.

    ``backward(G)`` returns (∂L/∂tgt, ∂L/∂memory): each residual adds its two paths, SA's three input gradients
    add up to ∂L/∂x₁'s share, and CA's key and value gradients are ∂L/∂m (its query's flows on down the tgt path).
    Caches nothing itself; each submodule keeps its own.
    """

    _ff_dropout = "dropout3"

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        d_model, dim_feedforward = whole(d_model, "d_model"), whole(dim_feedforward, "dim_feedforward")
        options = dict(dropout=dropout, batch_first=batch_first, bias=bias, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, **options)
        self.multihead_attn = MultiheadAttention(d_model, nhead, **options)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        for name in ("norm1", "norm2", "norm3"):
            setattr(self, name, LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for name in ("dropout1", "dropout2", "dropout3"):
            setattr(self, name, Dropout(dropout))
        self._set_activation(activation)
        if device is not None:
            self.to(device=device)
        self._shape = None

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        check_floating(self, tgt, "tgt")
        check_floating(self, memory, "memory")
        own = dict(attn_mask=tgt_mask, key_padding_mask=tgt_key_padding_mask, is_causal=tgt_is_causal)
        other = dict(attn_mask=memory_mask, key_padding_mask=memory_key_padding_mask, is_causal=memory_is_causal)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), own)
            x = x + self._mha_block(self.norm2(x), memory, other)
            y = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, own))
            x = self.norm2(x + self._mha_block(x, memory, other))
            y = self.norm3(x + self._ff_block(x))
        self._shape = tuple(y.shape)
        return y

    def _sa_block(self, x, masks):
        return self.dropout1(self.self_attn(x, x, x, need_weights=False, **masks)[0])

    def _mha_block(self, x, memory, masks):
        return self.dropout2(self.multihead_attn(x, memory, memory, need_weights=False, **masks)[0])

    def backward(self, dout):
        check_grad_like(self, dout, self._shape)
        if self.norm_first:
            g = dout + backward_of(self.norm3, self._ff_backward(dout))
            dq, dk, dv = backward_of(self.multihead_attn, backward_of(self.dropout2, g))
            g = g + backward_of(self.norm2, dq)
            return g + backward_of(self.norm1, self._sa_backward(g)), dk + dv
        g = backward_of(self.norm3, dout)
        g = backward_of(self.norm2, g + self._ff_backward(g))
        dq, dk, dv = backward_of(self.multihead_attn, backward_of(self.dropout2, g))
        g = backward_of(self.norm1, g + dq)
        return g + self._sa_backward(g), dk + dv

    def _sa_backward(self, g):
        dq, dk, dv = backward_of(self.self_attn, backward_of(self.dropout1, g))
        return dq + dk + dv


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` in ``layers``, each reading the same memory, then ``norm`` if
    given. ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``; ``tgt_is_causal=None`` detects a
    causal ``tgt_mask``, as torch. ``backward(G)`` returns (∂L/∂tgt, ∂L/∂memory), ∂L/∂memory summed over the
    layers."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"TransformerDecoder: decoder_layer is a {type(decoder_layer).__name__}, not a minimlp "
                            f"Module")
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(whole(num_layers, "num_layers"))])
        self.num_layers = num_layers
        self.norm = norm
        self._shape = None

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        check_floating(self, tgt, "tgt")
        batch_first = getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False) \
            if len(self.layers) else False
        length = tgt.shape[0] if tgt.ndim == 2 else tgt.shape[1 if batch_first else 0]
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, length)
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                      memory_is_causal=memory_is_causal)
        if self.norm is not None:
            x = self.norm(x)
        self._shape, self._memory_shape = tuple(x.shape), tuple(memory.shape)
        return x

    def backward(self, dout):
        check_grad_like(self, dout, self._shape)
        if self.norm is not None:
            dout = backward_of(self.norm, dout)
        d_memory = get_array_module(dout).zeros(self._memory_shape, dtype=dout.dtype)
        for layer in reversed(list(self.layers)):
            dout, d = backward_of(layer, dout)
            d_memory += d
        return dout, d_memory


class Transformer(Module):
    """The encoder–decoder model of Vaswani et al. (2017), torch's: ``encoder`` = TransformerEncoder of
    ``num_encoder_layers`` layers and a final LayerNorm, ``decoder`` = TransformerDecoder of ``num_decoder_layers``
    and a final LayerNorm (or ``custom_encoder``/``custom_decoder``); every parameter of two or more axes Xavier
    uniform, as torch's ``_reset_parameters``.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False)``: y = decoder(tgt, encoder(src)). ``backward(G)`` returns (∂L/∂src, ∂L/∂tgt): the
    decoder's ∂L/∂memory goes back through the encoder. ``generate_square_subsequent_mask(sz)`` is torch's causal
    mask (−∞ above the diagonal).
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        layer_options = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first,
                         bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*layer_options, dtype=dtype), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*layer_options, dtype=dtype), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        if device is not None:
            self.to(device=device)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        check_floating(self, src, "src")
        check_floating(self, tgt, "tgt")
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and (tgt.ndim < 2 or src.shape[batch_axis] != tgt.shape[batch_axis]):
            raise InputError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise InputError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    def backward(self, dout):
        d_tgt, d_memory = backward_of(self.decoder, dout)
        return backward_of(self.encoder, d_memory), d_tgt

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """(sz, sz): −∞ above the diagonal, 0 elsewhere (float32 unless ``dtype``), on ``device`` ('cpu', 'gpu')."""
        return generate_square_subsequent_mask(sz, np.float32 if dtype is None else dtype,
                                               np if device is None else xp_for(device))
