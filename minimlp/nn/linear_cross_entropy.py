"""LinearCrossEntropyLoss: a linear layer and a cross-entropy in one loss, computable a chunk of the batch at a time
so that the (N, C) logits are never held whole (``minimlp.formulas.linear_cross_entropy``)."""
import dataclasses
import math

import numpy as np

from ..backend import device_of, get_array_module
from ..formulas import linear_cross_entropy as chunked
from ..kernels import ops
from .checks import InputError, InputTypeError, TargetIndexError, check_array, check_floating, check_like, whole
from .linear import Linear
from .loss_value import reduced_loss
from .module import Module
from .reduction import reduction_argument

_ACC_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _dtype_name(dtype):
    """'float32' for np.float32, np.dtype('float32'), 'float32' or torch.float32."""
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype).rpartition(".")[2]


@dataclasses.dataclass(slots=True, frozen=True)
class LinearCrossEntropyOptions:
    """How ``LinearCrossEntropyLoss`` chunks its batch: torch's fields, checked as torch checks them. Passing an
    instance (this one or torch's ``torch.nn.LinearCrossEntropyOptions``) asks for the chunked path; ``None``
    computes all the logits at once.

    - ``batch_chunk_size``: rows per chunk, n = min(batch_chunk_size, N); the loss loops over ⌈N/n⌉ chunks.
      ``None``: from ``chunking_method``, or the whole batch.
    - ``chunking_method``: ``"aspect_ratio[:k]"`` sizes a chunk so that its (n, C·P) logits take about the
      memory of the (N, in_features) input, divided by k: n = min(next_pow2(⌈N / ⌈C·P / in_features⌉⌉) // k,
      N) (torch's formula, with C·P, the row of logits over every class and position, for its C);
      ``"auto"`` is torch's pick for float32 and float64 on every device, ``"aspect_ratio:2"``, unless
      ``batch_chunk_size`` is given; ``None``: ``batch_chunk_size`` alone. A ``batch_chunk_size`` that
      disagrees with an explicit method is torch's ValueError.
    - ``allow_retain_graph``: accepted, changes nothing. minimlp's chunked path keeps no gradient buffers between
      forward and backward (the backward computes each chunk's logits again), so there is nothing to consume;
      a second backward without a forward is refused as by every minimlp module.
    - ``acc_policy``, ``acc_dtype``: checked as torch, then unused: minimlp computes in the input's dtype
      (float32 or float64), where torch's policies agree (they differ for float16/bfloat16 only).

    Unlike torch, which falls back to the unchunked path with a warning, minimlp chunks label smoothing,
    probability targets and K-dimensional losses (with bias) too: its chunks reuse the whole cross-entropy.
    """

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: object = None

    def __post_init__(self):
        if self.acc_policy not in {"auto", "accurate", "balanced", "compact"}:
            raise ValueError(f"invalid acc_policy: {self.acc_policy!r}")
        if self.chunking_method is not None and self.chunking_method != "auto":
            name, sep, factor = str(self.chunking_method).partition(":")
            if not (name == "aspect_ratio" and (factor if sep else "1").isdigit() and int(factor if sep else 1) > 0):
                raise ValueError(f"invalid chunking_method: {self.chunking_method!r}")
        size = self.batch_chunk_size
        if not (size is None or (isinstance(size, int) and not isinstance(size, bool) and size > 0)):
            raise ValueError(f"batch_chunk_size must be positive int or None, got {size!r}")
        if self.acc_dtype is not None and _dtype_name(self.acc_dtype) not in _ACC_DTYPES:
            raise ValueError(f"acc_dtype must be one of {{None, float16, bfloat16, float32, float64}}, got "
                             f"{self.acc_dtype!r}. Pass acc_dtype=None to let the op pick automatically.")

    @classmethod
    def of(cls, options):
        """This class's instance for ``options``: itself, or torch's ``LinearCrossEntropyOptions`` read field by
        field."""
        if isinstance(options, cls):
            return options
        names = [f.name for f in dataclasses.fields(cls)]
        if not all(hasattr(options, n) for n in names):
            raise TypeError(f"options must be None or a LinearCrossEntropyOptions, got {type(options).__name__}")
        return cls(**{n: getattr(options, n) for n in names})

    def chunk_size(self, rows, in_features, row_width):
        """The rows per chunk for a batch of ``rows`` rows of ``in_features``, each giving ``row_width`` logits
        (C·P): torch's ``_adjust`` and ``_compute_batch_chunk_size``; at least 1."""
        method = self.chunking_method
        if method == "auto":
            method = None if self.batch_chunk_size is not None else "aspect_ratio:2"
        size = rows if self.batch_chunk_size is None else min(self.batch_chunk_size, rows)
        if method is not None:
            factor = int(method.partition(":")[2] or 1)
            target = -(-rows // -(-row_width // max(in_features, 1)))
            size = min((1 << (target - 1).bit_length()) // factor, rows)
            if self.batch_chunk_size is not None and self.batch_chunk_size != size:
                raise ValueError(f"batch_chunk_size (={self.batch_chunk_size}) and chunking_method ('{method}') give "
                                 f"different chunk sizes ({self.batch_chunk_size} vs {size}); pass only one.")
        return max(1, size)


class _Named:
    """Stands for the loss in the shared checks' messages: its class name, on one line (its repr has several)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


class LinearCrossEntropyLoss(Module):
    """Torch's LinearCrossEntropyLoss: the cross-entropy (``CrossEntropyLoss``) of the logits z = x Wᵀ + b.

    x is (in_features,) or (N, in_features). W, b are ``self.linear``'s (a ``Linear(in_features, C·P, bias)``,
    P = d₁·…·d_K for ``out_features`` = (d₁, …, d_K)): flat storage, W (C·P, in_features), b (C·P,), read as
    (C, d₁, …, in_features) and (C, d₁, …), so the logits of sample n are z[n, c, d₁, …]; initialised as torch's
    Linear, W, b ~ U(−1/√in_features, 1/√in_features); state_dict keys ``weight`` (the class weights, when
    given), ``linear.weight``, ``linear.bias``. Targets: class indices () / (N,) / (N, d₁, …), or class
    probabilities of the logits' shape (C,) / (N, C, d₁, …). With p = softmax(z) over the classes, w the class
    ``weight``, ε ``label_smoothing``, t = (1 − ε)·onehot(y) + ε/C (indices; rows y = ``ignore_index``, None
    meaning −100, cost 0) or t ← (1 − ε)·t + ε/C (probabilities; ``ignore_index`` must be None):

        ℓ = −Σ_c w_c t_c log p_c,   L = Σ ℓ / D ("mean"; D = Σ w_y over the rows kept, or the number of
        positions for probabilities), Σ ℓ ("sum"), ℓ itself ("none").

    "mean" and "sum" return a Python float (on the GPU a 0-d device array: ``nn.loss_value``), "none" an array
    (N, d₁, …) (0-d for one sample).
    ``backward(grad_output=None)`` (a number for "mean"/"sum", default 1; an array of ℓ's shape for "none")
    returns ∂L/∂x = G W and adds ∂L/∂W = Gᵀ x and ∂L/∂b = Σₙ G into ``linear``'s gradients, with
    G = ∂L/∂z = g·(p·Σ_c w_c t_c − w t) (``formulas.cross_entropy``); ``backward_parameters`` skips ∂L/∂x.

    ``options=None`` computes all the logits at once and keeps the softmax for the backward. ``options`` (a
    ``LinearCrossEntropyOptions``, minimlp's or torch's) computes n rows at a time (``chunk_size``): forward
    keeps each chunk's losses only, backward computes each chunk's logits again (one more product per chunk
    than the unchunked path) and adds its gradients, so no (N, C·P) array ever exists, each way.
    """

    def __init__(self, in_features, num_classes, *, out_features=(), bias=False, device=None, dtype=None,
                 reduction="mean", weight=None, ignore_index=None, label_smoothing=0.0, options=None):
        num_classes = whole(num_classes, "num_classes")
        if weight is not None and tuple(getattr(weight, "shape", ())) != (num_classes,):
            raise InputError(f"expected weight shape to be {(num_classes,)}, got {tuple(getattr(weight, 'shape', ()))}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise InputError(f"expected label_smoothing to be in range [0, 1], got {label_smoothing}")
        super().__init__()
        self.reduction = reduction_argument("LinearCrossEntropyLoss", None, None, reduction)
        self.register_buffer("weight", weight)
        self.num_classes = num_classes
        self.out_features = tuple(whole(d, "out_features") for d in out_features)
        self.ignore_index = None if ignore_index is None else whole(ignore_index, "ignore_index")
        self.label_smoothing = float(label_smoothing)
        self.linear = Linear(in_features, math.prod(self.out_features, start=num_classes), bias=bias,
                             dtype=np.float32 if dtype is None else dtype)
        if device is not None:
            self.linear.to(device=device)
        if options is not None:
            LinearCrossEntropyOptions.of(options)   # a TypeError now rather than at the first call
        self.options = options
        self._cache = None

    def forward(self, input, target):
        x, target, probabilities, unbatched = self._check(input, target)
        weight, bias = self.linear.weight.data, self.linear.bias
        options = None if self.options is None else LinearCrossEntropyOptions.of(self.options)
        rows = x.shape[0]
        size = max(rows, 1) if options is None else options.chunk_size(rows, x.shape[1], weight.shape[0])
        ignore = -100 if self.ignore_index is None else self.ignore_index
        if probabilities:   # torch promotes; ∂L/∂x keeps the input's dtype
            target = target.astype(x.dtype, copy=False)
        else:
            self._check_classes(target, ignore)
        args = (target, self.out_features, self.weight, self.label_smoothing, ignore, size)
        run = self._linear_runner(len(chunked.bounds(rows, size)))
        losses, divisor, saved = chunked.forward(x, weight, None if bias is None else bias.data, *args, run,
                                                 keep=options is None)
        divisor = divisor if divisor != 0 else math.nan
        shape = () if unbatched else (rows,) + self.out_features
        self._cache = (x, args, saved, divisor, shape, unbatched)
        if self.reduction == "none":
            return losses.reshape(shape)
        def check(value):
            if not math.isfinite(value) and math.isfinite(divisor):
                raise FloatingPointError(f"LinearCrossEntropyLoss is {value}: the logits hold NaN or Inf (training "
                                         f"diverged)")
        return reduced_loss(losses.sum(), divisor if self.reduction == "mean" else 1, check)

    def _linear_runner(self, chunks):
        """How each chunk runs the linear op: its kernels for one chunk; the formula for several, whose backward
        adds each chunk's part into the gradients (an optimizer update taken inside backward, offered to the
        kernels, would see a part of the gradient)."""
        if chunks == 1:
            training = self.training
            return lambda role, *a: ops.linear.run(role, *a, **({"training": training} if role == "forward" else {}))
        return lambda role, *a: getattr(ops.linear.formula, role)(*a)

    def _check(self, input, target):
        """(x (N, in), target with a batch axis, whether it holds probabilities, whether x was one sample)."""
        who = _Named(type(self).__name__)
        check_floating(who, input)
        if input.ndim not in (1, 2):
            raise InputError(f"expected input with dimensionality 1 or 2, got {input.ndim}")
        in_features = self.linear.in_features
        if input.shape[-1] != in_features:
            raise InputError(f"expected equal input and linear_weight last dimensions (in_features), got "
                             f"{input.shape[-1]} and {in_features}, respectively")
        check_like(who, input, self.linear.weight.data)
        check_array(who, target, "target")
        if device_of(input) != device_of(target):
            raise InputTypeError(f"{type(self).__name__}: input is on the {device_of(input)}, target on the "
                                 f"{device_of(target)}")
        if self.out_features and input.ndim == 1:
            raise InputError(f"K-dimensional loss defined by linear_weight shape "
                             f"{(self.num_classes,) + self.out_features + (in_features,)} requires batched input, "
                             f"(N, {in_features}), got unbatched input with shape {tuple(input.shape)}")
        batch = tuple(input.shape[:-1])
        probabilities = tuple(target.shape) == batch + (self.num_classes,) + self.out_features
        kind = target.dtype.kind
        if probabilities:
            if self.ignore_index is not None:
                raise InputError("ignore_index cannot be specified when target contains probabilities")
            if kind != "f":
                raise InputTypeError(f"Expected floating point type for target with class probabilities, got "
                                     f"{target.dtype}")
        else:
            if kind not in "iu":
                raise InputTypeError(f"expected target dtype to be an integer (class indices) or floating of shape "
                                     f"{batch + (self.num_classes,) + self.out_features} (probabilities), got "
                                     f"{target.dtype} of shape {tuple(target.shape)}")
            expected = batch + self.out_features
            if batch and (target.ndim == 0 or target.shape[0] != batch[0]):
                raise InputError(f"Expected input batch_size ({batch[0]}) to match target batch_size "
                                 f"({target.shape[0] if target.ndim else 0}).")
            if tuple(target.shape) != expected:
                raise InputError(f"Expected target size {list(expected)}, got {list(target.shape)}")
        if not batch:
            return input[None], target[None], probabilities, True
        return input, target, probabilities, False

    def _check_classes(self, target, ignore):
        """Every index target not ignored must name one of the C classes."""
        xp = get_array_module(target)
        y = target.reshape(-1)
        bad = (y != ignore) & ((y < 0) | (y >= self.num_classes))
        if bool(xp.any(bad)):
            raise TargetIndexError(f"Target {int(y[bad][0])} is out of bounds.")

    def backward(self, grad_output=None):
        """∂L/∂input of the last forward (its shape and dtype), adding the gradients of ``linear.weight`` and
        ``linear.bias``; ``grad_output`` = ∂(outer)/∂L, a number for "mean"/"sum" (default 1), an array of the
        loss's shape for "none" (required)."""
        return self._backward(grad_output, True)

    def backward_parameters(self, grad_output=None):
        """The gradients of ``linear.weight`` and ``linear.bias`` only (∂L/∂input skipped); returns None."""
        self._backward(grad_output, False)

    def _backward(self, grad_output, want_dx):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        x, args, saved, divisor, shape, unbatched = self._cache
        if self.reduction == "none":
            if grad_output is None or tuple(getattr(grad_output, "shape", (None,))) != shape:
                raise ValueError(f"{type(self).__name__}: backward needs grad_output of the loss's shape {shape}, got "
                                 f"{None if grad_output is None else tuple(getattr(grad_output, 'shape', ()))}")
            scale = grad_output.reshape(-1, 1).astype(x.dtype, copy=False)
        else:
            scale = (1.0 / divisor if self.reduction == "mean" else 1.0) * (1.0 if grad_output is None
                                                                           else float(grad_output))
        run = self._linear_runner(len(chunked.bounds(x.shape[0], args[-1])))
        dx = chunked.backward(scale, x, self.linear.weight, self.linear.bias, *args, run, saved=saved,
                              want_dx=want_dx)
        return dx[0] if dx is not None and unbatched else dx

    def _on_moved(self):
        self._cache = None

    def extra_repr(self):
        return (f"in_features={self.linear.in_features}, num_classes={self.num_classes}, "
                f"out_features={self.out_features}, bias={self.linear.bias is not None}, reduction={self.reduction}, "
                f"ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}, options={self.options}")
