"""Connectionist temporal classification (Graves et al., 2006): −log p(l | x), the probability of a label sequence
l summed over every alignment of it with T frames of log-probabilities, by the forward (α) and backward (β)
recursions in log space. The loop runs over time only; each step takes the whole batch and every position s.

For a target l = (l₁, …, l_S) the extended sequence l' (length S' = 2S + 1) puts a blank before, between and
after the labels: l' = (b, l₁, b, l₂, …, b, l_S, b). With y_t(k) = exp(log_probs[t, k]) (log-probabilities:
the output of a log-softmax) and the frames t = 0 … T − 1 of one sequence:

    α₀(0) = y₀(b),  α₀(1) = y₀(l₁),  α₀(s) = 0 for s ≥ 2
    α_t(s) = (α_{t−1}(s) + α_{t−1}(s−1) + [skip_s]·α_{t−1}(s−2))·y_t(l'_s)
    β_{T−1}(S'−1) = y_{T−1}(b),  β_{T−1}(S'−2) = y_{T−1}(l_S),  β_{T−1}(s) = 0 elsewhere
    β_t(s) = (β_{t+1}(s) + β_{t+1}(s+1) + [skip_{s+2}]·β_{t+1}(s+2))·y_t(l'_s)
    p(l | x) = α_{T−1}(S'−1) + α_{T−1}(S'−2),   loss = −log p(l | x)

with skip_s = [l'_s ≠ b and l'_s ≠ l'_{s−2}]: a path may jump over a blank only between two different labels,
so a repeated label (l_i = l_{i+1}) needs a blank frame between its copies. (The code asks l'_s ≠ l'_{s−2} for
s ≥ 2, which is the same for a target without blanks, and is what torch's kernel asks for a target that holds
one.) An empty target (S = 0) has l' = (b) and p = α_{T−1}(0); no frames (T = 0) give p = 1 for the empty
target, 0 otherwise. A target that no path fits (S plus its repeats longer than T) gives p = 0, a loss of +∞.

For every t, Σ_s α_t(s)·β_t(s)/y_t(l'_s) = p, so the occupation γ_t(k) = (1/p)·Σ_{s: l'_s = k} α_t(s)·β_t(s)/y_t(k)
sums to 1 over k, and ∂(−log p)/∂log y_t(k) = −γ_t(k). torch's ``ctc_loss`` returns instead

    ∂loss/∂log_probs[t, k] = y_t(k) − γ_t(k)   (t < T; 0 at the frames t ≥ T of a shorter sequence)

the gradient with respect to the logits z of log_probs = log_softmax(z): through the softmax's Jacobian
(δ_jk − y_j) the two agree, −γ_t(j) + y_t(j)·Σ_k γ_t(k) = y_t(j) − γ_t(j), and y − γ also sums to 0 over k, so
passing it back through a log-softmax leaves it unchanged. minimlp returns torch's.

In log space, products are sums and sums ``logaddexp``; impossible states are −∞. The code keeps
β̂_t(s) = β_t(s)/y_t(l'_s), the recursion's sum before the frame's own emission (β̂ = 1, log β̂ = 0, at the two end
states of the last frame), so α_t(s)·β_t(s)/y_t(l'_s) = α_t(s)·β̂_t(s) needs no division (and no −∞ − (−∞)).
"""
from ..backend import get_array_module

NEG_INF = float("-inf")


def extend(targets, target_lengths, blank):
    """(l', may_skip): targets (N, S) padded, target_lengths (N,); l' (N, 2S + 1), the labels at the odd positions
    and blanks elsewhere (blanks too past a shorter target), and may_skip[n, s] = l'_s ≠ l'_{s−2} (s ≥ 2)."""
    xp = get_array_module(targets)
    n, s = targets.shape
    used = xp.arange(s)[None, :] < target_lengths[:, None]
    extended = xp.full((n, 2 * s + 1), blank, dtype=xp.int64)
    extended[:, 1::2] = xp.where(used, targets, blank)
    may_skip = xp.zeros(extended.shape, dtype=bool)
    may_skip[:, 2:] = extended[:, 2:] != extended[:, :-2]
    return extended, may_skip


def _from_left(a, skip):
    """log(a(s) + a(s−1) + [skip_s]·a(s−2)) for each s, a in log space (N, S'); ``skip`` 0 or −∞ (N, S')."""
    xp = get_array_module(a)
    out = a.copy()
    xp.logaddexp(a[:, 1:], a[:, :-1], out=out[:, 1:])
    xp.logaddexp(out[:, 2:], a[:, :-2] + skip[:, 2:], out=out[:, 2:])
    return out


def _from_right(b, skip):
    """log(b(s) + b(s+1) + [skip_{s+2}]·b(s+2)) for each s: ``_from_left`` run the other way along l'."""
    xp = get_array_module(b)
    out = b.copy()
    xp.logaddexp(b[:, :-1], b[:, 1:], out=out[:, :-1])
    xp.logaddexp(out[:, :-2], b[:, 2:] + skip[:, 2:], out=out[:, :-2])
    return out


def forward(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity=False):
    """(loss, saved): log_probs (T, N, C), targets (N, S) padded (integer), input_lengths and target_lengths (N,)
    integer arrays on log_probs' device; loss (N,) = −log p(lₙ | xₙ) over the first input_lengths[n] frames (+∞
    where no alignment exists, 0 there with ``zero_infinity``). Keeps log α (T, N, S') for the backward."""
    xp = get_array_module(log_probs)
    steps, n, _ = log_probs.shape
    dtype = log_probs.dtype
    extended, may_skip = extend(targets, target_lengths, blank)
    skip = xp.where(may_skip, xp.zeros((), dtype), xp.asarray(NEG_INF, dtype))
    y = log_probs[:, xp.arange(n)[:, None], extended]                      # log y_t(l'_s), (T, N, S')
    in_sequence = (xp.arange(steps)[:, None] < input_lengths[None, :])[:, :, None]
    y = xp.where(in_sequence, y, xp.asarray(NEG_INF, dtype))                 # frames past an input: never read
    alpha = xp.full((steps,) + extended.shape, NEG_INF, dtype=dtype)
    alpha[0, :, 0] = y[0, :, 0]
    if extended.shape[1] > 1:
        alpha[0, :, 1] = xp.where(target_lengths > 0, y[0, :, 1], xp.asarray(NEG_INF, dtype))
    for t in range(1, steps):
        alpha[t] = _from_left(alpha[t - 1], skip) + y[t]
    rows = xp.arange(n)
    last = 2 * target_lengths                                               # S'ₙ − 1, the final blank
    at_end = alpha[xp.maximum(input_lengths - 1, 0), rows]                  # α_{Tₙ−1}, (N, S')
    log_p = xp.logaddexp(at_end[rows, last],
                         xp.where(target_lengths > 0, at_end[rows, xp.maximum(last - 1, 0)],
                                  xp.asarray(NEG_INF, dtype)))
    no_frames = xp.where(target_lengths == 0, xp.zeros((), dtype), xp.asarray(NEG_INF, dtype))
    log_p = xp.where(input_lengths > 0, log_p, no_frames)
    loss = -log_p
    if zero_infinity:
        loss = xp.where(loss == float("inf"), xp.zeros((), dtype), loss)
    saved = (log_probs, y, alpha, extended, skip, input_lengths, target_lengths, log_p, zero_infinity)
    return loss, saved


def backward(g, saved):
    """∂L/∂log_probs (T, N, C) for an upstream gradient g (N,) (∂L/∂lossₙ): gₙ·(y_t(k) − γ_t(k)) at t < Tₙ, 0 at
    t ≥ Tₙ; where p = 0 (loss +∞), NaN at t < Tₙ (torch's), or 0 everywhere with ``zero_infinity``. Runs the β
    recursion."""
    log_probs, y, alpha, extended, skip, input_lengths, target_lengths, log_p, zero_infinity = saved
    xp = get_array_module(log_probs)
    steps, n, classes = log_probs.shape
    dtype = log_probs.dtype
    rows = xp.arange(n)
    last = 2 * target_lengths
    at_end = xp.full(extended.shape, NEG_INF, dtype=dtype)                  # β̂ at the sequence's last frame
    at_end[rows, last] = 0
    at_end[rows[target_lengths > 0], last[target_lengths > 0] - 1] = 0
    beta_hat = xp.empty_like(alpha)
    beta = xp.full(extended.shape, NEG_INF, dtype=dtype)                    # β_{t+1}
    for t in range(steps - 1, -1, -1):
        beta_hat[t] = xp.where((input_lengths - 1 == t)[:, None], at_end, _from_right(beta, skip))
        beta = beta_hat[t] + y[t]
    impossible = log_p == NEG_INF
    occupation = xp.exp(alpha + beta_hat - xp.where(impossible, xp.zeros((), dtype), log_p)[:, None])  # (T, N, S')
    in_target = xp.arange(extended.shape[1])[None, :] <= last[:, None]
    one_hot = ((extended[:, :, None] == xp.arange(classes)) & in_target[:, :, None]).astype(dtype)  # (N, S', C)
    gamma = xp.matmul(occupation.transpose(1, 0, 2), one_hot).transpose(1, 0, 2)  # (T, N, C)
    in_sequence = (xp.arange(steps)[:, None] < input_lengths[None, :])[:, :, None]
    probs = xp.exp(xp.where(in_sequence, log_probs, xp.asarray(NEG_INF, dtype)))
    grad = (probs - gamma) * g.astype(dtype, copy=False)[:, None]
    grad = xp.where(impossible[:, None], xp.asarray(float("nan"), dtype), grad)
    kept = in_sequence & ~impossible[:, None] if zero_infinity else in_sequence
    return xp.where(kept, grad, xp.zeros((), dtype))
