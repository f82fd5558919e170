"""Module backward hooks, state-dict hooks, extra state and the small ``Module`` methods, against torch 2.13 with
copied weights (float64): the hooks see the same gradients in the same order, their replacements change the
parameters' gradients as torch's do, the state-dict hooks edit keys as torch's, and the refusals are one line."""
import copy
import io
import pickle
import warnings

import numpy as np
import pytest
import torch

import minimlp
from minimlp import backend, nn

TOL = dict(rtol=1e-12, atol=1e-12)


def twins(build):
    """The same model in minimlp and torch (float64), torch's weights copied into minimlp's."""
    torch.manual_seed(0)
    ours, theirs = build(nn).double(), build(torch.nn).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def conv_net(m):
    return m.Sequential(m.Conv2d(2, 3, 3), m.BatchNorm2d(3), m.ReLU(), m.Flatten(), m.Linear(48, 5))


def record(model, calls, arrays):
    """Pre-hooks and hooks on the model and every child, noting (kind, name) in ``calls`` and the gradients."""
    def as_list(grads):
        return [None if g is None else (g.detach().numpy() if torch.is_tensor(g) else g) for g in grads]
    for name, module in model.named_modules():
        module.register_full_backward_pre_hook(
            lambda mod, go, name=name: (calls.append(("pre", name)), arrays.append(as_list(go)))[0])
        module.register_full_backward_hook(
            lambda mod, gi, go, name=name: (calls.append(("post", name, len(gi))),
                                            arrays.append(as_list(gi) + as_list(go)))[0])


def inputs(shape=(2, 2, 6, 6), out=(2, 5), seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape), rng.standard_normal(out)


def run_torch(model, x, g, requires_grad=True):
    tx = torch.tensor(x, requires_grad=requires_grad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch's "no inputs require gradients" warning
        (model(tx) * torch.tensor(g)).sum().backward()
    return tx


def assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert (u is None) == (v is None)
            if u is not None:
                np.testing.assert_allclose(u, v, **TOL)


@pytest.mark.parametrize("with_input_grad", [True, False])
def test_backward_hooks_on_a_sequential_and_its_children_see_torchs_gradients_in_torchs_order(with_input_grad):
    """Container first (its grad_output), then each child from the output back, then the container's grad_input;
    ``backward_parameters`` (torch: an input that does not require grad) gives (None,) right after the
    pre-hooks, as torch's."""
    ours, theirs = twins(conv_net)
    x, g = inputs()
    ours_calls, ours_arrays, theirs_calls, theirs_arrays = [], [], [], []
    record(ours, ours_calls, ours_arrays)
    record(theirs, theirs_calls, theirs_arrays)
    ours(x)
    dx = ours.backward(g) if with_input_grad else ours.backward_parameters(g)
    tx = run_torch(theirs, x, g, with_input_grad)
    assert ours_calls == theirs_calls
    assert ours_calls[:2] == [("pre", ""), ("pre", "4")] if with_input_grad else [("pre", ""), ("post", "", 1)]
    assert_same(ours_arrays, theirs_arrays)
    if with_input_grad:
        np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL)
    else:
        assert dx is None and ours_arrays[1][0] is None
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), **TOL, err_msg=name)


def test_hooks_that_replace_gradients_change_the_parameters_gradients_as_torchs():
    """A pre-hook doubling the ReLU's grad_output, a hook doubling the Linear's grad_input and one tripling the
    model's: every gradient earlier in the chain, and ∂L/∂x, as torch's."""
    ours, theirs = twins(conv_net)
    x, g = inputs(seed=2)
    for model in (ours, theirs):
        model[2].register_full_backward_pre_hook(lambda mod, go: tuple(2 * v for v in go))
        model[4].register_full_backward_hook(lambda mod, gi, go: tuple(2 * v for v in gi))
        model.register_full_backward_hook(lambda mod, gi, go: (3 * gi[0],))
    ours(x)
    dx = ours.backward(g)
    tx = run_torch(theirs, x, g)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), **TOL, err_msg=name)
    plain, _ = twins(conv_net)
    plain(x)
    np.testing.assert_allclose(dx, 12 * plain.backward(g), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours[0].weight.grad, 4 * plain[0].weight.grad, rtol=1e-10, atol=1e-12)


def test_a_pre_hook_replacement_reaches_the_layer_and_a_wrong_length_is_torchs_error():
    ours, theirs = twins(lambda m: m.Linear(4, 3))
    x, g = inputs((5, 4), (5, 3), seed=3)
    for model in (ours, theirs):
        model.register_full_backward_pre_hook(lambda mod, go: (go[0] * 0.5,))
    ours(x)
    dx = ours.backward(g)
    tx = run_torch(theirs, x, g)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **TOL)
    for model in (ours, theirs):
        model.register_full_backward_pre_hook(lambda mod, go: (go[0], go[0]))
    ours(x)
    with pytest.raises(RuntimeError, match="Backward pre hook returned an invalid number of grad_output, got 2, "
                                           "but expected 1") as info:
        ours.backward(g)
    with pytest.raises(RuntimeError, match=str(info.value)):
        run_torch(theirs, x, g)


def test_removal_prepend_and_a_context_manager_as_torchs():
    ours, theirs = twins(lambda m: m.Sequential(m.Linear(3, 4), m.Tanh()))
    x, g = inputs((2, 3), (2, 4), seed=4)

    def run(model, forward_backward):
        calls = []
        handles = {tag: model[1].register_full_backward_hook(lambda mod, gi, go, tag=tag: calls.append(tag),
                                                             prepend=tag.startswith("first"))
                   for tag in ("a", "b", "first1", "c", "first2")}
        model[1].register_full_backward_pre_hook(lambda mod, go: calls.append("pre-late"))
        model[1].register_full_backward_pre_hook(lambda mod, go: calls.append("pre-early"), prepend=True)
        handles["b"].remove()
        handles["b"].remove()                         # again: nothing
        forward_backward()
        calls.append("|")
        with handles["a"], handles["first1"]:
            pass                                      # removed on exit
        forward_backward()
        return calls

    def ours_step():
        ours(x)
        ours.backward(g)

    assert run(ours, ours_step) == run(theirs, lambda: run_torch(theirs, x, g)) == [
        "pre-early", "pre-late", "first2", "first1", "a", "c", "|", "pre-early", "pre-late", "first2", "c"]


def test_an_lstms_hooks_get_its_tuple_of_gradients():
    """grad_output is the tuple backward was given, None entries included (torch gives (∂L/∂output, None): its
    hooks do not see h_n and c_n); grad_input (∂L/∂x,); a replaced ∂L/∂output reaches the weights as torch's."""
    ours, theirs = twins(lambda m: m.LSTM(3, 4))
    rng = np.random.default_rng(5)
    x, g, gc = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 4)), rng.standard_normal((1, 2, 4))
    seen = []
    ours.register_full_backward_pre_hook(lambda mod, go: (seen.append(go), (2 * go[0],) + go[1:])[1])
    ours.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go)))
    theirs_seen = []
    theirs.register_full_backward_pre_hook(lambda mod, go: (theirs_seen.append(go), (2 * go[0], None))[1])
    theirs.register_full_backward_hook(lambda mod, gi, go: theirs_seen.append(gi))
    ours(x)
    dx = ours.backward(g, None, gc)
    tx = torch.tensor(x, requires_grad=True)
    out, (_, c) = theirs(tx)
    ((out * torch.tensor(g)).sum() + (c * torch.tensor(gc)).sum()).backward()
    assert len(seen[0]) == 3 and seen[0][1] is None
    np.testing.assert_array_equal(seen[0][0], g)
    np.testing.assert_array_equal(seen[0][2], gc)
    np.testing.assert_allclose(seen[0][0], theirs_seen[0][0].numpy(), **TOL)
    assert len(seen[1][0]) == 1 and len(seen[1][1]) == 3
    np.testing.assert_allclose(seen[1][1][0], 2 * g, **TOL)
    np.testing.assert_allclose(seen[1][0][0], theirs_seen[1][0].numpy(), **TOL)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), **TOL, err_msg=name)


def test_backward_parameters_gives_none_and_refuses_a_replacement_as_torch():
    layer = nn.Linear(3, 2).double()
    seen = []
    handle = layer.register_full_backward_hook(lambda mod, gi, go: seen.append(gi))
    layer(np.ones((1, 3)))
    assert layer.backward_parameters(np.ones((1, 2))) is None and seen == [(None,)]
    handle.remove()
    layer.register_full_backward_hook(lambda mod, gi, go: (np.zeros((1, 3)),))
    layer(np.ones((1, 3)))
    with pytest.raises(RuntimeError, match="should always return None or None for all gradients") as info:
        layer.backward_parameters(np.ones((1, 2)))
    assert "\n" not in str(info.value)


def test_several_gradients_back_and_a_module_without_its_own_backward_parameters():
    """MultiheadAttention returns (dq, dk, dv): grad_input is that tuple, replaced whole; a module inheriting
    ``Module.backward_parameters`` gives (None,) once, not its backward's (dx,)."""
    attention = nn.MultiheadAttention(4, 2).double()
    q = np.random.default_rng(6).standard_normal((3, 2, 4))
    seen = []
    attention.register_full_backward_hook(lambda mod, gi, go: (seen.append(len(gi)), tuple(2 * v for v in gi))[1])
    y, _ = attention(q, q, q)
    doubled = attention.backward(np.ones_like(y))
    attention.zero_grad()
    with attention.register_full_backward_hook(lambda mod, gi, go: tuple(v / 4 for v in gi)):   # after the doubling
        attention(q, q, q)
        assert isinstance(doubled, tuple) and seen == [3]
        for a, b in zip(doubled, attention.backward(np.ones_like(y))):
            np.testing.assert_allclose(a, 4 * b, rtol=1e-12)

    class Scale(nn.Module):
        def forward(self, x):
            return 3 * x

        def backward(self, dout):
            return 3 * dout

    scale, calls = Scale(), []
    scale.register_full_backward_hook(lambda mod, gi, go: calls.append(gi))
    scale(np.ones(2))
    assert scale.backward_parameters(np.ones(2)) is None and calls == [(None,)]


def test_register_backward_hook_warns_and_runs_as_the_full_hook():
    layer, seen = nn.Tanh(), []
    with pytest.warns(FutureWarning, match="register_full_backward_hook"):
        layer.register_backward_hook(lambda mod, gi, go: seen.append((gi, go)))
    layer(np.zeros(2))
    layer.backward(np.ones(2))
    assert len(seen) == 1 and np.array_equal(seen[0][0][0], np.ones(2))


def _double_grad(module, grad_input, grad_output):
    return tuple(2 * g for g in grad_input)


def test_backward_hooks_travel_with_deepcopy_and_pickle_and_unfuse_a_batchnorm_relu_pair():
    model = nn.Sequential(nn.BatchNorm1d(3), nn.ReLU()).double()
    x = np.random.default_rng(7).standard_normal((4, 3))
    model(x)
    plain = model.backward(np.ones((4, 3)))
    assert model._fused                                   # no hook: the pair runs fused
    handle = model[1].register_full_backward_hook(_double_grad)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        twin(x)
        assert not twin._fused                            # a hook: each layer runs, and calls its hooks
        np.testing.assert_allclose(twin.backward(np.ones((4, 3))), 2 * plain, rtol=1e-12, atol=1e-15)
    handle.remove()                                       # the original's only
    twin(x)
    np.testing.assert_allclose(twin.backward(np.ones((4, 3))), 2 * plain, rtol=1e-12, atol=1e-15)
    model(x)
    np.testing.assert_allclose(model.backward(np.ones((4, 3))), plain, rtol=1e-12, atol=1e-15)


# state dict ---------------------------------------------------------------------------------------------------

def test_state_dict_hooks_run_and_edit_keys_as_torchs():
    ours, theirs = twins(lambda m: m.Sequential(m.Linear(2, 3), m.Sequential(m.BatchNorm1d(3), m.Linear(3, 1))))

    def run(model):
        calls = []
        for name, module in model.named_modules():
            module.register_state_dict_pre_hook(lambda mod, prefix, keep, name=name: calls.append(("pre", prefix)))
            module.register_state_dict_post_hook(
                lambda mod, sd, prefix, meta, name=name: calls.append(("post", prefix, len(sd))))
        model[1].register_state_dict_post_hook(
            lambda mod, sd, prefix, meta: sd.__delitem__(prefix + "0.num_batches_tracked"))
        handle = model.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd.update(renamed=sd.pop("0.bias")))
        keys = list(model.state_dict())
        handle.remove()
        return calls, keys, list(model.state_dict())

    assert run(ours) == run(theirs)
    bad = nn.Linear(1, 1)
    bad.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd)
    with pytest.raises(RuntimeError, match="^state_dict post-hook must return None$"):
        bad.state_dict()


def test_load_state_dict_hooks_rename_old_keys_and_clear_incompatible_ones_as_torchs():
    ours, theirs = twins(lambda m: m.Sequential(m.Linear(2, 3), m.Sequential(m.BatchNorm1d(3), m.Linear(3, 1))))
    source = {k: v.detach().numpy() * 2 for k, v in theirs.state_dict().items()}
    old = {k.replace("1.1.", "1.head."): v for k, v in source.items()}
    old["extra"] = np.zeros(1)

    def rename(mod, sd, prefix, meta, strict, missing, unexpected, errors):
        for key in [k for k in sd if k.startswith(prefix + "head.")]:
            sd[prefix + "1." + key[len(prefix + "head."):]] = sd.pop(key)

    def run(model, convert):
        seen = []
        model[1].register_load_state_dict_pre_hook(rename)
        model.register_load_state_dict_post_hook(
            lambda mod, keys: (seen.append((list(keys.missing_keys), list(keys.unexpected_keys))),
                               keys.unexpected_keys.clear())[0])
        result = model.load_state_dict({k: convert(v) for k, v in old.items()})
        return seen, list(result.missing_keys), list(result.unexpected_keys)

    assert run(ours, lambda v: v) == run(theirs, torch.tensor) == ([([], ["extra"])], [], [])
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, source[key], **TOL, err_msg=key)
    model = nn.Linear(2, 1)
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "extra"'):
        model.load_state_dict({**model.state_dict(), "extra": np.zeros(1)})   # no hook: refused
    model.register_load_state_dict_post_hook(lambda mod, keys: keys.unexpected_keys.append("made-up"))
    before = model.weight.data.copy()
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "made-up"'):
        model.load_state_dict({"weight": np.ones((1, 2)), "bias": np.ones(1)})
    assert not np.array_equal(model.weight.data, before)  # torch's order: loaded, then the post hook's verdict


def extra_state_class(base):
    class Counter(base.Module):
        def __init__(self):
            super().__init__()
            self.lin = base.Linear(2, 2)
            self.steps, self.table = 0, np.zeros(3)

        def forward(self, x):
            return self.lin(x)

        def get_extra_state(self):
            return {"steps": self.steps, "table": self.table.copy(), "name": "counter"}

        def set_extra_state(self, state):
            self.steps, self.table = state["steps"], np.asarray(state["table"])
    return Counter


def test_extra_state_round_trips_through_state_dict_and_minimlp_save():
    ours, theirs = nn.Sequential(extra_state_class(nn)()), torch.nn.Sequential(extra_state_class(torch.nn)())
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0._extra_state", "0.lin.weight", "0.lin.bias"]
    ours[0].steps, ours[0].table = 7, np.arange(3.0)
    fresh = nn.Sequential(extra_state_class(nn)())
    fresh.load_state_dict(ours.state_dict())
    assert fresh[0].steps == 7 and np.array_equal(fresh[0].table, np.arange(3.0))
    buffer = io.BytesIO()
    minimlp.save(ours.state_dict(), buffer)
    buffer.seek(0)
    again = nn.Sequential(extra_state_class(nn)())
    again.load_state_dict(minimlp.load(buffer))
    assert again[0].steps == 7 and np.array_equal(again[0].table, np.arange(3.0))
    np.testing.assert_array_equal(again[0].lin.weight.data, ours[0].lin.weight.data)
    lacking = {k: v for k, v in ours.state_dict().items() if k != "0._extra_state"}
    with pytest.raises(RuntimeError) as mine:
        fresh.load_state_dict(lacking)
    with pytest.raises(RuntimeError) as torchs:
        theirs.load_state_dict({k: torch.tensor(v) for k, v in lacking.items()})
    assert str(mine.value) == str(torchs.value).replace("torch.", "")
    assert fresh.load_state_dict(lacking, strict=False).missing_keys == ["0._extra_state"]
    plain = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "_extra_state"'):
        plain.load_state_dict({**plain.state_dict(), "_extra_state": 1})
    with pytest.raises(RuntimeError, match="defines no extra state"):
        plain.get_extra_state()


# small methods ------------------------------------------------------------------------------------------------

def test_set_submodule_as_torchs():
    def tree(m):
        return m.Sequential(m.Linear(2, 2), m.Sequential(m.ReLU(), m.Linear(2, 1)))

    for ours, theirs in [(tree(nn), tree(torch.nn))]:
        for model, m in ((ours, nn), (theirs, torch.nn)):
            model.set_submodule("1.1", m.Linear(2, 4))
            model.set_submodule("1.extra", m.Tanh())
        assert repr(ours) == repr(theirs)
        for args, error in [(("", nn.ReLU()), ValueError), (("1.2", nn.ReLU(), True), AttributeError),
                            (("2.0", nn.ReLU()), AttributeError), (("0.weight", nn.ReLU()), AttributeError),
                            (("0", 3), ValueError)]:
            torch_args = tuple(torch.nn.ReLU() if isinstance(a, nn.Module) else a for a in args)
            with pytest.raises(error) as mine:
                ours.set_submodule(*args)
            with pytest.raises(error) as torchs:
                theirs.set_submodule(*torch_args)
            assert str(mine.value).split(",")[0] == str(torchs.value).split(",")[0]


def test_the_small_methods_and_their_one_line_refusals():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    assert model.share_memory() is model
    for method in (model.half, model.bfloat16):
        with pytest.raises(TypeError, match="minimlp computes in float32 and float64 only") as info:
            method()
        assert "\n" not in str(info.value)
    assert model.type(np.float64) is model and model[0].weight.data.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    model.type("torch.FloatTensor")
    assert model[0].weight.data.dtype == np.float32
    model.type(torch.float64)
    assert model[0].weight.data.dtype == np.float64
    with pytest.raises(TypeError, match="^Module.type: minimlp computes in float32 and float64 only, got"):
        model.type(np.float16)
    with pytest.warns(UserWarning, match="minimlp has no compiler") as record:
        assert model.compile(mode="max-autotune") is None
    assert len(record) == 1 and "\n" not in str(record[0].message)
    if not backend.gpu_available():
        with pytest.raises(backend.DeviceError, match="device 'gpu' was requested"):
            model.cuda()
    with pytest.raises(ValueError, match="one GPU"):
        model.cuda(1)


def test_to_empty_gives_fresh_arrays_of_the_same_shapes():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    before = {k: v for k, v in model.state_dict(keep_vars=True).items()}
    arrays = {k: (v.data if isinstance(v, nn.Parameter) else v) for k, v in before.items()}
    model(np.ones((4, 3), np.float32))
    model.backward(np.ones((4, 2), np.float32))
    assert model.to_empty(device="cpu") is model
    for key, value in model.state_dict(keep_vars=True).items():
        array = value.data if isinstance(value, nn.Parameter) else value
        assert array is not arrays[key] and array.shape == arrays[key].shape and array.dtype == arrays[key].dtype
    assert all(p.grad is None for p in model.parameters())
    lazy = nn.LazyLinear(2)
    lazy.to_empty(device=None)
    assert nn.parameter.is_lazy(lazy.weight)
    only_own = nn.Sequential(nn.Linear(2, 2))
    kept = only_own[0].weight.data
    only_own.to_empty(device="cpu", recurse=False)
    assert only_own[0].weight.data is kept


def test_a_keyword_flag_is_not_a_gradient():
    """``Sequential.backward(g, input_grad=False)`` (the step inside backward's call): grad_output is (g,)."""
    model, seen = nn.Sequential(nn.Linear(2, 2)).double(), []
    model.register_full_backward_pre_hook(lambda mod, go: (seen.append(len(go)), (2 * go[0],))[1])
    model(np.ones((1, 2)))
    assert model.backward(np.ones((1, 2)), input_grad=False) is None and seen == [1]
    np.testing.assert_array_equal(model[0].bias.grad, [2.0, 2.0])


def test_a_childs_load_pre_hook_sees_its_own_keys_and_keep_vars_keeps_the_objects_as_torch():
    def recorder(seen):
        def hook(module, state_dict, prefix, *rest):
            seen.append(sorted(state_dict.keys()))
        return hook
    ours, theirs = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)), torch.nn.Sequential(torch.nn.Linear(2, 3),
                                                                                        torch.nn.Linear(3, 1))
    seen, seen_t = [], []
    ours[1].register_load_state_dict_pre_hook(recorder(seen))
    theirs[1].register_load_state_dict_pre_hook(recorder(seen_t))
    ours.load_state_dict(ours.state_dict())
    theirs.load_state_dict(theirs.state_dict())
    assert seen == seen_t == [["1.bias", "1.weight"]]
    kept = ours.state_dict(keep_vars=True)
    assert kept["0.weight"] is ours[0].weight and kept["1.bias"] is ours[1].bias


def test_a_size_mismatch_with_a_load_post_hook_leaves_the_model_unchanged():
    model = nn.Sequential(nn.Linear(2, 3))
    model.register_load_state_dict_post_hook(lambda module, keys: None)
    before = model[0].weight.data.copy()
    bad = model.state_dict()
    bad["0.weight"], bad["0.bias"] = np.ones((3, 2), np.float32), np.zeros(5, np.float32)
    with pytest.raises(RuntimeError, match="size mismatch for 0.bias"):
        model.load_state_dict(bad)
    np.testing.assert_array_equal(model[0].weight.data, before)


@pytest.mark.parametrize("name", ["torch.HalfTensor", "torch.cuda.FloatTensor", "torch.LongTensor", "float16"])
def test_type_refuses_what_it_cannot_do_in_one_line(name):
    with pytest.raises(TypeError, match="minimlp computes in float32 and float64 only"):
        nn.Linear(2, 2).type(name)


def test_extra_state_passes_through_the_torch_interop_both_ways():
    from minimlp import from_torch_state_dict, to_torch_state_dict

    class Scaled(nn.Linear):
        def get_extra_state(self):
            return {"scale": 2.5}

        def set_extra_state(self, state):
            self.scale = state["scale"]

    class TorchScaled(torch.nn.Linear):
        def get_extra_state(self):
            return {"scale": 2.5}

        def set_extra_state(self, state):
            self.scale = state["scale"]

    ours, theirs = Scaled(3, 2), TorchScaled(3, 2)
    theirs.load_state_dict(to_torch_state_dict(ours.state_dict()))
    assert theirs.scale == 2.5
    ours.load_state_dict(from_torch_state_dict(theirs.state_dict()))
    assert ours.scale == 2.5
