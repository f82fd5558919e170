"""TransformerEncoderLayer and TransformerEncoder: torch's blocks, with the residual paths' gradients added by hand."""
import copy

import numpy as np

from ..backend import get_array_module
from .activation import GELU, ReLU
from .attention import MultiheadAttention, _canonical_mask
from .checks import check_floating, check_grad_like, whole
from .container import ModuleList
from .dropout import Dropout
from .layernorm import LayerNorm
from .linear import Linear
from .module import Module, backward_of


def _torchs_own(activation):
    """Whether ``activation`` is torch's ``relu`` or ``gelu`` function (torch.nn.functional's, torch's), which torch's
    layers also take; minimlp runs its own ReLU or GELU (exact) for it."""
    return (callable(activation) and getattr(activation, "__name__", None) in ("relu", "gelu")
            and str(getattr(activation, "__module__", "")).startswith("torch"))


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: the activation and the feed-forward block
    FF(x) = dropout_ff(linear2(dropout(activation(linear1(x))))), with ``dropout_ff`` the layer's last dropout."""

    _ff_dropout = "dropout2"

    def _set_activation(self, activation):
        if _torchs_own(activation):
            activation = activation.__name__   # torch's F.relu or F.gelu given as a function: the same maths here
        if isinstance(activation, str):
            if activation not in ("relu", "gelu"):
                raise RuntimeError(f"activation should be relu/gelu, not {activation}")
            object.__setattr__(self, "activation", ReLU() if activation == "relu" else GELU())
        elif isinstance(activation, Module):
            self.activation = activation
        else:
            raise TypeError(f"{type(self).__name__}: activation must be 'relu', 'gelu' or a minimlp Module (one with a "
                            f"backward), got {activation!r}")

    def _ff_block(self, x):
        return getattr(self, self._ff_dropout)(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _ff_backward(self, g):
        for module in (getattr(self, self._ff_dropout), self.linear2, self.dropout, self.activation, self.linear1):
            g = backward_of(module, g)
        return g


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention then a feed-forward network, each with a residual connection and a LayerNorm (torch's).

    Post-norm (``norm_first=False``, the default):  x₁ = norm1(x + SA(x)),  y = norm2(x₁ + FF(x₁));
    pre-norm (``norm_first=True``):  x₁ = x + SA(norm1(x)),  y = x₁ + FF(norm2(x₁));
    with SA(x) = dropout1(self_attn(x, x, x)) and FF(x) = dropout2(linear2(dropout(activation(linear1(x))))).

    x is (S, N, d_model), (N, S, d_model) with ``batch_first``, or one sequence (S, d_model); y has its shape.
    Submodules and parameters are torch's (``self_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1``,
    ``norm2``, ``dropout1``, ``dropout2``); ``activation`` is "relu", "gelu" (kept unregistered, as torch keeps
    the function) or a minimlp activation module (registered, as torch registers a module).
    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: the masks are
    MultiheadAttention's ``attn_mask`` and ``key_padding_mask``.

    Backward, for G = ∂L/∂y, each residual adding its two paths: post-norm  G₁ = norm2ᵀ(G),
    G_x₁ = G₁ + FFᵀ(G₁),  G₂ = norm1ᵀ(G_x₁),  ∂L/∂x = G₂ + Σ SAᵀ(G₂) (the attention's three input gradients
    summed: query, key and value are all x); pre-norm  G_x₁ = G + norm2ᵀ(FFᵀ(G)),
    ∂L/∂x = G_x₁ + norm1ᵀ(Σ SAᵀ(G_x₁)). Caches nothing itself; each submodule keeps its own.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        d_model, dim_feedforward = whole(d_model, "d_model"), whole(dim_feedforward, "dim_feedforward")
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self._set_activation(activation)
        if device is not None:
            self.to(device=device)
        self._shape = None

    def _set_activation(self, activation):
        super()._set_activation(activation)
        kind = type(self.activation)
        self.activation_relu_or_gelu = 1 if kind is ReLU else 2 if kind is GELU else 0

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        check_floating(self, src, "src")
        src_key_padding_mask = _canonical_mask(self, src_key_padding_mask, "src_key_padding_mask", src,
                                               other=src_mask, other_name="src_mask")
        src_mask = _canonical_mask(self, src_mask, "src_mask", src)
        masks = dict(attn_mask=src_mask, key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), masks)
            y = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, masks))
            y = self.norm2(x + self._ff_block(x))
        self._shape = tuple(y.shape)
        return y

    def _sa_block(self, x, masks):
        return self.dropout1(self.self_attn(x, x, x, need_weights=False, **masks)[0])

    def backward(self, dout):
        check_grad_like(self, dout, self._shape)
        if self.norm_first:
            g = dout + backward_of(self.norm2, self._ff_backward(dout))
            return g + backward_of(self.norm1, self._sa_backward(g))
        g = backward_of(self.norm2, dout)
        g = backward_of(self.norm1, g + self._ff_backward(g))
        return g + self._sa_backward(g)

    def _sa_backward(self, g):
        dq, dk, dv = backward_of(self.self_attn, backward_of(self.dropout1, g))
        return dq + dk + dv


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` in ``layers`` (a ModuleList), applied in turn, then ``norm``
    if given: y = norm(f_K(… f_1(x))). ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``
    passes the masks to every layer; ``is_causal=None`` detects torch's causal mask (−∞ above the diagonal) in
    ``mask``, as torch. Backward: ∂L/∂x through ``norm`` and the layers in reverse. All layers start with the
    same parameters, as torch's (re-initialise them if that matters).

    ``enable_nested_tensor`` and ``mask_check`` are kept as attributes: minimlp has no nested tensors, so
    ``use_nested_tensor`` is False (without torch's warning about its fast path) and padded positions come out as
    torch's reference path computes them (its nested-tensor path gives zeros there).
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer is a {type(encoder_layer).__name__}, not a minimlp "
                            f"Module")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(whole(num_layers, "num_layers"))])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check
        self._shape = None

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        check_floating(self, src, "src")
        src_key_padding_mask = _canonical_mask(self, src_key_padding_mask, "src_key_padding_mask", src,
                                               other=mask, other_name="mask")
        mask = _canonical_mask(self, mask, "mask", src)
        first = self.layers[0] if len(self.layers) else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        length = src.shape[0] if src.ndim == 2 else src.shape[1 if batch_first else 0]
        is_causal = _detect_is_causal_mask(mask, is_causal, length)
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            x = self.norm(x)
        self._shape = tuple(x.shape)
        return x

    def backward(self, dout):
        check_grad_like(self, dout, self._shape)
        if self.norm is not None:
            dout = backward_of(self.norm, dout)
        for layer in reversed(list(self.layers)):
            dout = backward_of(layer, dout)
        return dout


def generate_square_subsequent_mask(size, dtype=np.float64, xp=np):
    """torch's causal mask: (size, size), −∞ above the diagonal (a query may not look ahead), 0 elsewhere (for a
    boolean dtype: True above the diagonal)."""
    if np.dtype(dtype) == np.bool_:
        return xp.triu(xp.ones((size, size), dtype=bool), 1)
    return xp.triu(xp.full((size, size), -np.inf, dtype=dtype), 1)


def _detect_is_causal_mask(mask, is_causal, size):
    """torch's ``_detect_is_causal_mask``: ``is_causal`` if given, else whether ``mask`` is the causal mask of
    ``size``."""
    if is_causal is not None or mask is None:
        return is_causal is True
    xp = get_array_module(mask)
    causal = generate_square_subsequent_mask(size, mask.dtype, xp)
    return tuple(mask.shape) == causal.shape and bool((mask == causal).all())
