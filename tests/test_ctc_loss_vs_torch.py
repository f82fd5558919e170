"""CTCLoss against torch's autograd in float64: the loss and ∂loss/∂log_probs for every reduction ("none" with a
random upstream gradient, a non-1 scalar for "mean" and "sum"), padded and concatenated targets, lengths that
vary within a batch (inputs shorter than T, empty targets, repeated labels, no frames), blank first or last, one
sample, a batch of 8 and unbatched; impossible alignments with and without zero_infinity; float32; finite
differences through a log-softmax (where torch's gradient convention and the chain rule agree) and on
log_probs directly (where minimlp's gradient is the plain derivative plus exp(log_probs), torch's convention);
and the one-line errors."""
import math
import warnings

import numpy as np
import pytest
import torch

import minimlp
from minimlp import backend, nn
from minimlp.nn.checks import InputError, InputTypeError, TargetIndexError

TOL = 1e-10


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def torch_ctc(log_probs, targets, input_lengths, target_lengths, upstream, **options):
    """torch's loss and ∂(⟨upstream, loss⟩)/∂log_probs, by autograd."""
    x = torch.tensor(log_probs, requires_grad=True)
    loss = torch.nn.CTCLoss(**options)(x, torch.tensor(targets), tuple(int(v) for v in np.atleast_1d(input_lengths)),
                                       tuple(int(v) for v in np.atleast_1d(target_lengths)))
    loss.backward(torch.tensor(upstream, dtype=x.dtype))
    return loss.detach().numpy(), x.grad.numpy()


def assert_same(ours, theirs, tol, where):
    """NaN and ±∞ at the same places, the finite values within tol·max(1, max |theirs|)."""
    ours = np.asarray(backend.to_numpy(ours), dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} vs torch's {theirs.shape}"
    assert np.array_equal(np.isnan(ours), np.isnan(theirs)), f"{where}: NaN at other places than torch's"
    finite = np.isfinite(theirs)
    assert np.array_equal(ours[~finite & ~np.isnan(theirs)], theirs[~finite & ~np.isnan(theirs)]), f"{where}: ±∞"
    if finite.any():
        scale = max(1.0, float(np.abs(theirs[finite]).max()))
        err = float(np.abs(ours[finite] - theirs[finite]).max()) / scale
        assert err <= tol, f"{where}: error {err:.3g} > {tol:g}"


def batch(rng, steps, n, classes, longest, blank=0, input_lengths=None, target_lengths=None, repeats=True):
    """log_probs (T, N, C) from random logits, padded targets (N, S) without the blank (with runs of repeated
    labels when ``repeats``) and the lengths (random where not given)."""
    log_probs = log_softmax(rng.normal(0, 2, (steps, n, classes)))
    labels = [c for c in range(classes) if c != blank]
    targets = rng.choice(labels, (n, longest))
    if repeats and longest >= 3:
        targets[:, 1] = targets[:, 0]                      # l₁ = l₂: a blank frame is needed between them
        targets[0, :] = targets[0, 0]                      # one target a single label repeated
    il = rng.integers(steps // 2, steps + 1, n) if input_lengths is None else np.asarray(input_lengths)
    tl = rng.integers(0, longest + 1, n) if target_lengths is None else np.asarray(target_lengths)
    if input_lengths is None:
        il[0] = steps
    return log_probs, targets, il, tl


def concatenated(targets, target_lengths):
    return np.concatenate([row[:k] for row, k in zip(targets, target_lengths)]).astype(targets.dtype)


# name -> (T, N, C, longest target, blank, input lengths, target lengths); None: random
CASES = {
    "batch8": (50, 8, 20, 12, 0, None, None),
    "batch8-blank-last": (50, 8, 20, 12, 19, None, None),
    "batch1": (30, 1, 6, 8, 0, None, None),
    "short-inputs-and-empty-targets": (40, 5, 7, 6, 0, [40, 31, 7, 1, 20], [6, 0, 3, 0, 6]),
    "exact-fit": (12, 3, 4, 6, 0, [11, 12, 5], [6, 6, 3]),     # six copies of one label: 11 frames, just enough
    "impossible": (10, 4, 5, 8, 2, [10, 10, 3, 0], [8, 2, 4, 1]),
    "no-frames": (6, 3, 4, 3, 0, [0, 6, 0], [0, 2, 0]),
    "two-classes": (20, 4, 2, 5, 0, None, None),
}


@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", list(CASES))
def test_loss_and_gradient_match_torch_autograd(case, reduction, zero_infinity, layout):
    steps, n, classes, longest, blank, il, tl = CASES[case]
    rng = np.random.default_rng(list(CASES).index(case))
    log_probs, targets, il, tl = batch(rng, steps, n, classes, longest, blank, il, tl, repeats=classes > 2)
    if layout == "concatenated":
        targets = concatenated(targets, tl)
    upstream = rng.normal(size=n) if reduction == "none" else np.array(0.37)
    options = dict(blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    theirs, their_grad = torch_ctc(log_probs, targets, il, tl, upstream, **options)
    loss = nn.CTCLoss(**options)
    ours = loss(log_probs, targets, list(il), tuple(tl))
    assert isinstance(ours, float) if reduction != "none" else ours.dtype == np.float64
    grad = loss.backward(upstream if reduction == "none" else 0.37)
    assert grad.shape == log_probs.shape and grad.dtype == np.float64
    assert_same(ours, theirs, TOL, f"{case} loss")
    assert_same(grad, their_grad, TOL, f"{case} ∂loss/∂log_probs")
    assert np.all(grad[np.arange(steps)[:, None] >= il[None, :]] == 0)      # frames past each input: 0


def test_the_cases_reach_what_they_name():
    """Each CASES entry holds what its name says (so a change of the generator cannot empty a case)."""
    rng = np.random.default_rng(list(CASES).index("impossible"))
    losses = nn.CTCLoss(blank=2, reduction="none")(*batch(rng, *CASES["impossible"]))
    assert list(np.isinf(losses)) == [True, False, True, True]   # S' too long; S > T; no frames for a target
    rng = np.random.default_rng(list(CASES).index("exact-fit"))
    log_probs, targets, il, tl = batch(rng, *CASES["exact-fit"])
    assert len(set(targets[0])) == 1 and np.all(np.isfinite(nn.CTCLoss(reduction="none")(log_probs, targets, il,
                                                                                            tl)))
    theirs = torch.nn.CTCLoss(reduction="none")(torch.tensor(log_probs), torch.tensor(targets), (10, 12, 5), tuple(tl))
    assert math.isinf(theirs[0])                  # a frame fewer and the repeated target no longer fits


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["1-d", "(1, S)"])
def test_unbatched(reduction, layout):
    rng = np.random.default_rng(3)
    log_probs = log_softmax(rng.normal(0, 2, (15, 6)))
    targets = np.array([3, 3, 1, 5]) if layout == "1-d" else np.array([[3, 3, 1, 5, 2]])
    upstream = np.array(-0.8) if reduction == "none" else np.array(2.5)
    theirs, their_grad = torch_ctc(log_probs, targets, (15,), (4,), upstream, reduction=reduction)
    loss = nn.CTCLoss(reduction=reduction)
    ours = loss(log_probs, targets, [15], np.array([4]))
    grad = loss.backward(upstream if reduction == "none" else 2.5)
    assert np.shape(ours) == () and grad.shape == (15, 6)
    assert_same(ours, theirs, TOL, "unbatched loss")
    assert_same(grad, their_grad, TOL, "unbatched gradient")


def test_lengths_as_lists_tuples_and_integer_arrays_agree():
    rng = np.random.default_rng(4)
    log_probs, targets, il, tl = batch(rng, 20, 3, 5, 4)
    loss = nn.CTCLoss(reduction="none")
    expected = loss(log_probs, targets, list(il), list(tl))
    for il_as, tl_as in [(tuple(il), tuple(tl)), (il.astype(np.int32), tl.astype(np.uint8)),
                         (np.asarray(il)[None], [int(v) for v in tl])]:
        np.testing.assert_array_equal(loss(log_probs, targets.astype(np.int32), il_as, tl_as), expected)


def test_a_target_holding_the_blank_is_computed_as_torchs_kernel():
    """torch's documentation forbids it but its kernel computes it (with its skip rule l'_s ≠ l'_{s−2}): so do we."""
    rng = np.random.default_rng(5)
    log_probs = log_softmax(rng.normal(0, 2, (9, 2, 4)))
    targets = np.array([[1, 0, 2], [0, 0, 3]])
    upstream = rng.normal(size=2)
    theirs, their_grad = torch_ctc(log_probs, targets, (9, 8), (3, 3), upstream, reduction="none")
    loss = nn.CTCLoss(reduction="none")
    assert_same(loss(log_probs, targets, (9, 8), (3, 3)), theirs, TOL, "loss")
    assert_same(loss.backward(upstream), their_grad, TOL, "gradient")


def test_impossible_alignments_inf_and_nan_or_zero():
    log_probs = log_softmax(np.random.default_rng(6).normal(size=(4, 2, 3)))
    targets, il, tl = np.array([[1, 1, 1], [1, 2, 0]]), (4, 3), (3, 2)   # 1,1,1 needs 5 frames
    plain = nn.CTCLoss(reduction="sum")
    assert plain(log_probs, targets, il, tl) == math.inf               # torch's inf, not a FloatingPointError
    grad = plain.backward()
    assert np.isnan(grad[:, 0]).all() and np.isfinite(grad[:, 1]).all() and (grad[3, 1] == 0).all()
    zeroed = nn.CTCLoss(reduction="none", zero_infinity=True)
    losses = zeroed(log_probs, targets, il, tl)
    assert losses[0] == 0 and losses[1] > 0
    grad = zeroed.backward(np.array([1.0, 1.0]))
    assert (grad[:, 0] == 0).all() and np.abs(grad[:3, 1]).max() > 0.01
    assert nn.CTCLoss()(log_probs, targets, il, tl) == math.inf


def test_frames_past_each_input_are_never_read():
    """What pads a shorter sequence (NaN, huge values) changes nothing, and raises no NumPy warning."""
    rng = np.random.default_rng(14)
    log_probs, targets, il, tl = batch(rng, 12, 3, 5, 4, input_lengths=[12, 7, 3], target_lengths=[4, 3, 1])
    loss = nn.CTCLoss(reduction="none")
    clean, clean_grad = loss(log_probs, targets, il, tl), loss.backward(np.ones(3))
    padded = log_probs.copy()
    padded[7:, 1], padded[3:, 2, :2], padded[3:, 2, 2:] = np.nan, 1e4, -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(loss(padded, targets, il, tl), clean)
        np.testing.assert_array_equal(loss.backward(np.ones(3)), clean_grad)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_log_probs_raise_for_mean_and_sum():
    log_probs = log_softmax(np.random.default_rng(7).normal(size=(5, 2, 3)))
    log_probs[2, 1, :] = np.nan
    with pytest.raises(FloatingPointError, match="CTCLoss is nan: log_probs hold 3 NaN"):
        nn.CTCLoss()(log_probs, np.array([[1, 2], [2, 1]]), (5, 5), (2, 2))
    assert np.isnan(nn.CTCLoss(reduction="none")(log_probs, np.array([[1, 2], [2, 1]]), (5, 5), (2, 2))[1])


def test_minus_infinity_log_probs_give_zero_where_torch_gives_nan():
    """A class of probability 0 (log_probs −∞, a masked logit) gets the limit of y − γ, 0, where torch's
    exp(lp) − exp(log Σαβ + nll − lp) is −∞ + ∞ = NaN; everything else is torch's."""
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(6, 1, 4))
    logits[2, 0, 3] = -np.inf
    log_probs = log_softmax(logits)
    theirs, their_grad = torch_ctc(log_probs, np.array([[1, 2]]), (6,), (2,), np.array(1.0), reduction="sum")
    loss = nn.CTCLoss(reduction="sum")
    assert_same(loss(log_probs, np.array([[1, 2]]), (6,), (2,)), theirs, TOL, "loss")
    grad = loss.backward()
    assert np.isnan(their_grad[2, 0, 3]) and grad[2, 0, 3] == 0
    their_grad[2, 0, 3] = 0
    assert_same(grad, their_grad, TOL, "gradient elsewhere")


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_float32_stays_float32_and_close_to_torch_float32(reduction):
    rng = np.random.default_rng(9)
    log_probs, targets, il, tl = batch(rng, 40, 6, 12, 10)
    log_probs = log_probs.astype(np.float32)
    upstream = rng.normal(size=6).astype(np.float32) if reduction == "none" else np.array(1.5, np.float32)
    theirs, their_grad = torch_ctc(log_probs, targets, il, tl, upstream, reduction=reduction)
    loss = nn.CTCLoss(reduction=reduction)
    ours = loss(log_probs, targets, il, tl)
    grad = loss.backward(upstream if reduction == "none" else 1.5)
    assert grad.dtype == np.float32 and (reduction != "none" or ours.dtype == np.float32)
    assert_same(ours, theirs, 2e-5, "float32 loss")
    assert_same(grad, their_grad, 2e-5, "float32 gradient")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_through_log_softmax(reduction):
    """Finite differences of L(log_softmax(z)) with respect to the logits z: there torch's convention (y − γ) and
    the true derivative with respect to log_probs (−γ) give the same ∂L/∂z, so this checks our γ and y."""
    rng = np.random.default_rng(10)
    _, targets, il, tl = batch(rng, 9, 3, 5, 3, input_lengths=[9, 7, 4], target_lengths=[3, 2, 0])
    loss, softmax = nn.CTCLoss(reduction=reduction), nn.LogSoftmax(dim=-1)

    def forward(z):
        return np.asarray(loss(softmax(z), targets, il, tl))

    def backward(g):
        return softmax.backward(loss.backward(g if reduction == "none" else float(g)))

    assert minimlp.gradcheck((forward, backward), rng.normal(0, 1.5, (9, 3, 5)))


def test_gradcheck_on_log_probs_is_torchs_gradient_less_exp_log_probs():
    """Finite differences on log_probs themselves (every entry moved freely): the true derivative is −γ, and
    minimlp's (torch's) gradient less gₙ·exp(log_probs) at each sequence's frames is exactly that."""
    rng = np.random.default_rng(11)
    log_probs, targets, il, tl = batch(rng, 8, 3, 4, 3, input_lengths=[8, 6, 5], target_lengths=[3, 1, 2])
    loss = nn.CTCLoss(reduction="none")
    frames = (np.arange(8)[:, None] < il[None, :])[:, :, None]
    state = {}

    def forward(x):
        state["x"] = x
        return loss(x, targets, il, tl)

    def backward(g):
        return loss.backward(g) - np.exp(state["x"]) * g[None, :, None] * frames

    assert minimlp.gradcheck((forward, backward), log_probs)
    # torch's convention is not the plain derivative
    assert not minimlp.gradcheck((forward, loss.backward), log_probs, raise_exception=False)


@pytest.mark.device
def test_on_the_device(xp):
    rng = np.random.default_rng(12)
    log_probs, targets, il, tl = batch(rng, 30, 4, 8, 6)
    upstream = rng.normal(size=4)
    theirs, their_grad = torch_ctc(log_probs, targets, il, tl, upstream, reduction="none")
    loss = nn.CTCLoss(reduction="none")
    ours = loss(xp.asarray(log_probs), xp.asarray(targets), xp.asarray(il), tl)
    assert_same(ours, theirs, TOL, "loss")
    assert_same(loss.backward(xp.asarray(upstream)), their_grad, TOL, "gradient")


LP = log_softmax(np.random.default_rng(13).normal(size=(5, 2, 4)))
TG = np.array([[1, 2], [3, 1]])


@pytest.mark.parametrize("call,error,match,torch_raises", [
    (lambda m, a: m(a(LP), a(TG), (6, 5), (2, 2)), InputError, "input_lengths to have value at most 5", True),
    (lambda m, a: m(a(LP), a(TG), (-1, 5), (2, 2)), InputError, "input_lengths to have value at least 0", True),
    (lambda m, a: m(a(LP), a(TG), (5, 5), (-1, 2)), InputError, "target_lengths to have value at least 0", True),
    (lambda m, a: m(a(LP), a(TG), (5, 5), (3, 2)), InputError, r"shape \(2, S\) with S ≥ 3", True),
    (lambda m, a: m(a(LP), a(np.array([1, 2, 3])), (5, 5), (2, 2)), InputError, "1-d targets of size 4", True),
    (lambda m, a: m(a(LP), a(TG), (5, 5, 5), (2, 2)), InputError, "input_lengths must be of size batch_size", True),
    (lambda m, a: m(a(LP), a(TG), (5, 5), (2,)), InputError, "target_lengths must be of size batch_size", True),
    (lambda m, a: m(a(LP[:, 0, 0]), a(TG), (5, 5), (2, 2)), InputError, "expected log_probs", True),
    (lambda m, a: m(a(LP[None]), a(TG), (5, 5), (2, 2)), InputError, "expected log_probs", True),
    (lambda m, a: m(a(LP), a(TG[None]), (5, 5), (2, 2)), InputError, "expected targets", True),
    (lambda m, a: m(a(LP[:, :, :0]), a(TG), (5, 5), (2, 2)), InputError, "must not be empty", True),
    (lambda m, a: m(a(LP), a(TG[:1]), (5, 5), (2, 2)), InputError, r"shape \(2, S\)", True),
    (lambda m, a: type(m)(blank=4)(a(LP), a(TG), (5, 5), (2, 2)), InputError, "blank must be in label range", True),
    (lambda m, a: type(m)(blank=-1)(a(LP), a(TG), (5, 5), (2, 2)), InputError, "blank must be in label range", True),
    (lambda m, a: m(a(LP).astype(np.int64) if a is np.asarray else a(LP).long(), a(TG), (5, 5), (2, 2)), TypeError,
     "floating-point log_probs", False),
    (lambda m, a: m(a(LP), a(np.array([[1, 7], [3, 1]])), (5, 5), (2, 2)), TargetIndexError, "7 is out of bounds",
     False),
    (lambda m, a: m(a(LP), a(TG.astype(np.float64)), (5, 5), (2, 2)), InputTypeError, "integer targets", False),
    (lambda m, a: m(a(LP), a(TG), np.array([5.0, 5.0]), (2, 2)), InputTypeError, "input_lengths must be integers",
     False),
])
def test_errors(call, error, match, torch_raises):
    if torch_raises:
        with pytest.raises(RuntimeError):
            call(torch.nn.CTCLoss(), torch.tensor)
    with pytest.raises(error, match=match) as info:
        call(nn.CTCLoss(), np.asarray)
    assert "\n" not in str(info.value) and str(info.value).startswith("CTCLoss()")


def test_misuse_and_repr():
    with pytest.raises(ValueError, match="reduction must be"):
        nn.CTCLoss(reduction="batchmean")
    with pytest.raises(TypeError, match="a torch Tensor"):
        nn.CTCLoss()(torch.tensor(LP), TG, (5, 5), (2, 2))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.CTCLoss().backward()
    loss = nn.CTCLoss(reduction="none")
    loss(LP, TG, (5, 5), (2, 2))
    with pytest.raises(ValueError, match=r"grad_output of the loss's shape \(2,\)"):
        loss.backward()
    assert repr(nn.CTCLoss(blank=3, zero_infinity=True)) == repr(torch.nn.CTCLoss(blank=3)) == "CTCLoss()"
