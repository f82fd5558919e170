"""AdaptiveLogSoftmaxWithLoss: the adaptive softmax of Grave et al., torch's module
(``minimlp.formulas.adaptive_log_softmax``)."""
import math
from collections import namedtuple

import numpy as np

from ..backend import device_of, get_array_module
from ..kernels import ops
from .checks import InputError, InputTypeError, check_array, check_floating, check_like, whole
from .container import ModuleList, Sequential
from .linear import Linear
from .loss_value import reduced_loss
from .module import Module

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """torch's adaptive softmax. With cutoffs S = c₀ < … < c_K = n_classes (``cutoffs`` plus ``n_classes``):
    head z = x Wₕᵀ (+ b) over the S shortlist classes and K cluster entries; cluster i (classes c_i ≤ t < c_{i+1})
    projects u = (x P_iᵀ) Q_iᵀ, P_i (⌊in_features / div_valueⁱ⁺¹⌋, in_features), Q_i (c_{i+1} − c_i, that);

        log p(t | x) = log_softmax(z)[t] for t < S,  log_softmax(z)[S + i] + log_softmax(u)[t − c_i] in cluster i.

    ``forward(input, target)`` takes input (N, in_features) and integer targets (N,), or (in_features,) and a 0-d
    target, and returns ``_ASMoutput(output, loss)``: output = log p(target | x) per row (an array, 0-d
    unbatched), loss = −mean(output), a Python float (on the GPU a 0-d device array: ``nn.loss_value``; a
    FloatingPointError where it is not finite, as minimlp's other losses; NaN for an empty batch). Parameters as
    torch's: ``head`` (Linear, bias with ``head_bias``) and
    ``tail.i.0`` (P_i), ``tail.i.1`` (Q_i), Linears without bias, torch's initialisation U(−1/√fan_in, 1/√fan_in).

    ``backward(grad_loss=None, grad_output=None)``: ∂(outer)/∂loss (a number; 1 where neither is given, else 0)
    and ∂(outer)/∂output (an array of output's shape, optional); with g = grad_output − grad_loss/N per row,
    ∂z = g·(onehot(head entry) − softmax z), ∂u = g·(onehot(t − c_i) − softmax u); returns ∂L/∂input (input's
    shape) and adds ∂Wₕ = ∂zᵀx, ∂b = Σ∂z, ∂Q_i = ∂uᵀ(x P_iᵀ), ∂P_i = (∂u Q_i)ᵀx to every parameter's ``grad``
    (zeros for a cluster no target reached, where torch leaves None). ``log_prob(input)`` (N, n_classes) and
    ``predict(input)`` (N,) int64 take a batch (N, in_features), as torch's. Keeps x, the log-softmaxes and each
    cluster's rows and projections.
    """

    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False, dtype=np.float32):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > (n_classes - 1)
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted in an increasing "
                             "order, where each value is between 1 and n_classes-1")
        self.in_features, self.n_classes = whole(in_features, "in_features"), whole(n_classes, "n_classes")
        self.cutoffs = [int(c) for c in cutoffs] + [self.n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(self.in_features, self.head_size, bias=head_bias, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(self.in_features, hsz, bias=False, dtype=dtype),
                                        Linear(hsz, osz, bias=False, dtype=dtype)))
        self._cache = None

    def reset_parameters(self):
        """Every Linear's torch initialisation again, in place."""
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def _weights(self, data=True):
        """(Wₕ, b, [(P_i, Q_i)]): the arrays, or the Parameters (``data=False``)."""
        pick = (lambda p: None if p is None else p.data) if data else (lambda p: p)
        return (pick(self.head.weight), pick(self.head.bias),
                [(pick(i2h.weight), pick(h2o.weight)) for i2h, h2o in self.tail])

    def _check_input(self, x, batched_only=False):
        check_floating(self, x)
        check_like(self, x, self.head.weight.data)
        if batched_only and x.ndim != 2:
            raise InputError(f"{self!r}: log_prob and predict take a batch (N, {self.in_features}), got input of "
                             f"shape {tuple(x.shape)}")
        if x.ndim and x.shape[-1] != self.in_features:
            rows = x.shape[0] if x.ndim == 2 else 1
            raise InputError(f"{type(self).__name__}: mat1 and mat2 shapes cannot be multiplied ({rows}x"
                             f"{x.shape[-1]} and {self.in_features}x{self.head_size})")

    def forward(self, input, target):
        x = input
        check_array(self, target, "target")
        if target.ndim == 1:
            if x.ndim == 0 or x.shape[0] != target.shape[0]:
                raise InputError("Input and target should have the same size in the batch dimension.")
            if x.ndim != 2:
                raise InputError(f"1D target tensor expects 2D input tensors, but found inputs with size "
                                 f"{tuple(x.shape)}")
        elif target.ndim == 0:
            if x.ndim != 1:
                raise InputError(f"0D target tensor expects 1D input tensors, but found inputs with size "
                                 f"{tuple(x.shape)}")
        else:
            raise InputError("0D or 1D target tensor expected, multi-target not supported")
        self._check_input(x)
        if target.dtype.kind not in "iu":
            raise InputTypeError(f"{self!r}: expected integer class targets, got dtype {target.dtype}")
        if device_of(target) != device_of(x):
            raise InputTypeError(f"{self!r}: input is on the {device_of(x)}, target on the {device_of(target)}")
        unbatched = target.ndim == 0
        x2, t = (x[None], target[None]) if unbatched else (x, target)
        if t.size and bool(get_array_module(t).any((t < 0) | (t >= self.n_classes))):
            raise InputError(f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                             f"[{int(t.min())}, {int(t.max())}] were found. ")
        output, saved = ops.adaptive_log_softmax.run("forward", x2, t, *self._weights(), self.cutoffs)
        self._cache = (saved, tuple(x.shape), tuple(output.shape), unbatched)
        def check(loss):
            if output.size and not math.isfinite(loss):
                bad = int(get_array_module(output).count_nonzero(~get_array_module(output).isfinite(output)))
                raise FloatingPointError(f"AdaptiveLogSoftmaxWithLoss is {loss}: {bad} of its {output.size} log "
                                         f"probabilities are not finite (training diverged, or the data holds "
                                         f"NaN/Inf)")
        loss = reduced_loss(-output.sum(), output.size, check) if output.size else math.nan
        return _ASMoutput(output[0] if unbatched else output, loss)

    def _row_gradient(self, grad_loss, grad_output):
        """g = ∂(outer)/∂log p per row: grad_output − grad_loss/N (loss = −mean log p)."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        saved, _, out_shape, unbatched = self._cache
        n = out_shape[0]
        xp = get_array_module(saved[0])
        if grad_loss is None:
            grad_loss = 1.0 if grad_output is None else 0.0
        g = xp.full(out_shape, -float(grad_loss) / n if n else 0.0, dtype=saved[0].dtype)
        if grad_output is not None:
            want = () if unbatched else out_shape
            if tuple(getattr(grad_output, "shape", (None,))) != want:
                raise ValueError(f"{type(self).__name__}: grad_output must have the output's shape {want}, got "
                                 f"{tuple(getattr(grad_output, 'shape', ()))}")
            g += xp.asarray(grad_output, dtype=g.dtype).reshape(out_shape)
        return g

    def backward(self, grad_loss=None, grad_output=None):
        """∂L/∂input for the last forward (input's shape and dtype); adds every parameter's gradient. ``grad_loss``:
        ∂(outer)/∂loss, a number (default 1, or 0 where only ``grad_output`` is given); ``grad_output``:
        ∂(outer)/∂output, an array of output's shape."""
        g = self._row_gradient(grad_loss, grad_output)
        dx = ops.adaptive_log_softmax.run("backward", g, self._cache[0], *self._weights(data=False), True)
        return dx.reshape(self._cache[1])

    def backward_parameters(self, grad_loss=None, grad_output=None):
        """``backward`` for the parameters only (no ∂L/∂input)."""
        g = self._row_gradient(grad_loss, grad_output)
        ops.adaptive_log_softmax.run("backward", g, self._cache[0], *self._weights(data=False), False)

    def log_prob(self, input):
        """log p(c | x) for every class c: (N, n_classes) for input (N, in_features)."""
        self._check_input(input, batched_only=True)
        return ops.adaptive_log_softmax.run("log_prob", input, *self._weights(), self.cutoffs)

    def predict(self, input):
        """The most probable class of each row (N,) int64, ``log_prob(input).argmax(1)`` (as torch, which
        takes the head's answer where it is a shortlist class)."""
        self._check_input(input, batched_only=True)
        return ops.adaptive_log_softmax.run("predict", input, *self._weights(), self.cutoffs)

    def _on_moved(self):
        self._cache = None
