"""CrossEntropyLoss: softmax and negative log-likelihood in one, from logits and class indices or probabilities."""
import math

from ..backend import device_of, get_array_module
from ..kernels import ops
from .checks import InputError, InputTypeError, TargetIndexError, check_array, check_floating
from .loss_value import reduced_loss
from .reduction import reduction_argument


class CrossEntropyLoss:
    """Torch's CrossEntropyLoss: ℓₙ = −Σ_c w_c·tₙ,c·log pₙ,c with p = softmax(z) over the class axis.

    Logits z of shape (N, C) or (N, C, d₁, …); each position n of (N, d₁, …)
    is one row; one sample's logits (C,) take a 0-d class index or (C,)
    probabilities (torch's unbatched input: "none" then returns a 0-d array).
    Targets are either

    - class indices y of shape (N,) or (N, d₁, …): tₙ = (1 − ε)·onehot(yₙ) + ε/C,
      so ℓₙ = (1 − ε)·(−w_{yₙ} log pₙ,yₙ) + (ε/C)·(−Σ_c w_c log pₙ,c); rows with
      yₙ = ``ignore_index`` give ℓₙ = 0;
    - class probabilities t of the logits' shape (floating):
      tₙ ← (1 − ε)·tₙ + ε/C, ℓₙ = −Σ_c w_c tₙ,c log pₙ,c.

    w is ``weight`` (default all ones), ε ``label_smoothing``. Reduction
    ("mean", torch's default; "sum"; "none"): L = Σₙ ℓₙ / D with D = Σₙ w_{yₙ}
    over the rows not ignored for index targets, D = N·d₁·… for probability
    targets (torch's semantics), D = 1 for "sum"; "none" returns the array ℓ
    of shape (N, d₁, …). "mean" and "sum" return a Python float (on the GPU a
    0-d device array: ``nn.loss_value``).

    Backward (``backward(grad_output=None)``; required of shape (N, d₁, …) for
    "none", where gₙ replaces 1/D):
    ∂L/∂zₙ,k = gₙ·(pₙ,k·Σ_c w_c tₙ,c − w_k tₙ,k), with gₙ = 1/D (mean), 1
    (sum); 0 for ignored rows. log p is computed as z − max z − log Σ exp(z −
    max z) (no overflow). Caches p, the per-row Σ_c w_c tₙ,c and the targets.
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        reduction = reduction_argument("CrossEntropyLoss", size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise InputError(f"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self.weight = weight
        self.ignore_index = int(ignore_index)
        self.reduction = reduction
        self.label_smoothing = float(label_smoothing)
        self._cache = None
        self._unbatched = False

    def __call__(self, input, target):
        return self.forward(input, target)

    def _check(self, logits, target):
        """'index' or 'probability': which kind of target, after checking shapes, dtypes and devices."""
        check_floating(self, logits)
        check_array(self, target, "target")
        kind = getattr(getattr(target, "dtype", None), "kind", None)
        if device_of(logits) != device_of(target):
            raise InputTypeError(f"{self!r}: logits are on the {device_of(logits)}, targets on the {device_of(target)}")
        shape, tshape = tuple(logits.shape), tuple(getattr(target, "shape", ()))
        if logits.ndim == 1:
            if (kind in ("i", "u") and tshape == ()) or (kind == "f" and tshape == shape):
                return self._check(logits[None], target[None])
            raise InputError(f"{self!r}: logits of shape {shape} (one sample) need a 0-d integer class index or "
                             f"floating class probabilities of shape {shape}, got {kind and target.dtype} targets "
                             f"of shape {tshape}")
        if logits.ndim < 1:
            raise InputError(f"{self!r}: expected logits (N, C, ...) or (C,), got logits of shape {shape}")
        if self.weight is not None and tuple(getattr(self.weight, "shape", ())) != (shape[1],):
            raise InputError(f"{self!r}: weight tensor should be defined either for all {shape[1]} classes or no "
                             f"classes but got weight tensor of shape: {list(getattr(self.weight, 'shape', ()))}")
        if kind in ("i", "u") and tshape == (shape[0],) + shape[2:]:
            return "index"
        if kind == "f" and tshape == shape:
            if self.ignore_index >= 0:   # torch's rule: a negative one never matches a class
                raise InputError(f"{self!r}: ignore_index is not supported for floating point target")
            return "probability"
        raise InputError(f"{self!r}: logits of shape {shape} need integer class indices of shape "
                         f"{(shape[0],) + shape[2:]} or floating class probabilities of shape {shape}, got "
                         f"{kind and target.dtype} targets of shape {tshape}")

    def forward(self, logits, target):
        self._check(logits, target)
        self._unbatched = logits.ndim == 1
        if self._unbatched:
            logits, target = logits[None], target[None]
        if target.dtype.kind in "iu":
            self._check_classes(target, logits.shape[1])
        else:   # probabilities: torch promotes; ∂L/∂logits keeps the logits' dtype
            target = target.astype(logits.dtype, copy=False)
        losses, saved, divisor = ops.cross_entropy.run("forward", logits, target, self.weight, self.label_smoothing,
                                                       self.ignore_index)
        divisor = divisor if divisor != 0 else math.nan
        self._cache = (saved, divisor, tuple(logits.shape))
        if self.reduction == "none":
            return losses.reshape(() if self._unbatched else (logits.shape[0],) + tuple(logits.shape[2:]))
        def check(value):
            if not math.isfinite(value) and math.isfinite(divisor):
                raise FloatingPointError(f"CrossEntropyLoss is {value}: the logits hold NaN or Inf (training "
                                         "diverged)")
        return reduced_loss(losses.sum(), divisor if self.reduction == "mean" else 1, check)

    def _check_classes(self, target, c):
        """Every index target not ignored must name one of the C classes."""
        xp = get_array_module(target)
        y = target.reshape(-1)
        bad = (y != self.ignore_index) & ((y < 0) | (y >= c))
        if bool(xp.any(bad)):
            raise TargetIndexError(f"{self!r}: target {int(y[bad][0])} is out of bounds for {c} classes")

    def backward(self, grad_output=None):
        """∂L/∂logits for the last forward call, in the logits' shape and dtype.

        ``grad_output``: ∂(outer)/∂L, a number for "mean"/"sum" (default 1),
        an array of the loss's shape (N, d₁, …) for "none" (required).
        """
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        saved, divisor, shape = self._cache
        if self.reduction == "none":
            loss_shape = () if self._unbatched else (shape[0],) + shape[2:]
            if grad_output is None or tuple(getattr(grad_output, "shape", (None,))) != loss_shape:
                raise ValueError(f"{self!r}: backward needs grad_output of the loss's shape {loss_shape}, got "
                                 f"{None if grad_output is None else tuple(grad_output.shape)}")
            scale = grad_output.reshape(-1, 1).astype(saved[0].dtype, copy=False)
        else:
            scale = (1.0 / divisor if self.reduction == "mean" else 1.0) * (1.0 if grad_output is None
                                                                           else float(grad_output))
        grad = ops.cross_entropy.run("backward", saved, scale, shape)
        return grad[0] if self._unbatched else grad

    def __repr__(self):
        return "CrossEntropyLoss()"  # torch's: a loss's repr names no argument
