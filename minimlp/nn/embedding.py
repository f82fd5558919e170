"""Embedding: a learnt vector per index (``minimlp.formulas.embedding``)."""
import numpy as np

from ..backend import device_of, get_array_module
from ..kernels import ops
from ..random import rng_for
from .checks import ArgumentAssertionError, InputError, InputTypeError, check_grad_like, whole
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """y[…, :] = W[i[…], :] for integer indices i of any shape; W is (num_embeddings, embedding_dim).

    Initialised N(0, 1), as torch, with the ``padding_idx`` row (negative: counted from the end) zero; that
    row gets no gradient. Backward: ∂L/∂W[r] += Σ G[…, :] over the positions where i[…] = r; the indices get
    no gradient (``backward`` returns None, so an Embedding comes first in a model). Keeps the indices.
    ``max_norm``, ``scale_grad_by_freq`` and ``sparse=True`` are refused.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, dtype=np.float32, _weight=None, _freeze=False):
        super().__init__()
        self.num_embeddings = whole(num_embeddings, "num_embeddings")
        self.embedding_dim = whole(embedding_dim, "embedding_dim")
        if min(self.num_embeddings, self.embedding_dim) < 0:
            raise InputError(f"Embedding: Trying to create tensor with negative dimension "
                             f"{min(self.num_embeddings, self.embedding_dim)}: [{num_embeddings}, {embedding_dim}]")
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ArgumentAssertionError(f"Embedding: padding_idx must be within num_embeddings "
                                             f"({num_embeddings}), got {padding_idx}")
            padding_idx = int(padding_idx) % self.num_embeddings
        if max_norm is not None:
            raise ValueError("Embedding: max_norm is not supported (minimlp does not renormalise rows during "
                             "the lookup); leave it None")
        if scale_grad_by_freq or sparse:
            raise ValueError("Embedding: scale_grad_by_freq and sparse are not supported; leave them False")
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, float(norm_type)
        self.scale_grad_by_freq, self.sparse = False, False
        if _weight is None:
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dtype))
            self.reset_parameters()
        elif tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
            raise ValueError(f"Embedding: _weight of shape {tuple(_weight.shape)} is not ({num_embeddings}, "
                             f"{embedding_dim})")
        else:
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        self._cache = None

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        """An Embedding whose table is the 2-d array ``embeddings`` (its padding row kept as given, as torch);
        ``freeze`` (the default) leaves it out of training (``requires_grad=False``)."""
        if getattr(embeddings, "ndim", None) != 2:
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got "
                             f"{getattr(embeddings, 'ndim', type(embeddings).__name__)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)

    def reset_parameters(self):
        """W ~ N(0, 1) again, the ``padding_idx`` row zero, in place (torch's ``reset_parameters``)."""
        xp = get_array_module(self.weight.data)
        self.weight.data[...] = rng_for(xp).standard_normal(self.weight.data.shape).astype(self.weight.data.dtype)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices):
        kind = getattr(getattr(indices, "dtype", None), "kind", None)
        if kind not in ("i", "u"):
            raise InputTypeError(f"{self!r}: expected integer indices (a NumPy or CuPy array), got "
                            f"{getattr(indices, 'dtype', type(indices).__name__)}")
        if device_of(indices) != device_of(self.weight.data):
            raise InputTypeError(f"{self!r}: indices are on the {device_of(indices)} but the weight is on the "
                            f"{device_of(self.weight.data)}")
        xp = get_array_module(indices)
        if indices.size and bool(xp.any((indices < 0) | (indices >= self.num_embeddings))):
            bad = int(indices[(indices < 0) | (indices >= self.num_embeddings)][0])
            raise IndexError(f"{self!r}: index {bad} is out of range for {self.num_embeddings} embeddings")
        y, self._cache = ops.embedding.run("forward", self.weight.data, indices)
        return y

    def backward(self, dout):
        """Adds ∂L/∂W (each looked-up row collects the gradient of its lookups) and returns None: integer indices
        take no gradient, so an Embedding comes first in a model."""
        self.backward_parameters(dout)

    def backward_parameters(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache.shape + (self.embedding_dim,))
        ops.embedding.run("backward", dout, self._cache, self.weight, self.padding_idx)

    def _on_moved(self):
        self._cache = None

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}" + \
            (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
