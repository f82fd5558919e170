"""Packed sequences against torch 2.13: ``minimlp.nn.utils.rnn`` (pack_padded_sequence, pad_packed_sequence,
pad_sequence, pack_sequence, unpad_sequence, unpack_sequence, PackedSequence) value for value, and RNN, LSTM and
GRU run on a PackedSequence (sorted or not, one or two layers, one or two directions, the projected LSTM): the
packed output, h_n (c_n), ∂L/∂data, ∂L/∂h_0 (∂L/∂c_0) and every parameter's gradient to 1e-10 in float64 for
random upstream gradients; finite differences; each sequence's result equal to running it alone; float32; the
gathers' adjoint pair; errors."""
import numpy as np
import pytest
import torch
from torch.nn.utils import rnn as trnn

from minimlp import backend, nn, optim
from minimlp.nn.utils import rnn

TOL = dict(rtol=1e-10, atol=1e-10)
LENGTHS = {"sorted": ([5, 3, 3, 1], True), "unsorted-ties": ([2, 5, 1, 3, 3], False), "one": ([4], True),
           "all-equal": ([3, 3, 3], False), "all-one": ([1, 1], True)}
KINDS = ["RNN", "RNN-relu", "LSTM", "GRU", "LSTM-proj"]


def make(kind, module, num_layers, bidirectional, **kwargs):
    base, _, variant = kind.partition("-")
    if variant == "relu":
        kwargs["nonlinearity"] = "relu"
    if variant == "proj":
        kwargs["proj_size"] = 2
    return getattr(module, base)(3, 4, num_layers=num_layers, bidirectional=bidirectional, **kwargs)


def pair(kind, num_layers, bidirectional, device="cpu"):
    theirs = make(kind, torch.nn, num_layers, bidirectional).double()
    ours = make(kind, nn, num_layers, bidirectional, dtype=np.float64).to(device=device)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def as_tuple(value):
    return tuple(value) if isinstance(value, tuple) else (value,)


def close(ours, theirs, what, **tol):
    np.testing.assert_allclose(backend.to_numpy(ours), theirs.detach().numpy(), err_msg=what, **(tol or TOL))


def initial_state(kind, num_layers, bidirectional, batch, rng):
    directions = 2 if bidirectional else 1
    width = 2 if kind == "LSTM-proj" else 4
    h0 = rng.standard_normal((num_layers * directions, batch, width))
    if kind.startswith("LSTM"):
        return h0, rng.standard_normal((num_layers * directions, batch, 4))
    return (h0,)


# ------------------------------------------------------------------ the gathers
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths", list(LENGTHS))
def test_pack_and_pad_match_torch(lengths, batch_first):
    lengths, enforce = LENGTHS[lengths]
    rng = np.random.default_rng(1)
    T, B = max(lengths) + 1, len(lengths)
    x = rng.standard_normal((B, T, 2) if batch_first else (T, B, 2))
    ours = rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce)
    theirs = trnn.pack_padded_sequence(torch.tensor(x), lengths, batch_first=batch_first, enforce_sorted=enforce)
    close(ours.data, theirs.data, "data")
    np.testing.assert_array_equal(ours.batch_sizes, theirs.batch_sizes.numpy())
    assert ours.batch_sizes.dtype == np.int64
    for name in ("sorted_indices", "unsorted_indices"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b.numpy(), err_msg=name)
    for total_length in (None, T + 2):
        padded, out_lengths = rnn.pad_packed_sequence(ours, batch_first=batch_first, padding_value=-7.5,
                                                      total_length=total_length)
        padded_t, lengths_t = trnn.pad_packed_sequence(theirs, batch_first=batch_first, padding_value=-7.5,
                                                       total_length=total_length)
        close(padded, padded_t, "padded")
        np.testing.assert_array_equal(out_lengths, lengths_t.numpy())
    for a, b in zip(rnn.unpack_sequence(ours), trnn.unpack_sequence(theirs)):
        close(a, b, "unpack_sequence")


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence_and_its_inverses_match_torch(batch_first, padding_side):
    rng = np.random.default_rng(2)
    sequences = [rng.standard_normal((n, 2, 3)) for n in (2, 4, 1)]
    ours = rnn.pad_sequence(sequences, batch_first=batch_first, padding_value=1.5, padding_side=padding_side)
    theirs = trnn.pad_sequence([torch.tensor(s) for s in sequences], batch_first=batch_first, padding_value=1.5,
                               padding_side=padding_side)
    close(ours, theirs, "pad_sequence")
    if padding_side == "right":
        for a, b in zip(rnn.unpad_sequence(ours, [2, 4, 1], batch_first=batch_first), sequences):
            np.testing.assert_array_equal(a, b)
    packed = rnn.pack_sequence(sequences, enforce_sorted=False)
    packed_t = trnn.pack_sequence([torch.tensor(s) for s in sequences], enforce_sorted=False)
    close(packed.data, packed_t.data, "pack_sequence")
    np.testing.assert_array_equal(packed.lengths(), [2, 4, 1])


def test_lengths_may_be_a_list_a_numpy_array_or_a_torch_tensor():
    x = np.arange(12.0).reshape(3, 2, 2)
    for lengths in ([3, 1], np.array([3, 1]), torch.tensor([3, 1]), (3.0, 1.0)):
        packed = rnn.pack_padded_sequence(x, lengths)
        np.testing.assert_array_equal(packed.batch_sizes, [2, 1, 1])
        np.testing.assert_array_equal(packed.data, x[[0, 0, 1, 2], [0, 1, 0, 0]])


@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_are_each_others_backward_as_torch_autograd_says(batch_first):
    """The gradient of pack_padded_sequence is pad_packed_sequence of the packed gradient (zeros at padding),
    and the gradient of pad_packed_sequence is pack_padded_sequence of the padded gradient, as torch's autograd."""
    rng = np.random.default_rng(3)
    lengths = [2, 4, 1, 4]
    shape = (4, 5, 3) if batch_first else (5, 4, 3)
    x = rng.standard_normal(shape)
    packed = rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    grad_data = rng.standard_normal(packed.data.shape)
    xt = torch.tensor(x, requires_grad=True)
    trnn.pack_padded_sequence(xt, lengths, batch_first=batch_first, enforce_sorted=False).data.backward(
        torch.tensor(grad_data))
    grad_x = rnn.pad_packed_sequence(packed._replace(data=grad_data), batch_first=batch_first, total_length=5)[0]
    close(grad_x, xt.grad, "∂L/∂padded")
    grad_padded = rng.standard_normal(shape)
    dt = torch.tensor(packed.data, requires_grad=True)
    padded_t, _ = trnn.pad_packed_sequence(trnn.PackedSequence(dt, torch.tensor(packed.batch_sizes),
                                                               torch.tensor(packed.sorted_indices)),
                                           batch_first=batch_first, total_length=5)
    padded_t.backward(torch.tensor(grad_padded))
    grad_d = rnn.pack_padded_sequence(grad_padded, lengths, batch_first=batch_first, enforce_sorted=False).data
    close(grad_d, dt.grad, "∂L/∂data")


# ------------------------------------------------------------------ RNN, LSTM, GRU on packed input
@pytest.mark.parametrize("with_hx", [True, False], ids=["hx", "zeros"])
@pytest.mark.parametrize("lengths", ["sorted", "unsorted-ties", "all-one"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one-way", "bidirectional"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_packed_input_matches_torch(kind, num_layers, bidirectional, lengths, with_hx, device):
    """The packed output, h_n (c_n) in the caller's order, and ∂L/∂data, ∂L/∂h_0 (∂L/∂c_0) and each parameter's
    gradient for random upstream gradients on the output and every final state."""
    lengths, enforce = LENGTHS[lengths]
    ours, theirs = pair(kind, num_layers, bidirectional, device)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((max(lengths), len(lengths), 3))
    hx = initial_state(kind, num_layers, bidirectional, len(lengths), rng) if with_hx else None
    xt = torch.tensor(x, requires_grad=True)
    hxt = None if hx is None else [torch.tensor(h, requires_grad=True) for h in hx]
    out_t, final_t = theirs(trnn.pack_padded_sequence(xt, lengths, enforce_sorted=enforce),
                            None if hxt is None else hxt[0] if len(hxt) == 1 else tuple(hxt))
    to = lambda a: backend.to_device(a, device)  # noqa: E731
    packed = rnn.pack_padded_sequence(to(x), lengths, enforce_sorted=enforce)
    out, final = ours(packed, None if hx is None else to(hx[0]) if len(hx) == 1 else tuple(map(to, hx)))
    assert isinstance(out, rnn.PackedSequence)
    np.testing.assert_array_equal(out.batch_sizes, out_t.batch_sizes.numpy())
    close(out.data, out_t.data, "output")
    for a, b in zip(as_tuple(final), as_tuple(final_t)):
        close(a, b, "final state")
    grad_out = rng.standard_normal(out.data.shape)
    grad_final = [rng.standard_normal(a.shape) for a in as_tuple(final)]
    torch.autograd.backward([out_t.data, *as_tuple(final_t)], [torch.tensor(g) for g in [grad_out, *grad_final]])
    dx = ours.backward(out._replace(data=to(grad_out)), *map(to, grad_final))
    assert isinstance(dx, rnn.PackedSequence)
    close(dx.data, trnn.pack_padded_sequence(xt.grad, lengths, enforce_sorted=enforce).data, "∂L/∂data")
    close(rnn.pad_packed_sequence(dx, total_length=x.shape[0])[0], xt.grad, "∂L/∂x (zeros at padding)")
    if hx is not None:
        for a, b in zip(as_tuple(ours.grad_hx), hxt):
            close(a, b.grad, "∂L/∂hx")
    for name, p in theirs.named_parameters():
        close(getattr(ours, name).grad, p.grad, f"grad {name}")


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_each_sequence_of_a_packed_batch_is_what_it_gives_alone(kind):
    """A packed batch is a batch of independent sequences: each one's outputs and final state are those of the
    same sequence run alone (both directions, two layers), whatever the others' lengths."""
    layer = make(kind, nn, 2, True, dtype=np.float64)
    rng = np.random.default_rng(5)
    sequences = [rng.standard_normal((n, 3)) for n in (3, 6, 1, 6)]
    out, final = layer(rnn.pack_sequence(sequences, enforce_sorted=False))
    for k, (alone, got) in enumerate(zip(sequences, rnn.unpack_sequence(out))):
        out_alone, final_alone = layer(alone)
        np.testing.assert_allclose(got, out_alone, rtol=1e-12, atol=1e-12)
        for a, b in zip(as_tuple(final), as_tuple(final_alone)):
            np.testing.assert_allclose(a[:, k], b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "LSTM-proj", "GRU"])
def test_finite_differences_of_a_packed_run(kind):
    """∂L/∂data and ∂L/∂h_0 by backward against central differences of L = Σ G ⊙ output + Σ G_h ⊙ h_n."""
    layer = make(kind, nn, 2, True, dtype=np.float64)
    rng = np.random.default_rng(6)
    lengths = [1, 3, 2]
    packed = rnn.pack_padded_sequence(rng.standard_normal((3, 3, 3)), lengths, enforce_sorted=False)
    hx = initial_state(kind, 2, True, 3, rng)
    out, final = layer(packed, hx if len(hx) > 1 else hx[0])
    grad_out = rng.standard_normal(out.data.shape)
    grad_final = [rng.standard_normal(a.shape) for a in as_tuple(final)]

    def loss(data, h0):
        hx_now = (h0,) + tuple(hx[1:])
        o, f = layer(packed._replace(data=data), hx_now if len(hx_now) > 1 else h0)
        return float((o.data * grad_out).sum() + sum((a * g).sum() for a, g in zip(as_tuple(f), grad_final)))

    layer(packed, hx if len(hx) > 1 else hx[0])
    dx = layer.backward(grad_out, *grad_final)
    dh0 = as_tuple(layer.grad_hx)[0]
    eps = 1e-6
    for array, grad, which in ((packed.data, dx.data, "data"), (hx[0], dh0, "h0")):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += eps
            minus[index] -= eps
            args = (plus, hx[0]) if which == "data" else (packed.data, plus)
            args_minus = (minus, hx[0]) if which == "data" else (packed.data, minus)
            numeric[index] = (loss(*args) - loss(*args_minus)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7, err_msg=which)


def test_only_the_final_state_may_carry_the_gradient():
    """A classifier on the last hidden state: backward(None, grad_h_n) as torch's autograd of h_n alone."""
    ours, theirs = pair("LSTM", 1, False)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 3))
    lengths = [2, 4, 3]
    xt = torch.tensor(x, requires_grad=True)
    _, (h_t, _) = theirs(trnn.pack_padded_sequence(xt, lengths, enforce_sorted=False))
    grad_h = rng.standard_normal(h_t.shape)
    h_t.backward(torch.tensor(grad_h))
    _, (h, _) = ours(rnn.pack_padded_sequence(x, lengths, enforce_sorted=False))
    close(h, h_t, "h_n")
    dx = ours.backward(None, grad_h)
    close(rnn.pad_packed_sequence(dx)[0], xt.grad, "∂L/∂x")


def test_the_gradient_may_be_the_packed_data_array_and_float32_stays_float32():
    ours, theirs = pair("GRU", 2, True)
    ours.to(dtype=np.float32)
    rng = np.random.default_rng(8)
    packed = rnn.pack_sequence([rng.standard_normal((n, 3)).astype(np.float32) for n in (4, 2, 2)])
    out, h = ours(packed)
    assert out.data.dtype == h.dtype == np.float32
    out_t, h_t = theirs(trnn.pack_sequence([torch.tensor(s, dtype=torch.float64) for s in rnn.unpack_sequence(
        packed)]))
    close(out.data, out_t.data, "float32 output", rtol=1e-5, atol=1e-5)
    dx = ours.backward(np.ones_like(out.data))
    assert dx.data.dtype == np.float32 and dx.data.shape == packed.data.shape
    assert dx.batch_sizes is packed.batch_sizes or np.array_equal(dx.batch_sizes, packed.batch_sizes)


def test_packed_sequence_is_torchs_named_tuple_with_its_conversions():
    packed = rnn.pack_sequence([np.ones((3, 2), np.float32), np.ones((1, 2), np.float32)])
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert data is packed.data and sorted_indices is None and unsorted_indices is None
    np.testing.assert_array_equal(batch_sizes, [2, 1, 1])
    assert packed.double().data.dtype == np.float64 and packed.float() is packed and packed.cpu() is packed
    assert packed.to(np.float64).data.dtype == np.float64 and not packed.is_cuda
    old_form = rnn.PackedSequence((packed.data, [2, 1, 1]))
    np.testing.assert_array_equal(old_form.batch_sizes, [2, 1, 1])
    rebuilt = rnn.PackedSequence(packed.data, packed.batch_sizes, np.array([1, 0]))
    np.testing.assert_array_equal(rebuilt.unsorted_indices, [1, 0])
    np.testing.assert_array_equal(rnn.invert_permutation(np.array([2, 0, 1])), [1, 2, 0])
    assert repr(packed).startswith("PackedSequence(data=array(")


# ------------------------------------------------------------------ errors
def _error(call):
    with pytest.raises(Exception) as caught:
        call()
    return caught


@pytest.mark.parametrize("call,theirs", [
    (lambda m: m.pack_padded_sequence(np.zeros((4, 3, 2)), [2, 3, 1]),
     lambda t: t.pack_padded_sequence(torch.zeros(4, 3, 2), [2, 3, 1])),
    (lambda m: m.pack_padded_sequence(np.zeros((4, 3, 2)), [3, 2, 0]),
     lambda t: t.pack_padded_sequence(torch.zeros(4, 3, 2), [3, 2, 0])),
    (lambda m: m.pack_padded_sequence(np.zeros((4, 3, 2)), [3, 2]),
     lambda t: t.pack_padded_sequence(torch.zeros(4, 3, 2), [3, 2])),
    (lambda m: m.pack_padded_sequence(np.zeros((0, 3, 2)), [1, 1, 1]),
     lambda t: t.pack_padded_sequence(torch.zeros(0, 3, 2), [1, 1, 1])),
    (lambda m: m.pad_sequence([]), lambda t: t.pad_sequence([])),
    (lambda m: m.pad_sequence([np.ones((2, 3))], padding_side="middle"),
     lambda t: t.pad_sequence([torch.ones(2, 3)], padding_side="middle")),
    (lambda m: m.pad_packed_sequence(m.pack_sequence([np.ones((3, 1))]), total_length=2),
     lambda t: t.pad_packed_sequence(t.pack_sequence([torch.ones(3, 1)]), total_length=2)),
])
def test_errors_as_torch(call, theirs):
    ours, torchs = _error(lambda: call(rnn)), _error(lambda: theirs(trnn))
    assert isinstance(ours.value, type(torchs.value))
    assert str(ours.value) == str(torchs.value)


@pytest.mark.parametrize("call,message", [
    (lambda: rnn.pack_padded_sequence(np.zeros((4, 2, 1)), [5, 3]), "a length of 5 is longer than the input's 4"),
    (lambda: rnn.pack_padded_sequence(np.zeros((4, 2, 1)), [2.5, 1]), "lengths must hold whole numbers"),
    (lambda: rnn.pad_packed_sequence(np.zeros((3, 1))), "expected a PackedSequence, got ndarray"),
    (lambda: rnn.pad_sequence([np.ones((2, 3)), np.ones((2, 4))]), "sequence 1 has shape (2, 4)"),
    (lambda: rnn.PackedSequence(np.ones((3, 2)), [1, 2]), "non-increasing"),
    (lambda: nn.LSTM(3, 4)(rnn.pack_sequence([np.ones((2, 5), np.float32)])), "Expected 3, got 5"),
    (lambda: nn.GRU(3, 4)(rnn.pack_sequence([np.ones((2, 3))])), "does not match the layer's float32"),
])
def test_mistakes_are_one_line_errors_naming_the_problem(call, message):
    caught = _error(call)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_gradient_of_other_sequences_is_refused():
    layer = nn.GRU(3, 4)
    out, _ = layer(rnn.pack_sequence([np.ones((3, 3), np.float32), np.ones((2, 3), np.float32)]))
    other = rnn.pack_sequence([np.ones((3, 4), np.float32), np.ones((1, 4), np.float32), np.ones((1, 4), np.float32)])
    with pytest.raises(ValueError, match=r"batch_sizes \[3, 1, 1\] are not the output's \[2, 2, 1\]"):
        layer.backward(other)


def test_a_packed_classifier_trains_as_torchs_step_for_step():
    """docs/library.md's classifier (Embedding, a packed two-layer LSTM, Linear on h_n[-1], cross-entropy, Adam)
    with torch's weights: the same losses for 30 steps in float64, and it learns."""
    rng = np.random.default_rng(9)
    tokens, lengths, labels = rng.integers(1, 20, (8, 7)), rng.integers(1, 8, 8), rng.integers(0, 3, 8)
    torch.manual_seed(0)
    t_embed, t_lstm, t_head = torch.nn.Embedding(20, 6), torch.nn.LSTM(6, 8, 2, batch_first=True), torch.nn.Linear(8, 3)
    modules = [(nn.Embedding(20, 6), t_embed), (nn.LSTM(6, 8, 2, batch_first=True), t_lstm), (nn.Linear(8, 3), t_head)]
    for ours, theirs in modules:
        theirs.double()
        ours.to(dtype=np.float64).load_state_dict(theirs.state_dict())
    (embed, _), (lstm, _), (head, _) = modules
    params = [p for ours, _ in modules for p in ours.parameters()]
    opt = optim.Adam(params, lr=1e-2)
    t_opt = torch.optim.Adam([p for _, theirs in modules for p in theirs.parameters()], lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(30):
        x = embed(tokens)
        _, (h_n, _) = lstm(rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        loss = loss_fn(head(h_n[-1]), labels)
        grad_h_n = np.zeros_like(h_n)
        grad_h_n[-1] = head.backward(loss_fn.backward())
        d_packed = lstm.backward(None, grad_h_n)
        embed.backward(rnn.pad_packed_sequence(d_packed, batch_first=True, total_length=x.shape[1])[0])
        opt.step()
        opt.zero_grad()
        _, (h_t, _) = t_lstm(trnn.pack_padded_sequence(t_embed(torch.tensor(tokens)), torch.tensor(lengths),
                                                        batch_first=True, enforce_sorted=False))
        t_loss = torch.nn.functional.cross_entropy(t_head(h_t[-1]), torch.tensor(labels))
        t_opt.zero_grad()
        t_loss.backward()
        t_opt.step()
        np.testing.assert_allclose(float(loss), t_loss.item(), rtol=1e-10, atol=1e-12)
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses


def test_a_gradient_packed_in_another_order_is_refused():
    """Equal batch_sizes but other sorted_indices: the rows are other sequences' (it was read silently)."""
    layer = nn.GRU(3, 4)
    x = np.ones((4, 3, 3), np.float32)
    out, _ = layer(rnn.pack_padded_sequence(x, [2, 4, 3], enforce_sorted=False))
    other = rnn.pack_padded_sequence(np.ones((4, 3, 4), np.float32), [4, 3, 2])
    np.testing.assert_array_equal(other.batch_sizes, out.batch_sizes)
    with pytest.raises(ValueError, match="packed in another order than the output's"):
        layer.backward(other)
    assert layer.backward(out._replace(data=np.ones_like(out.data))).data.shape == (9, 3)
