"""MultiheadAttention, TransformerEncoderLayer and TransformerEncoder against torch 2.13: torch's weights loaded from
its state_dict, float64, random upstream gradients on every output (the attention weights too), every gradient
(query, key, value, each parameter) to 1e-10, on torch's reference path (training mode, dropout 0) and its fast
path (evaluation, no grad); dropout (evaluation ignores it, training's backward matches finite differences with
its mask fixed); gradchecks; state_dict keys, repr and errors as torch's."""
import warnings

import numpy as np
import pytest
import torch

import minimlp
from minimlp import backend, nn
from minimlp.gradcheck import GradcheckError, gradcheck

TOL = dict(rtol=1e-10, atol=1e-10)


def close(ours, theirs, what, **tol):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(backend.to_numpy(ours), theirs, err_msg=what, **(tol or TOL))


def randomise(module, seed=0):
    """Every parameter of a torch module ~ N(0, 0.5²), so the zero-initialised biases take part too."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)
    return module


def attention_pair(*args, device="cpu", **kwargs):
    """(ours in float64, torch's in float64) with torch's (randomised) weights loaded into ours."""
    theirs = randomise(torch.nn.MultiheadAttention(*args, **kwargs).double())
    ours = nn.MultiheadAttention(*args, dtype=np.float64, **kwargs).to(device=device)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def check_parameter_gradients(ours, theirs, **tol):
    ours_named, theirs_named = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ours_named) == list(theirs_named)
    for name, p in ours_named.items():
        close(p.grad, theirs_named[name].grad, f"grad {name}", **tol)


# ------------------------------------------------------------------ MultiheadAttention against torch
CASES = {
    "self-N7-L5-h4": dict(kind="self", N=7, L=5),
    "self-batch_first-N1-L1-h1": dict(kind="self", N=1, L=1, H=1, batch_first=True),
    "self-N1-L1-h4-no-weights": dict(kind="self", N=1, L=1, need_weights=False),
    "cross-bool-masks-batch_first": dict(kind="cross", attn_mask="bool2", kpm="bool", batch_first=True),
    "cross-float-masks-per-head": dict(kind="cross", attn_mask="float3", kpm="float", average=False),
    "cross-kdim-vdim": dict(kind="cross", kdim=3, vdim=5, attn_mask="bool3", batch_first=True),
    "cross-kdim-vdim-no-weights": dict(kind="cross", kdim=3, vdim=5, kpm="bool", need_weights=False),
    "key-is-value": dict(kind="kv", attn_mask="float2"),
    "bias-false": dict(kind="self", bias=False, attn_mask="bool2", kpm="bool"),
    "unbatched-self": dict(kind="self", N=None, attn_mask="bool3", kpm="bool"),
    "unbatched-cross-kdim-no-weights": dict(kind="cross", N=None, kdim=6, vdim=2, need_weights=False),
    "self-masks-no-weights-batch_first": dict(kind="self", attn_mask="bool2", kpm="bool", need_weights=False,
                                              batch_first=True),
    "add_bias_kv": dict(kind="cross", add_bias_kv=True, attn_mask="bool2", kpm="bool"),
    "add_zero_attn": dict(kind="self", add_zero_attn=True, attn_mask="float3", average=False),
    "bias_kv-zero_attn-no-weights": dict(kind="cross", add_bias_kv=True, add_zero_attn=True, kpm="bool",
                                         need_weights=False),
    "is_causal-replaces-the-mask": dict(kind="self", attn_mask="bool2", is_causal=True, need_weights=False),
    "is_causal-with-weights-keeps-the-mask": dict(kind="self", attn_mask="bool2", is_causal=True),
    "is_causal-with-padding-keeps-the-mask": dict(kind="self", attn_mask="bool2", kpm="bool", is_causal=True,
                                                  need_weights=False),
}


def make_inputs(case, rng):
    """query, key, value (the same object where the case says so) and the masks, as NumPy arrays."""
    e, h, n, length = case["E"], case["H"], case["N"], case["L"]
    source = length if case["kind"] == "self" else case["S"]

    def sequence(t, features):
        shape = (t, features) if n is None else (n, t, features) if case["batch_first"] else (t, n, features)
        return rng.standard_normal(shape)

    query = sequence(length, e)
    if case["kind"] == "self":
        key = value = query
    else:
        key = sequence(source, case["kdim"] or e)
        value = key if case["kind"] == "kv" else sequence(source, case["vdim"] or e)
    heads = h if n is None else n * h
    masks = {}
    if case["attn_mask"]:
        shape = (length, source) if case["attn_mask"].endswith("2") else (heads, length, source)
        if case["attn_mask"].startswith("bool"):
            mask = rng.random(shape) < 0.3
            mask[..., 0] = False                     # every query sees a key
        else:
            mask = rng.standard_normal(shape)
        masks["attn_mask"] = mask
    if case["kpm"]:
        mask = np.zeros((source,) if n is None else (n, source), dtype=bool)
        mask[..., -2:] = True
        mask[..., 0] = False
        masks["key_padding_mask"] = mask if case["kpm"] == "bool" else np.where(mask, -1.5, 0.25)
    return query, key, value, masks


def full_case(name):
    case = dict(E=8, H=4, N=3, L=5, S=6, batch_first=False, kdim=None, vdim=None, bias=True, attn_mask=None,
                kpm=None, need_weights=True, average=True, add_bias_kv=False, add_zero_attn=False, is_causal=False)
    case.update(CASES[name])
    return case


def run_both(case, ours, theirs, rng, device="cpu"):
    """Forward and backward through both with the same random upstream gradients; returns what to compare."""
    query, key, value, masks = make_inputs(case, rng)
    unique = {id(a): a for a in (query, key, value)}
    tensors = {i: torch.tensor(a, requires_grad=True) for i, a in unique.items()}
    options = dict(need_weights=case["need_weights"], average_attn_weights=case["average"],
                   is_causal=case["is_causal"])
    y_t, w_t = theirs(tensors[id(query)], tensors[id(key)], tensors[id(value)],
                      **{k: torch.tensor(m) for k, m in masks.items()}, **options)
    to = lambda a: backend.to_device(a, device)                                     # noqa: E731
    arrays = {i: to(a) for i, a in unique.items()}
    y, w = ours(arrays[id(query)], arrays[id(key)], arrays[id(value)], **{k: to(m) for k, m in masks.items()},
                **options)
    g = rng.standard_normal(tuple(y_t.shape))
    loss = (y_t * torch.tensor(g)).sum()
    g_w = None
    if w_t is not None:
        g_w = rng.standard_normal(tuple(w_t.shape))
        loss = loss + (w_t * torch.tensor(g_w)).sum()
    loss.backward()
    grads = ours.backward(to(g), None if g_w is None else to(g_w))
    summed = {}
    for a, d in zip((query, key, value), grads):     # an input passed twice gets both gradients, as in torch
        summed[id(a)] = summed[id(a)] + d if id(a) in summed else d
    return (y, y_t), (w, w_t), [(summed[i], tensors[i].grad) for i in unique]


@pytest.mark.parametrize("name", list(CASES))
def test_multihead_attention_matches_torch(name, device):
    case = full_case(name)
    kwargs = dict(bias=case["bias"], add_bias_kv=case["add_bias_kv"], add_zero_attn=case["add_zero_attn"],
                  kdim=case["kdim"], vdim=case["vdim"], batch_first=case["batch_first"])
    ours, theirs = attention_pair(case["E"], case["H"], device=device, **kwargs)
    (y, y_t), (w, w_t), grads = run_both(case, ours, theirs, np.random.default_rng(1), device)
    close(y, y_t, "output")
    assert y.shape == tuple(y_t.shape)
    if case["need_weights"]:
        assert w.shape == tuple(w_t.shape)
        close(w, w_t, "attention weights")
    else:
        assert w is None and w_t is None
    for i, (d, d_t) in enumerate(grads):
        close(d, d_t, f"gradient of input {i}")
    check_parameter_gradients(ours, theirs)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masks", ["none", "padding"])
def test_torchs_fast_path_gives_the_same_numbers(need_weights, masks):
    """torch's inference fast path (evaluation, no grad, batch_first self-attention): ours in evaluation agrees."""
    ours, theirs = attention_pair(8, 4, batch_first=True, dropout=0.3)
    ours.eval(), theirs.eval()
    x = np.random.default_rng(2).standard_normal((3, 5, 8))
    kpm = np.zeros((3, 5), bool)
    kpm[1, 3:] = True
    options = dict(need_weights=need_weights, key_padding_mask=None if masks == "none" else kpm)
    with torch.no_grad():
        t = torch.tensor(x)
        y_t, w_t = theirs(t, t, t, **{k: None if v is None else torch.tensor(v) if k != "need_weights" else v
                                     for k, v in options.items()})
    y, w = ours(x, x, x, **options)
    close(y, y_t, "output")
    if need_weights:
        close(w, w_t, "weights")


@pytest.mark.parametrize("need_weights", [True, False])
def test_a_query_with_every_key_masked_gives_torchs_nan_or_zero_attention(need_weights):
    """torch's two paths differ: the weights path gives NaN, scaled_dot_product_attention zero attention."""
    ours, theirs = attention_pair(4, 2)
    x = np.random.default_rng(3).standard_normal((3, 2, 4))
    kpm = np.array([[False, False, False], [True, True, True]])
    y_t, _ = theirs(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm), need_weights=need_weights)
    y, _ = ours(x, x, x, key_padding_mask=kpm, need_weights=need_weights)
    np.testing.assert_array_equal(np.isnan(y), torch.isnan(y_t).numpy())
    close(np.nan_to_num(y), torch.nan_to_num(y_t), "output")
    if not need_weights:
        g = np.random.default_rng(4).standard_normal(y.shape)
        y_t.backward(torch.tensor(g))
        grads = ours.backward(g)
        assert np.isfinite(sum(grads)).all()


def test_float32_matches_torch():
    theirs = randomise(torch.nn.MultiheadAttention(8, 2, batch_first=True))
    ours = nn.MultiheadAttention(8, 2, batch_first=True)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(5).standard_normal((2, 4, 8)).astype(np.float32)
    t = torch.tensor(x, requires_grad=True)
    y_t, w_t = theirs(t, t, t)
    y, w = ours(x, x, x)
    assert y.dtype == w.dtype == np.float32
    close(y, y_t, "output", rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(6).standard_normal(y.shape).astype(np.float32)
    y_t.backward(torch.tensor(g))
    dq, dk, dv = ours.backward(g)
    assert dq.dtype == np.float32
    close(dq + dk + dv, t.grad, "input gradient", rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ dropout
def test_evaluation_ignores_dropout():
    ours, theirs = attention_pair(8, 2, dropout=0.5)
    ours.eval(), theirs.eval()
    x = np.random.default_rng(7).standard_normal((4, 3, 8))
    y_t, w_t = theirs(*(torch.tensor(x),) * 3)
    y, w = ours(x, x, x)
    close(y, y_t, "output")
    close(w, w_t, "weights")


def test_training_drops_attention_weights_with_minimlps_generator():
    ours = nn.MultiheadAttention(8, 2, dropout=0.5, dtype=np.float64)
    x = np.random.default_rng(8).standard_normal((6, 3, 8))
    plain = ours.eval()(x, x, x, average_attn_weights=False)[1]
    ours.train()
    minimlp.manual_seed(3)
    y1, dropped = ours(x, x, x, average_attn_weights=False)
    minimlp.manual_seed(3)
    y2, _ = ours(x, x, x, average_attn_weights=False)
    np.testing.assert_array_equal(y1, y2)                       # the seed decides the mask
    kept = dropped != 0
    assert 0.3 < 1 - kept.mean() < 0.7
    np.testing.assert_allclose(dropped[kept], plain[kept] * 2.0, rtol=1e-12)   # returned after dropout, as torch


def weights_and_output(module, *inputs, **options):
    """(forward, backward) for gradcheck: the output and the per-head weights as one flat array."""
    shapes = {}

    def forward(*xs):
        y, w = module(*xs, **options)
        shapes["y"], shapes["w"] = y.shape, w.shape
        return np.concatenate([y.ravel(), w.ravel()])

    def backward(g):
        size = int(np.prod(shapes["y"]))
        return module.backward(g[:size].reshape(shapes["y"]), g[size:].reshape(shapes["w"]))

    return forward, backward


def test_training_backward_matches_finite_differences_with_the_mask_fixed():
    """gradcheck restores minimlp's generator before each forward, so every forward draws the same mask."""
    minimlp.manual_seed(0)
    ours = nn.MultiheadAttention(4, 2, dropout=0.4, kdim=3, dtype=np.float64)
    rng = np.random.default_rng(9)
    q, k, v = rng.standard_normal((3, 2, 4)), rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 4))
    assert gradcheck(weights_and_output(ours, average_attn_weights=False), (q, k, v))
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.3, dtype=np.float64)
    assert gradcheck(layer, rng.standard_normal((3, 2, 4)))


# ------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("options", [dict(), dict(add_bias_kv=True, add_zero_attn=True, bias=False)])
def test_multihead_attention_gradcheck(options):
    minimlp.manual_seed(1)
    ours = nn.MultiheadAttention(4, 2, dtype=np.float64, **options)
    for p in ours.parameters():
        p.data[...] = np.random.default_rng(10).standard_normal(p.shape) * 0.5
    rng = np.random.default_rng(11)
    q, k = rng.standard_normal((3, 2, 4)), rng.standard_normal((4, 2, 4))
    mask = np.array([[False, True, False, False], [False, False, True, True], [False, False, False, True]])
    forward_backward = weights_and_output(ours, attn_mask=mask, average_attn_weights=True)
    assert gradcheck(forward_backward, (q, k, rng.standard_normal((4, 2, 4))))


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_gradcheck(norm_first):
    minimlp.manual_seed(2)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation="gelu",
                                       norm_first=norm_first, batch_first=True, dtype=np.float64)
    encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(4, dtype=np.float64))
    assert gradcheck(encoder, np.random.default_rng(12).standard_normal((2, 3, 4)))


# ------------------------------------------------------------------ TransformerEncoderLayer and TransformerEncoder
def encoder_pair(norm_first, activation, batch_first, dropout, final_norm=True):
    kwargs = dict(dim_feedforward=12, dropout=dropout, norm_first=norm_first, batch_first=batch_first)
    layer_t = torch.nn.TransformerEncoderLayer(8, 2, activation=activation, **kwargs)
    norm_t = torch.nn.LayerNorm(8) if final_norm else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # torch's note that its nested-tensor fast path is off
        theirs = randomise(torch.nn.TransformerEncoder(layer_t, 2, norm=norm_t, enable_nested_tensor=False).double())
    ours_activation = activation if isinstance(activation, str) else nn.GELU()
    layer = nn.TransformerEncoderLayer(8, 2, activation=ours_activation, dtype=np.float64, **kwargs)
    ours = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8, dtype=np.float64) if final_norm else None)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def encoder_inputs(batch_first, rng, n=3, s=5):
    x = rng.standard_normal((n, s, 8) if batch_first else (s, n, 8))
    mask = rng.random((s, s)) < 0.3
    np.fill_diagonal(mask, False)
    kpm = np.zeros((n, s), bool)
    kpm[0, -2:] = True
    return x, mask, kpm


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "GELU-module"])
@pytest.mark.parametrize("mode", ["train-dropout-0", "eval-dropout-0.2"])
def test_encoder_matches_torch(norm_first, activation, mode):
    batch_first = activation == "relu"
    act = torch.nn.GELU() if activation == "GELU-module" else activation
    ours, theirs = encoder_pair(norm_first, act, batch_first, 0.0 if mode.startswith("train") else 0.2)
    if mode.startswith("eval"):
        ours.eval(), theirs.eval()
    rng = np.random.default_rng(13)
    x, mask, kpm = encoder_inputs(batch_first, rng)
    t = torch.tensor(x, requires_grad=True)
    y_t = theirs(t, mask=torch.tensor(mask), src_key_padding_mask=torch.tensor(kpm))
    y = ours(x, mask=mask, src_key_padding_mask=kpm)
    close(y, y_t, "output")
    g = rng.standard_normal(y.shape)
    y_t.backward(torch.tensor(g))
    close(ours.backward(g), t.grad, "input gradient")
    check_parameter_gradients(ours, theirs)


def test_encoder_layer_alone_unbatched_and_causal_as_torch():
    ours, theirs = encoder_pair(False, "relu", False, 0.0)
    ours, theirs = ours.layers[0], theirs.layers[0]
    rng = np.random.default_rng(14)
    x = rng.standard_normal((5, 8))
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    t = torch.tensor(x, requires_grad=True)
    y_t = theirs(t, src_mask=causal, is_causal=True)
    y = ours(x, src_mask=causal.numpy(), is_causal=True)
    close(y, y_t, "output")
    g = rng.standard_normal(y.shape)
    y_t.backward(torch.tensor(g))
    close(ours.backward(g), t.grad, "input gradient")
    check_parameter_gradients(ours, theirs)


def test_encoder_detects_a_causal_mask_as_torch():
    from minimlp.nn.transformer import _detect_is_causal_mask, generate_square_subsequent_mask
    causal = generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(causal, torch.nn.Transformer.generate_square_subsequent_mask(4).double().numpy())
    assert _detect_is_causal_mask(causal, None, 4) and not _detect_is_causal_mask(causal, None, 5)
    assert not _detect_is_causal_mask(np.zeros((4, 4)), None, 4) and _detect_is_causal_mask(None, True, 4)


def test_encoder_eval_matches_torchs_fast_path():
    """torch's fused encoder layer (evaluation, no grad, batch_first, even heads)."""
    ours, theirs = encoder_pair(False, "relu", True, 0.1)
    ours.eval(), theirs.eval()
    x, mask, kpm = encoder_inputs(True, np.random.default_rng(15))
    with torch.no_grad():
        y_t = theirs(torch.tensor(x), mask=torch.tensor(mask))
    close(ours(x, mask=mask), y_t, "output")


# ------------------------------------------------------------------ state_dict, repr, attributes
@pytest.mark.parametrize("kwargs", [dict(), dict(kdim=3, vdim=5), dict(bias=False), dict(add_bias_kv=True),
                                    dict(batch_first=True, dropout=0.1, add_zero_attn=True)])
def test_attention_state_dict_repr_and_attributes_are_torchs(kwargs):
    ours, theirs = nn.MultiheadAttention(8, 4, **kwargs), torch.nn.MultiheadAttention(8, 4, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    for name in ("embed_dim", "kdim", "vdim", "_qkv_same_embed_dim", "num_heads", "dropout", "batch_first",
                 "head_dim", "add_zero_attn"):
        assert getattr(ours, name) == getattr(theirs, name), name
    for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "bias_k"):
        assert (getattr(ours, name) is None) == (getattr(theirs, name) is None), name


def test_initialisation_is_torchs():
    """Xavier uniform in-projection (bound √(6/(E + 3E)) for the packed weight), zero biases."""
    minimlp.manual_seed(0)
    ours = nn.MultiheadAttention(64, 4, kdim=32, add_bias_kv=True)
    assert np.abs(ours.q_proj_weight.data).max() <= np.sqrt(6 / 128)
    assert np.abs(ours.k_proj_weight.data).max() <= np.sqrt(6 / 96)
    assert np.abs(ours.k_proj_weight.data).max() > 0.9 * np.sqrt(6 / 96)
    assert not ours.in_proj_bias.data.any() and not ours.out_proj.bias.data.any()
    assert 0.1 < ours.bias_k.data.std() < 0.25                 # Xavier normal: std √(2/(64 + 64)) = 0.125
    packed = nn.MultiheadAttention(64, 4).in_proj_weight.data
    assert np.sqrt(6 / 256) * 0.9 < np.abs(packed).max() <= np.sqrt(6 / 256)


@pytest.mark.parametrize("activation", ["relu", "GELU-module"])
def test_encoder_state_dict_and_repr_are_torchs(activation):
    act_t = torch.nn.GELU() if activation != "relu" else "relu"
    act = nn.GELU() if activation != "relu" else "relu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, activation=act_t), 3,
                                             norm=torch.nn.LayerNorm(8))
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, activation=act), 3, norm=nn.LayerNorm(8))
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert repr(ours) == repr(theirs)
    assert repr(ours.layers[0]) == repr(theirs.layers[0])
    assert ours.layers[0].activation_relu_or_gelu == theirs.layers[0].activation_relu_or_gelu
    assert ours.layers[0] is not ours.layers[1]           # deep copies, starting equal, as torch
    np.testing.assert_array_equal(ours.layers[0].linear1.weight.data, ours.layers[2].linear1.weight.data)
    ours.load_state_dict(theirs.state_dict())


def test_module_list_repr_groups_equal_entries_as_torch():
    ours = nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Linear(2, 3), nn.Linear(2, 3), nn.ReLU()])
    theirs = torch.nn.ModuleList([torch.nn.ReLU(), torch.nn.ReLU(), torch.nn.Linear(2, 3), torch.nn.Linear(2, 3),
                                  torch.nn.ReLU()])
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


# ------------------------------------------------------------------ errors, of torch's classes
def raises_as_torch(ours, theirs, match):
    """Both raise; ours is an instance of torch's exception class, on one line, and says ``match``."""
    with pytest.raises(Exception) as theirs_error:
        theirs()
    with pytest.raises(type(theirs_error.value), match=match) as ours_error:
        ours()
    assert "\n" not in str(ours_error.value)


def test_construction_errors_are_torchs():
    raises_as_torch(lambda: nn.MultiheadAttention(10, 4), lambda: torch.nn.MultiheadAttention(10, 4),
                    "embed_dim must be divisible by num_heads")
    raises_as_torch(lambda: nn.MultiheadAttention(0, 4), lambda: torch.nn.MultiheadAttention(0, 4),
                    "must be greater than 0")
    raises_as_torch(lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"),
                    lambda: torch.nn.TransformerEncoderLayer(8, 2, activation="tanh"), "relu/gelu, not tanh")
    with pytest.raises(TypeError, match="minimlp Module"):
        nn.TransformerEncoderLayer(8, 2, activation=np.tanh)


def bad_calls():
    rng = np.random.default_rng(16)
    x, k = rng.standard_normal((5, 3, 8)), rng.standard_normal((6, 3, 8))
    bool_mask = np.zeros((5, 6), bool)
    return {
        "query of 4 axes": ((x[None],) * 3, {}, "unbatched 2D or batched 3D"),
        "key of 2 axes": ((x, k[0], k[0]), {}, "expected `key` and `value` to be 3-D"),
        "embedding size": ((x[..., :4],) * 3, {}, "expecting embedding dimension of 8"),
        "key and value lengths": ((x, k, k[:5]), {}, "do not match"),
        "2-d attn_mask shape": ((x, k, k), dict(attn_mask=bool_mask[:, :5]), "2D attn_mask"),
        "3-d attn_mask shape": ((x, k, k), dict(attn_mask=np.zeros((3, 5, 6), bool)), "3D attn_mask"),
        "4-d attn_mask": ((x, k, k), dict(attn_mask=np.zeros((1, 1, 5, 6), bool)), "`attn_mask` to be `None`, 2-D"),
        "padding mask batch": ((x, k, k), dict(key_padding_mask=np.zeros((2, 6), bool)), "shape\\[0\\] to be 3"),
        "padding mask length": ((x, k, k), dict(key_padding_mask=np.zeros((3, 5), bool)), "shape\\[1\\] to be 6"),
        "padding mask axes": ((x, k, k), dict(key_padding_mask=np.zeros(6, bool)), "`key_padding_mask` to be"),
        "integer mask": ((x, k, k), dict(attn_mask=np.zeros((5, 6), np.int64)), "only bool and floating"),
        "is_causal without a mask": ((x, x, x), dict(is_causal=True, need_weights=False), "Need attn_mask"),
    }


@pytest.mark.parametrize("case", list(bad_calls()))
def test_forward_errors_are_torchs(case):
    inputs, options, match = bad_calls()[case]
    ours, theirs = attention_pair(8, 2)
    raises_as_torch(lambda: ours(*inputs, **options),
                    lambda: theirs(*(torch.tensor(a) for a in inputs),
                                   **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                      for k, v in options.items()}), match)


def test_backward_errors():
    ours = nn.MultiheadAttention(4, 2, dtype=np.float64)
    x = np.zeros((3, 2, 4))
    with pytest.raises(RuntimeError, match="before forward"):
        ours.backward(x)
    y, _ = ours(x, x, x, need_weights=False)
    with pytest.raises(ValueError, match="need_weights=False"):
        ours.backward(y, np.zeros((2, 3, 3)))
    y, w = ours(x, x, x)
    with pytest.raises(ValueError, match="shape"):
        ours.backward(y[:2], w)
    with pytest.raises(TypeError, match="torch"):
        ours(torch.zeros(3, 2, 4), x, x)


def test_mismatched_mask_types_warn_as_torch():
    ours = nn.MultiheadAttention(4, 2, dtype=np.float64)
    x = np.zeros((3, 2, 4))
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        ours(x, x, x, key_padding_mask=np.zeros((2, 3), bool), attn_mask=np.zeros((3, 3)))


def test_the_self_attention_gradient_is_the_sum_of_the_three():
    """backward always returns (∂L/∂query, ∂L/∂key, ∂L/∂value); for attn(x, x, x) the caller adds them, and the
    sum is ∂L/∂x (checked by finite differences through x alone)."""
    ours = nn.MultiheadAttention(4, 2, dtype=np.float64)
    x = np.random.default_rng(17).standard_normal((3, 2, 4))
    grads = ours(x, x, x)[0], ours.backward(np.ones((3, 2, 4)))
    assert len(grads[1]) == 3 and all(d.shape == x.shape for d in grads[1])
    assert gradcheck((lambda z: ours(z, z, z)[0], lambda g: sum(ours.backward(g))), x)
    with pytest.raises(GradcheckError):
        gradcheck((lambda z: ours(z, z, z)[0], lambda g: ours.backward(g)[0]), x)


# ---------------------------------------------------- TransformerDecoderLayer, TransformerDecoder, Transformer
def decoder_pair(norm_first, activation, batch_first, dropout):
    kwargs = dict(dim_feedforward=12, dropout=dropout, norm_first=norm_first, batch_first=batch_first)
    layer_t = torch.nn.TransformerDecoderLayer(8, 2, activation=activation, **kwargs)
    theirs = randomise(torch.nn.TransformerDecoder(layer_t, 2, norm=torch.nn.LayerNorm(8)).double())
    layer = nn.TransformerDecoderLayer(8, 2, activation=activation, dtype=np.float64, **kwargs)
    ours = nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(8, dtype=np.float64))
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("mode", ["train-dropout-0", "eval-dropout-0.2"])
def test_decoder_matches_torch(norm_first, activation, mode):
    batch_first = activation == "gelu"
    ours, theirs = decoder_pair(norm_first, activation, batch_first, 0.0 if mode.startswith("train") else 0.2)
    if mode.startswith("eval"):
        ours.eval(), theirs.eval()
    rng = np.random.default_rng(18)
    n, t, s = 3, 4, 6
    tgt = rng.standard_normal((n, t, 8) if batch_first else (t, n, 8))
    memory = rng.standard_normal((n, s, 8) if batch_first else (s, n, 8))
    masks = dict(tgt_mask=np.isneginf(nn.Transformer.generate_square_subsequent_mask(t)),   # detected as causal
                 memory_mask=(rng.random((t, s)) < 0.3) & (np.arange(s) > 0),
                 tgt_key_padding_mask=np.array([[False] * t, [False] * (t - 1) + [True], [False] * t]),
                 memory_key_padding_mask=np.array([[False] * (s - 2) + [True] * 2, [False] * s, [False] * s]))
    t_tgt, t_memory = torch.tensor(tgt, requires_grad=True), torch.tensor(memory, requires_grad=True)
    y_t = theirs(t_tgt, t_memory, **{k: torch.tensor(v) for k, v in masks.items()})
    y = ours(tgt, memory, **masks)
    close(y, y_t, "output")
    g = rng.standard_normal(y.shape)
    y_t.backward(torch.tensor(g))
    d_tgt, d_memory = ours.backward(g)
    close(d_tgt, t_tgt.grad, "tgt gradient")
    close(d_memory, t_memory.grad, "memory gradient")
    check_parameter_gradients(ours, theirs)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first):
    kwargs = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=12, dropout=0.0,
                  batch_first=batch_first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # torch's note that its nested-tensor fast path is off
        theirs = randomise(torch.nn.Transformer(**kwargs).double())
    ours = nn.Transformer(**kwargs, dtype=np.float64)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert repr(ours) == repr(theirs)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(19)
    src = rng.standard_normal((2, 5, 8) if batch_first else (5, 2, 8))
    tgt = rng.standard_normal((2, 4, 8) if batch_first else (4, 2, 8))
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=np.float64)
    kpm = np.array([[False] * 5, [False] * 3 + [True] * 2])
    t_src, t_tgt = torch.tensor(src, requires_grad=True), torch.tensor(tgt, requires_grad=True)
    y_t = theirs(t_src, t_tgt, tgt_mask=torch.tensor(tgt_mask), src_key_padding_mask=torch.tensor(kpm),
                 memory_key_padding_mask=torch.tensor(kpm))
    y = ours(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=kpm, memory_key_padding_mask=kpm)
    close(y, y_t, "output")
    g = rng.standard_normal(y.shape)
    y_t.backward(torch.tensor(g))
    d_src, d_tgt = ours.backward(g)
    close(d_src, t_src.grad, "src gradient")
    close(d_tgt, t_tgt.grad, "tgt gradient")
    check_parameter_gradients(ours, theirs)


def test_transformer_initialisation_and_errors_are_torchs():
    minimlp.manual_seed(0)
    ours = nn.Transformer(8, 2, 1, 1, 12)
    linear = ours.encoder.layers[0].linear1.weight.data
    assert np.sqrt(6 / 20) * 0.8 < np.abs(linear).max() <= np.sqrt(6 / 20)       # Xavier, not a Linear's default
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(3),
                                  torch.nn.Transformer.generate_square_subsequent_mask(3).numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.Transformer(8, 2, 1, 1, 12)
    x = np.zeros((5, 2, 8), np.float32)
    raises_as_torch(lambda: ours(x, x[:, :1]), lambda: theirs(torch.tensor(x), torch.tensor(x[:, :1])),
                    "batch number of src and tgt")
    raises_as_torch(lambda: ours(x, x[..., :4]), lambda: theirs(torch.tensor(x), torch.tensor(x[..., :4])),
                    "feature number")


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_gradcheck_with_dropout(norm_first):
    minimlp.manual_seed(4)
    layer = nn.TransformerDecoderLayer(4, 2, dim_feedforward=6, dropout=0.2, norm_first=norm_first, dtype=np.float64)
    rng = np.random.default_rng(20)
    assert gradcheck((layer, layer.backward), (rng.standard_normal((3, 2, 4)), rng.standard_normal((5, 2, 4))))


def test_gradients_accumulate_and_backward_parameters_adds_the_same():
    ours = nn.MultiheadAttention(4, 2, kdim=3, add_bias_kv=True, dtype=np.float64)
    rng = np.random.default_rng(21)
    q, k, v = rng.standard_normal((3, 2, 4)), rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 4))
    g = rng.standard_normal((3, 2, 4))
    ours(q, k, v)
    ours.backward(g)
    once = {name: p.grad.copy() for name, p in ours.named_parameters()}
    ours(q, k, v)
    assert ours.backward_parameters(g) is None
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[name], rtol=1e-12, err_msg=name)


def test_a_second_backward_through_an_encoder_without_forward_is_refused():
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 6, dtype=np.float64), 2)
    x = np.random.default_rng(22).standard_normal((3, 2, 4))
    y = encoder(x)
    encoder.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="a second time"):
        encoder.backward(np.ones_like(y))


def test_an_input_of_another_dtype_is_refused():
    ours = nn.MultiheadAttention(4, 2)
    x = np.zeros((3, 2, 4))
    with pytest.raises(RuntimeError, match="dtype"):
        ours(x, x, x)


@pytest.mark.parametrize("activation", [torch.nn.functional.relu, torch.nn.functional.gelu, torch.relu])
def test_torchs_own_activation_functions_are_taken_as_torch_takes_them(activation):
    theirs = torch.nn.TransformerEncoderLayer(4, 2, 8, 0.0, activation).double()
    ours = nn.TransformerEncoderLayer(4, 2, 8, 0.0, activation).to(dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(3, 2, 4))
    np.testing.assert_allclose(ours(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="activation must be"):
        nn.TransformerEncoderLayer(4, 2, 8, 0.0, lambda v: v)


@pytest.mark.parametrize("query_shape,key_shape", [((0, 4), (0, 4)), ((3, 4), (0, 4)), ((0, 4), (3, 4)),
                                                   ((2, 3, 4), (2, 0, 4))])
def test_no_queries_or_no_keys_give_torchs_shapes_and_values(query_shape, key_shape):
    theirs = torch.nn.MultiheadAttention(4, 2, batch_first=True).double()
    ours = nn.MultiheadAttention(4, 2, batch_first=True).to(dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    q, k = np.random.default_rng(0).normal(size=query_shape), np.random.default_rng(1).normal(size=key_shape)
    out_t, weights_t = theirs(torch.tensor(q), torch.tensor(k), torch.tensor(k))
    out, weights = ours(q, k, k)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert weights.shape == tuple(weights_t.shape)
    grads = ours.backward(np.ones(out.shape))
    assert [g.shape for g in grads] == [q.shape, k.shape, k.shape]
