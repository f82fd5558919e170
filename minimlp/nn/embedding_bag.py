"""EmbeddingBag: the sum, mean or maximum of the embedding rows of each bag of indices
(``minimlp.formulas.embedding_bag``)."""
import numpy as np

from ..backend import device_of, get_array_module
from ..kernels import ops
from ..random import rng_for
from .checks import (
    ArgumentAssertionError,
    InputError,
    InputTypeError,
    TargetIndexError,
    UnsupportedModeError,
    check_grad_like,
    whole,
)
from .module import Module
from .parameter import Parameter

MODES = ("sum", "mean", "max")


class EmbeddingBag(Module):
    """y[b] = the sum, mean or maximum (``mode``) of the rows W[i_j] over the indices j of bag b, without building
    the (bags, length, embedding_dim) lookup first; W is (num_embeddings, embedding_dim), N(0, 1) as torch.

    ``forward(input, offsets=None, per_sample_weights=None)``: a 2-d ``input`` (B, L) is B bags of L indices
    (``offsets`` must be None); a 1-d ``input`` (N,) is cut into bags at ``offsets`` (B,), each a bag's first
    position (offsets[0] = 0, non-decreasing, at most N), the last bag running to the end; with
    ``include_last_offset`` offsets has B + 1 entries, the last one N (torch's CSR form; as torch's CPU kernel,
    the last bag runs to the end of the input whatever that entry). Output (B,
    embedding_dim). ``padding_idx`` (its row zero at initialisation) is left out of the sum, of the mean's count
    and of the max; an empty bag (or one of padding only) gives zeros. ``per_sample_weights`` (the shape of
    ``input``, the weight's dtype) scales each row: "sum" only, as torch (NotImplementedError otherwise).

    sum: y[b] = Σ_{j∈b} w_j W[i_j];  mean: y[b] = (1/n_b) Σ_{j∈b} W[i_j];  max: y[b, d] = max_{j∈b} W[i_j, d].
    Backward: ∂L/∂W[r] += Σ_{j: i_j = r} w_j G[b(j)] (sum), G[b(j)]/n_b (mean), and for max G[b, d] goes to
    column d of the row that gave the maximum, the first one in the bag on ties (torch's CPU rule; a NaN is the
    maximum only where it comes first in its bag). ``backward(G)`` returns ∂L/∂per_sample_weights[j] =
    G[b(j)]·W[i_j] (0 at padding positions; the shape of ``per_sample_weights``) where the forward was given
    per-sample weights, else None (indices take no gradient, so an EmbeddingBag comes first in a model).
    Keeps the bags (the counted positions, their rows and bags), the mean's counts or the max's rows, and the
    per-sample weights.

    As ``Embedding``, ``max_norm``, ``scale_grad_by_freq`` and ``sparse=True`` are refused (ValueError). ``mode``
    is checked when made as well as when called (torch checks it only when called). A 2-d input of empty bags
    (B, 0) gives B rows of zeros (torch 2.13 fails on it, "step must be nonzero"); empty ``offsets`` are refused
    unless the input is empty too, and decreasing ones always (torch crashes or mixes up its bags there).
    """

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None, device=None,
                 dtype=None):
        super().__init__()
        self.num_embeddings = whole(num_embeddings, "num_embeddings")
        self.embedding_dim = whole(embedding_dim, "embedding_dim")
        if min(self.num_embeddings, self.embedding_dim) < 0:
            raise InputError(f"EmbeddingBag: Trying to create tensor with negative dimension "
                             f"{min(self.num_embeddings, self.embedding_dim)}: [{num_embeddings}, {embedding_dim}]")
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ArgumentAssertionError(f"EmbeddingBag: padding_idx must be within num_embeddings "
                                             f"({num_embeddings}), got {padding_idx}")
            padding_idx = int(padding_idx) % self.num_embeddings
        if max_norm is not None:
            raise ValueError("EmbeddingBag: max_norm is not supported (minimlp does not renormalise rows during "
                             "the lookup); leave it None")
        if scale_grad_by_freq or sparse:
            raise ValueError("EmbeddingBag: scale_grad_by_freq and sparse are not supported; leave them False")
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = False, False
        self.mode = _checked_mode(mode)
        self.include_last_offset = include_last_offset
        if _weight is None:
            dtype = np.dtype(np.float32 if dtype is None else dtype)
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dtype))
            self.reset_parameters()
        elif tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
            raise ArgumentAssertionError(f"EmbeddingBag: Shape of weight {tuple(_weight.shape)} does not match "
                                         f"num_embeddings and embedding_dim ({num_embeddings}, {embedding_dim})")
        else:
            self.weight = Parameter(_weight)
        if device is not None:
            self.to(device=device)
        self._cache = None

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        """An EmbeddingBag whose table is the 2-d array ``embeddings`` (its padding row kept as given, as torch);
        ``freeze`` (the default) leaves it out of training (``requires_grad=False``)."""
        if getattr(embeddings, "ndim", None) != 2:
            raise ArgumentAssertionError(f"Embeddings parameter is expected to be 2-dimensional, got "
                                         f"{getattr(embeddings, 'ndim', type(embeddings).__name__)}")
        rows, cols = embeddings.shape
        bag = cls(rows, cols, max_norm, norm_type, scale_grad_by_freq, mode, sparse, _weight=embeddings,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag

    def reset_parameters(self):
        """W ~ N(0, 1) again, the ``padding_idx`` row zero, in place (torch's ``reset_parameters``)."""
        xp = get_array_module(self.weight.data)
        self.weight.data[...] = rng_for(xp).standard_normal(self.weight.data.shape).astype(self.weight.data.dtype)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input, offsets=None, per_sample_weights=None):
        indices, weights = input, per_sample_weights
        self._check_integers(indices, "indices")
        xp = get_array_module(indices)
        if weights is not None and tuple(weights.shape) != tuple(indices.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights ({tuple(weights.shape)}) is not None, then it "
                             f"must have the same shape as the input ({tuple(indices.shape)})")
        include_last_offset = bool(self.include_last_offset)
        if indices.ndim == 2:
            if offsets is not None:
                raise ValueError(f"{self!r}: if input is 2D, then offsets has to be None, as input is treated is a "
                                 f"mini-batch of fixed length sequences. However, found offsets of type "
                                 f"{type(offsets).__name__}")
            n_bags, length = indices.shape
            offsets = xp.arange(n_bags, dtype=np.int64) * length
            include_last_offset = False
            indices = indices.reshape(-1)
        elif indices.ndim == 1:
            if offsets is None:
                raise ValueError(f"{self!r}: offsets has to be a 1D Tensor but got None")
            self._check_integers(offsets, "offsets")
            if offsets.ndim != 1:
                raise ValueError(f"{self!r}: offsets has to be a 1D Tensor, got shape {tuple(offsets.shape)}")
            self._check_offsets(indices, offsets, include_last_offset)
        else:
            raise ValueError(f"{self!r}: input has to be 1D or 2D Tensor, but got Tensor of dimension {indices.ndim}")
        mode = _checked_mode(self.mode)
        if weights is not None:
            if mode != "sum":
                raise UnsupportedModeError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is "
                                           f"only supported for mode='sum' (got mode='{mode}')")
            if weights.dtype != self.weight.data.dtype or device_of(weights) != device_of(self.weight.data):
                raise InputTypeError(f"{self!r}: per_sample_weights ({weights.dtype}, on the {device_of(weights)}) "
                                     f"must have the weight's dtype {self.weight.data.dtype} and device")
            weights = weights.reshape(-1)
        if indices.size and bool(xp.any((indices < 0) | (indices >= self.num_embeddings))):
            bad = int(indices[(indices < 0) | (indices >= self.num_embeddings)][0])
            raise InputError(f"{self!r}: embedding_bag: Expected idx >= 0 && idx < num_embeddings "
                             f"({self.num_embeddings}) but found idx to be {bad}")
        y, saved = ops.embedding_bag.run("forward", self.weight.data, indices, offsets, mode, weights,
                                         include_last_offset, self.padding_idx)
        self._cache = (saved, y.shape, None if per_sample_weights is None else per_sample_weights.shape)
        return y

    def _check_integers(self, array, what):
        if getattr(getattr(array, "dtype", None), "kind", None) not in ("i", "u"):
            raise InputTypeError(f"{self!r}: expected integer {what} (a NumPy or CuPy array), got "
                                 f"{getattr(array, 'dtype', type(array).__name__)}")
        if device_of(array) != device_of(self.weight.data):
            raise InputTypeError(f"{self!r}: {what} are on the {device_of(array)} but the weight is on the "
                                 f"{device_of(self.weight.data)}")

    def _check_offsets(self, indices, offsets, include_last_offset):
        """torch's checks (offsets[0] = 0, offsets[−1] ≤ N, one offset at least with ``include_last_offset``),
        and non-decreasing offsets, which torch does not check."""
        xp = get_array_module(offsets)
        if offsets.size == 0:
            if include_last_offset:
                raise InputError(f"{self!r}: include_last_offset: number of offset should be at least 1")
            if indices.size:
                raise InputError(f"{self!r}: offsets is empty, so the input's {indices.size} indices are in no bag")
            return
        if int(offsets[0]) != 0:
            raise InputError(f"{self!r}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                             f"start from position 0. However, got {int(offsets[0])}")
        if bool(xp.any(offsets < 0)):
            raise TargetIndexError(f"{self!r}: index out of range: offsets hold {int(offsets.min())}")
        if int(offsets[-1]) > indices.size:
            raise InputError(f"{self!r}: offsets[-1] can not be greater than input's length {indices.size} but got "
                             f"offsets[-1] of {int(offsets[-1])}")
        if offsets.size > 1 and bool(xp.any(offsets[1:] < offsets[:-1])):
            raise InputError(f"{self!r}: offsets must be non-decreasing (each bag's start), got a decrease")

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[1])
        saved, _, weights_shape = self._cache
        grad_weights = ops.embedding_bag.run("backward", dout, saved, self.weight)
        return None if grad_weights is None else grad_weights.reshape(weights_shape)

    def backward_parameters(self, dout):
        self.backward(dout)

    def _on_moved(self):
        self._cache = None

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type!r}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx!r}"
        return s


def _checked_mode(mode):
    if mode not in MODES:
        raise ValueError(f"EmbeddingBag: mode has to be one of sum, mean or max, got {mode!r}")
    return mode
