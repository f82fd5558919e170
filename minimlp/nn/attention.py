"""MultiheadAttention: torch's ``nn.MultiheadAttention`` with a hand-written backward (``formulas.attention``)."""
import warnings

import numpy as np

from ..backend import get_array_module
from ..kernels import ops
from ..random import rng_for
from . import init
from .checks import ArgumentAssertionError, InputError, check_floating, check_grad_like, check_like, whole
from .linear import Linear
from .module import Module, backward_of
from .parameter import Parameter


class NonDynamicallyQuantizableLinear(Linear):
    """The Linear that MultiheadAttention keeps as ``out_proj``, under torch's class name (its repr)."""


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al. 2017), torch's arguments, parameters, initialisation and results.

    For query x_q (L, N, E), key x_k (S, N, kdim) and value x_v (S, N, vdim) ((N, L, E), … with ``batch_first``;
    (L, E), (S, kdim), (S, vdim) for one sequence), h heads of d = E/h features:

        Q = x_q W_qᵀ + b_q,  K = x_k W_kᵀ + b_k,  V = x_v W_vᵀ + b_v,  each split into h heads (N·h, ·, d);
        Pᵢ = softmax(Qᵢ Kᵢᵀ/√d + M),  Oᵢ = (Pᵢ ⊙ D) Vᵢ,  y = concat(O₁ … O_h) W_oᵀ + b_o.

    W_q, W_k, W_v are the row blocks of ``in_proj_weight`` (3E, E) when kdim = vdim = E, else ``q_proj_weight``
    (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim); b = ``in_proj_bias`` (3E,); W_o, b_o are
    ``out_proj`` (a Linear); ``add_bias_kv`` appends ``bias_k``, ``bias_v`` (1, 1, E) to K and V as one more
    key, and ``add_zero_attn`` a key and value of zeros (after the heads split). Initialised as torch: Xavier
    uniform on the in-projection, zero biases, ``out_proj.weight`` as a Linear's, ``bias_k``/``bias_v`` Xavier
    normal. M adds the masks: ``attn_mask`` (L, S), or (N·h, L, S) one per batch entry and head, and
    ``key_padding_mask`` (N, S) ((S,) unbatched), each boolean (True: may not attend, −∞) or float (added). D is
    attention dropout (probability ``dropout``, training only, masks from minimlp's generator).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns (y, weights): y of the query's shape with E features;
    weights P ⊙ D (after dropout, as torch) averaged over heads, (N, L, S), or per head (N, h, L, S), without
    the batch axis for one sequence; None when ``need_weights`` is False. As torch: ``is_causal`` needs an
    ``attn_mask``, and replaces it by the causal mask where ``need_weights`` is False and there is no
    ``key_padding_mask``; a query whose keys are all masked gets NaN with ``need_weights`` and zero attention
    without (torch's two paths).

    ``backward(grad_output, grad_weights=None)``: ∂L/∂y (and ∂L/∂weights, if they were used) → the tuple
    (∂L/∂query, ∂L/∂key, ∂L/∂value), each of its input's shape, always three: for self-attention, attn(x, x, x),
    ∂L/∂x is their sum (the caller adds the paths' gradients, as ``Residual`` adds its two). Adds ∂L/∂θ to every
    parameter's gradient. Backward: ``formulas.attention`` (dS = P ⊙ (dP − rowsum(dP ⊙ P)), …), then the
    projections' ∂L/∂W = Gᵀ x. Caches the projected inputs, Q, K, V per head, P and D, and the input rows.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        embed_dim, num_heads = whole(embed_dim, "embed_dim"), whole(num_heads, "num_heads")
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else whole(kdim, "kdim")
        self.vdim = embed_dim if vdim is None else whole(vdim, "vdim")
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise ArgumentAssertionError("embed_dim must be divisible by num_heads")
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype=dtype))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = Parameter(np.empty((embed_dim, embed_dim), dtype=dtype))
            self.k_proj_weight = Parameter(np.empty((embed_dim, self.kdim), dtype=dtype))
            self.v_proj_weight = Parameter(np.empty((embed_dim, self.vdim), dtype=dtype))
            self.in_proj_weight = None
        self.in_proj_bias = Parameter(np.empty(3 * embed_dim, dtype=dtype)) if bias else None
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(np.empty((1, 1, embed_dim), dtype=dtype))
            self.bias_v = Parameter(np.empty((1, 1, embed_dim), dtype=dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()
        if device is not None:
            self.to(device=device)
        self._cache = None

    def _reset_parameters(self):
        """torch's: Xavier uniform on the in-projection, zero biases, Xavier normal on ``bias_k``/``bias_v``."""
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                init.xavier_normal_(b)

    def _projection_weights(self):
        """The in-projection as the packed parameter or the tuple of three, and its three arrays."""
        if self._qkv_same_embed_dim:
            w, e = self.in_proj_weight, self.embed_dim
            return w, tuple(w.data[i * e:(i + 1) * e] for i in range(3))
        weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return weights, tuple(w.data for w in weights)

    # forward ----------------------------------------------------------------
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        reference = self.out_proj.weight.data
        for name, x in (("query", query), ("key", key), ("value", value)):
            check_floating(self, x, name)
            check_like(self, x, reference)
        key_padding_mask = _canonical_mask(self, key_padding_mask, "key_padding_mask", query,
                                           other=attn_mask, other_name="attn_mask")
        attn_mask = _canonical_mask(self, attn_mask, "attn_mask", query)
        batched = self._check_shapes(query, key, value, key_padding_mask, attn_mask)
        same = (key is query, value is key, value is query)
        e, h, d = self.embed_dim, self.num_heads, self.head_dim
        if not batched:                                 # one sequence: a batch of one, batch first
            query, key, value = query[None], key[None], value[None]
            key_padding_mask = None if key_padding_mask is None else key_padding_mask[None]
        elif not self.batch_first:                      # (T, N, ·) → (N, T, ·) views
            query, key, value = (x.transpose(1, 0, 2) for x in (query, key, value))
        n, length, source = query.shape[0], query.shape[1], key.shape[1]
        if query.shape[2] != e:
            raise ArgumentAssertionError(f"was expecting embedding dimension of {e}, but got {query.shape[2]}")
        if key.shape[2] != self.kdim or value.shape[2] != self.vdim or key.shape[0] != n:
            raise InputError(f"{self!r}: expected key (…, {self.kdim}) and value (…, {self.vdim}) with the query's "
                             f"batch size {n}, got key {tuple(key.shape)} and value {tuple(value.shape)} (batch first)")
        if is_causal and attn_mask is None:
            raise InputError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                             "method `generate_square_subsequent_mask` to create this mask.")
        causal = is_causal and key_padding_mask is None and not need_weights    # torch's SDPA takes the hint
        # the in-projection, on rows (N·T, features); self-attention projects one copy of x three times
        rows = [query.reshape(-1, e)]
        rows.append(rows[0] if same[0] else key.reshape(-1, key.shape[2]))
        rows.append(rows[1] if same[1] else rows[0] if same[2] else value.reshape(-1, value.shape[2]))
        _, arrays = self._projection_weights()
        biases = None if self.in_proj_bias is None else tuple(self.in_proj_bias.data[i * e:(i + 1) * e]
                                                               for i in range(3))
        q, k, v = ops.attention.run("project", *rows, arrays, biases)
        k, v, extra = self._extra_keys(k.reshape(n, source, e), v.reshape(n, source, e))
        keys = source + extra
        mask = self._mask(None if causal else attn_mask, key_padding_mask, (n, length, source, extra), q.dtype)
        xp = get_array_module(q)
        if causal:
            mask = xp.triu(xp.full((length, keys), -np.inf, dtype=q.dtype), 1)[None]
        keep = self._dropout_mask(xp, (n * h, length, keys), q.dtype)
        o, weights, saved = ops.attention.run("forward", _heads(q.reshape(n, length, e), h), _heads(k, h),
                                              _heads(v, h), mask, keep, not need_weights)
        y = self.out_proj(o.reshape(n, h, length, d).transpose(0, 2, 1, 3).reshape(n * length, e))
        y = y.reshape(n, length, e)
        y = y[0] if not batched else y if self.batch_first else xp.ascontiguousarray(y.transpose(1, 0, 2))
        if need_weights:
            weights = weights.reshape(n, h, length, keys)
            weights = weights.mean(axis=1) if average_attn_weights else weights
            weights = weights if batched else weights[0]
        else:
            weights = None
        self._cache = dict(saved=saved, rows=rows, extra=extra, shapes=(n, length, source), batched=batched,
                           output_shape=tuple(y.shape), weights_shape=None if weights is None else weights.shape,
                           average=average_attn_weights,
                           input_shapes=tuple((x.shape[1], x.shape[2]) for x in (query, key, value)))
        return y, weights

    def _extra_keys(self, k, v):
        """K and V (N, S, E) with ``bias_k``/``bias_v`` and then a zero key and value appended where asked; and how
        many keys were added."""
        xp, (n, _, e) = get_array_module(k), k.shape
        extra = 0
        if self.bias_k is not None:
            k = xp.concatenate([k, xp.broadcast_to(self.bias_k.data, (n, 1, e))], axis=1)
            v = xp.concatenate([v, xp.broadcast_to(self.bias_v.data, (n, 1, e))], axis=1)
            extra += 1
        if self.add_zero_attn:
            k = xp.concatenate([k, xp.zeros((n, 1, e), dtype=k.dtype)], axis=1)
            v = xp.concatenate([v, xp.zeros((n, 1, e), dtype=v.dtype)], axis=1)
            extra += 1
        return k, v, extra

    def _mask(self, attn_mask, key_padding_mask, sizes, dtype):
        """M = attn_mask + key_padding_mask, (1 or N·h, 1 or L, S + extra), the added keys never masked; None
        without masks. Shapes checked with torch's messages."""
        n, length, source, extra = sizes
        mask = _attention_mask(self, attn_mask, n, length, source)
        if extra and mask is not None:
            xp = get_array_module(mask)
            mask = xp.concatenate([mask, xp.zeros(mask.shape[:2] + (extra,), dtype=dtype)], axis=2)
        if key_padding_mask is None:
            return mask
        if key_padding_mask.shape[0] != n:
            raise ArgumentAssertionError(f"Expected key_padded_mask.shape[0] to be {n}, but got "
                                         f"{key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != source:
            raise ArgumentAssertionError(f"Expected key_padded_mask.shape[1] to be {source + extra}, but got "
                                         f"{key_padding_mask.shape[1] + extra}")
        xp = get_array_module(key_padding_mask)
        padding = xp.concatenate([key_padding_mask, xp.zeros((n, extra), dtype=dtype)], axis=1)
        padding = xp.repeat(padding[:, None, :], self.num_heads, axis=0)      # (N·h, 1, S): entry n·h + i
        return padding if mask is None else mask + padding

    def _check_shapes(self, query, key, value, key_padding_mask, attn_mask):
        """torch's ``_mha_shape_check``: whether the input is batched; ArgumentAssertionError (torch's
        AssertionError) where the numbers of axes disagree."""
        dims = f"{key.ndim}-D and {value.ndim}-D tensors respectively"
        if query.ndim == 3:
            if key.ndim != 3 or value.ndim != 3:
                raise ArgumentAssertionError(f"For batched (3-D) `query`, expected `key` and `value` to be 3-D but "
                                             f"found {dims}")
            if key_padding_mask is not None and key_padding_mask.ndim != 2:
                raise ArgumentAssertionError(f"For batched (3-D) `query`, expected `key_padding_mask` to be `None` "
                                             f"or 2-D but found {key_padding_mask.ndim}-D tensor instead")
            if attn_mask is not None and attn_mask.ndim not in (2, 3):
                raise ArgumentAssertionError(f"For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D "
                                             f"or 3-D but found {attn_mask.ndim}-D tensor instead")
            if key.shape[:2] != value.shape[:2]:
                raise ArgumentAssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not match "
                                             f"value's {tuple(value.shape[:2])}")
            return True
        if query.ndim == 2:
            if key.ndim != 2 or value.ndim != 2:
                raise ArgumentAssertionError(f"For unbatched (2-D) `query`, expected `key` and `value` to be 2-D "
                                             f"but found {dims}")
            if key_padding_mask is not None and key_padding_mask.ndim != 1:
                raise ArgumentAssertionError(f"For unbatched (2-D) `query`, expected `key_padding_mask` to be "
                                             f"`None` or 1-D but found {key_padding_mask.ndim}-D tensor instead")
            if attn_mask is not None and attn_mask.ndim not in (2, 3):
                raise ArgumentAssertionError(f"For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D "
                                             f"or 3-D but found {attn_mask.ndim}-D tensor instead")
            if attn_mask is not None and attn_mask.ndim == 3:
                expected = (self.num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise ArgumentAssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                                 f"{tuple(attn_mask.shape)}")
            if key.shape[0] != value.shape[0]:
                raise ArgumentAssertionError(f"key's sequence and batch dims {(key.shape[0], 1)} do not match "
                                             f"value's {(value.shape[0], 1)}")
            return False
        raise ArgumentAssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D "
                                     f"query tensor")

    def _dropout_mask(self, xp, shape, dtype):
        """D = keep/(1 − p) over the attention weights in training (None otherwise)."""
        p = self.dropout
        if not self.training or p == 0.0:
            return None
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        if p == 1.0:
            return xp.zeros(shape, dtype=dtype)
        keep = rng_for(xp).random(shape, dtype=dtype) >= p
        return ops.dropout.run("mask", keep, p, dtype)

    # backward ---------------------------------------------------------------
    def backward(self, grad_output, grad_weights=None):
        """(∂L/∂query, ∂L/∂key, ∂L/∂value) for ∂L/∂y (and ∂L/∂weights); adds ∂L/∂θ to the parameters."""
        cache = self._cache
        check_grad_like(self, grad_output, None if cache is None else cache["output_shape"])
        if grad_weights is not None:
            if cache["weights_shape"] is None:
                raise ValueError(f"{self!r}: grad_weights given, but the last forward returned no weights "
                                 f"(need_weights=False)")
            check_grad_like(self, grad_weights, cache["weights_shape"])
        n, length, source = cache["shapes"]
        e, h = self.embed_dim, self.num_heads
        extra = cache["extra"]
        g = grad_output if not cache["batched"] else grad_output if self.batch_first \
            else grad_output.transpose(1, 0, 2)
        g = g.reshape(n * length, e)
        do = backward_of(self.out_proj, g)
        g_p = None
        if grad_weights is not None:
            g_p = grad_weights if cache["batched"] else grad_weights[None]
            g_p = g_p[:, None] / h if cache["average"] else g_p
            g_p = get_array_module(g_p).broadcast_to(g_p, (n, h, length, source + extra)).reshape(n * h, length, -1)
        dq, dk, dv = ops.attention.run("backward", _heads(do.reshape(n, length, e), h), cache["saved"], g_p)
        dq, dk, dv = (_merge(x, h) for x in (dq, dk, dv))              # (N, T, E)
        if self.add_zero_attn:
            dk, dv = dk[:, :-1], dv[:, :-1]
        if self.bias_k is not None:
            self.bias_k.accumulate(dk[:, -1].sum(axis=0).reshape(1, 1, e))
            self.bias_v.accumulate(dv[:, -1].sum(axis=0).reshape(1, 1, e))
            dk, dv = dk[:, :-1], dv[:, :-1]
        weight, _ = self._projection_weights()
        grads = (dq.reshape(n * length, e), dk.reshape(n * source, e), dv.reshape(n * source, e))
        dxs = ops.attention.run("project_backward", grads, cache["rows"], weight, self.in_proj_bias)
        out = []
        for dx, (t, features) in zip(dxs, cache["input_shapes"]):
            dx = dx.reshape(n, t, features)
            out.append(dx[0] if not cache["batched"] else dx if self.batch_first
                       else get_array_module(dx).ascontiguousarray(dx.transpose(1, 0, 2)))
        return tuple(out)

    def backward_parameters(self, grad_output, grad_weights=None):
        """``backward`` for the parameters only (returns None)."""
        self.backward(grad_output, grad_weights)

    def _on_moved(self):
        self._cache = None


def _heads(x, h):
    """(N, T, E) → (N·h, T, E/h): head i of batch entry n at n·h + i (torch's order)."""
    n, t, e = x.shape
    return x.reshape(n, t, h, e // h).transpose(0, 2, 1, 3).reshape(n * h, t, e // h)


def _merge(x, h):
    """(N·h, T, d) → (N, T, h·d), the inverse of ``_heads``."""
    b, t, d = x.shape
    return x.reshape(b // h, h, t, d).transpose(0, 2, 1, 3).reshape(b // h, t, h * d)


def _canonical_mask(module, mask, name, query, other=None, other_name=None):
    """torch's ``_canonical_mask``: a boolean mask as floats (−∞ where True, 0 elsewhere) in the query's dtype; a
    float mask in the query's dtype; another dtype refused (ArgumentAssertionError, torch's AssertionError). A
    mask whose dtype differs from ``other``'s warns, as torch."""
    if mask is None:
        return None
    if not hasattr(mask, "dtype") or not hasattr(mask, "shape") or type(mask).__module__.startswith("torch"):
        raise TypeError(f"{module!r}: {name} must be a NumPy or CuPy array (boolean or floating), got "
                        f"{type(mask).__name__}")
    if mask.dtype != np.bool_ and mask.dtype.kind != "f":
        raise ArgumentAssertionError(f"only bool and floating types of {name} are supported")
    if other is not None and getattr(other, "dtype", None) is not None and other.dtype != mask.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type for both "
                      f"instead.", UserWarning, stacklevel=4)
    xp = get_array_module(query)
    mask = xp.asarray(mask)
    if mask.dtype == np.bool_:
        return xp.where(mask, -np.inf, 0.0).astype(query.dtype)
    return mask.astype(query.dtype, copy=False)


def _attention_mask(module, attn_mask, n, length, source):
    """``attn_mask`` as a (1, L, S) or (N·h, L, S) additive array, checked as torch (RuntimeError's words)."""
    if attn_mask is None:
        return None
    if attn_mask.ndim == 2:
        if tuple(attn_mask.shape) != (length, source):
            raise InputError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                             f"{(length, source)}.")
        return attn_mask[None]
    expected = (n * module.num_heads, length, source)
    if tuple(attn_mask.shape) != expected:
        raise InputError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be {expected}.")
    return attn_mask
