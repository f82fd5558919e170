"""TripletMarginLoss and TripletMarginWithDistanceLoss: an anchor nearer its positive than its negative by a margin
(the hinge in ``minimlp.formulas.ranking``, the distances in ``minimlp.formulas.distance``)."""
from ..kernels import ops
from .checks import InputError, UnsupportedModeError
from .distance import CosineSimilarity, PairwiseDistance
from .several_inputs import _LossOfSeveral


class _Triplet(_LossOfSeveral):
    """ℓ = max(0, margin + d(a, p) − d(a, n)), d(a, n) replaced by min(d(a, n), d(p, n)) with ``swap``; backward
    returns (∂L/∂anchor, ∂L/∂positive, ∂L/∂negative): the hinge's G, −G (split at a tie of the swap's minimum)
    taken back through each distance."""

    _op = ops.triplet_hinge

    def _triplet(self, distance, anchor, positive, negative):
        if not float(self.margin) > 0:
            raise ValueError(f"margin must be greater than 0, got {self.margin}")
        self._floating({"anchor": anchor, "positive": positive, "negative": negative})
        if not anchor.ndim == positive.ndim == negative.ndim:
            raise InputError(f"{self!r}: The anchor, positive, and negative tensors are expected to have the same "
                             f"number of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
                             f"negative {negative.ndim}D inputs")
        near, kept_near = distance.measure(anchor, positive)
        far, kept_far = distance.measure(anchor, negative)
        swapped, kept_swapped = distance.measure(positive, negative) if self.swap else (None, None)
        self._broadcast(near.shape, far.shape, () if swapped is None else swapped.shape)
        loss, saved = self._op.run("forward", near, far, swapped, float(self.margin))
        return self._reduce(loss, (saved, distance, kept_near, kept_far, kept_swapped),
                            (anchor.dtype, positive.dtype, negative.dtype))

    def _gradients(self, g, saved):
        saved, distance, kept_near, kept_far, kept_swapped = saved
        g_near, g_far, g_swapped = self._op.run("backward", g, saved)
        d_anchor, d_positive = distance.measure_backward(g_near, kept_near)
        d_anchor_far, d_negative = distance.measure_backward(g_far, kept_far)
        d_anchor = d_anchor + d_anchor_far
        if g_swapped is not None:
            d_positive_swap, d_negative_swap = distance.measure_backward(g_swapped, kept_swapped)
            d_positive, d_negative = d_positive + d_positive_swap, d_negative + d_negative_swap
        return d_anchor, d_positive, d_negative


class TripletMarginLoss(_Triplet):
    """ℓ = max(0, margin + d(a, p) − d(a, n)) with d = torch's ``pairwise_distance`` (‖x − y + ε‖_p along the last
    axis, ``eps`` ε = 1e-6), and d(a, n) → min(d(a, n), d(p, n)) with ``swap`` (Balntas et al. 2016); anchor,
    positive, negative (N, D) or unbatched (D,), of one number of axes, broadcast as torch; margin > 0 (torch's
    check, at forward).

    ``forward(anchor, positive, negative)``; ``backward(grad_output=None)`` returns (∂L/∂anchor, ∂L/∂positive,
    ∂L/∂negative): where the hinge is active (at 0 too, as torch's clamp), G·(u_ap − u_an), −G·u_ap, G·u_an with
    u_xy = ∂d(x, y)/∂x (``PairwiseDistance``'s gradient); with ``swap`` the −G of d(a, n) goes to d(p, n) where that
    is smaller, half to each at a tie (torch's minimum). Keeps each distance's cache."""

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return self._triplet(PairwiseDistance(self.p, self.eps), anchor, positive, negative)


DISTANCES = (PairwiseDistance, CosineSimilarity)


class TripletMarginWithDistanceLoss(_Triplet):
    """ℓ = max(0, margin + d(a, p) − d(a, n)) (with ``swap``, min(d(a, n), d(p, n))) for ``distance_function`` d:
    None (``PairwiseDistance()``, torch's default), or a minimlp ``PairwiseDistance`` or ``CosineSimilarity``
    (used as it is, as torch uses it: a similarity is not turned into a distance). Any other callable is refused
    (UnsupportedModeError, a ValueError): minimlp has no autograd to differentiate a function it does not know.
    margin > 0, checked when made and at forward, as torch.

    ``forward(anchor, positive, negative)``; ``backward(grad_output=None)`` returns (∂L/∂anchor, ∂L/∂positive,
    ∂L/∂negative) as ``TripletMarginLoss``'s, through the distance's own backward. The distance module keeps no
    cache of these calls (each call's is kept by the loss)."""

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(reduction=reduction)
        if distance_function is not None and not isinstance(distance_function, DISTANCES):
            raise UnsupportedModeError(
                f"TripletMarginWithDistanceLoss: distance_function must be None, a minimlp nn.PairwiseDistance or "
                f"nn.CosineSimilarity (minimlp has no autograd to differentiate another function), got "
                f"{distance_function!r}")
        if not float(margin) > 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} "
                             f"instead")
        self.distance_function = PairwiseDistance() if distance_function is None else distance_function
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return self._triplet(self.distance_function, anchor, positive, negative)

    def __repr__(self):
        return f"TripletMarginWithDistanceLoss(\n  (distance_function): {self.distance_function!r}\n)"   # torch's
