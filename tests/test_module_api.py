"""Module, Sequential, ModuleList and ModuleDict against torch.nn: registration, traversal (each module and
parameter once), state_dict keys, load_state_dict's result and errors, modes, freezing, containers' list and
dict operations. Each case builds the same structure in both and compares what they report."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

from minimlp import nn, optim


def keys(module):
    return list(module.state_dict())


def names(pairs):
    return [name for name, _ in pairs]


def both(build):
    """The same structure in minimlp and in torch (``build`` takes the nn namespace)."""
    return build(nn), build(torch.nn)


def test_a_shared_module_and_parameter_are_listed_once_but_saved_under_both_names():
    ours, theirs = both(lambda m: (lambda lin: m.Sequential(lin, m.ReLU(), lin))(m.Linear(2, 2)))
    assert names(ours.named_parameters()) == names(theirs.named_parameters()) == ["0.weight", "0.bias"]
    assert names(ours.named_modules()) == names(theirs.named_modules())
    assert names(ours.named_modules(remove_duplicate=False)) == names(theirs.named_modules(remove_duplicate=False))
    assert keys(ours) == keys(theirs) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    optim.SGD(ours.parameters(), lr=0.1)   # each parameter once: no "appears more than once"


def test_traversals_are_iterators_in_torchs_order():
    ours, theirs = both(lambda m: m.Sequential(m.Conv2d(1, 2, 3), m.BatchNorm2d(2), m.Sequential(m.Linear(2, 2))))
    for method in ("parameters", "children", "modules", "buffers"):
        assert next(getattr(ours, method)()) is not None
    assert names(ours.named_children()) == names(theirs.named_children()) == ["0", "1", "2"]
    assert names(ours.named_buffers()) == names(theirs.named_buffers())
    assert names(ours.named_parameters(recurse=False)) == names(theirs.named_parameters(recurse=False)) == []
    assert names(ours.named_parameters(prefix="net")) == names(theirs.named_parameters(prefix="net"))
    assert [p.shape for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    assert ours.get_submodule("2.0") is ours[2][0] and ours.get_parameter("2.0.bias") is ours[2][0].bias
    assert ours.get_buffer("1.running_var") is ours[1].running_var


def test_apply_visits_children_first_and_train_recurses_through_children():
    order = {}
    for m, model in zip(("ours", "torch"), both(lambda m: m.Sequential(m.Linear(1, 1), m.Sequential(m.ReLU())))):
        order[m] = []
        model.apply(lambda mod: order[m].append(type(mod).__name__))
        assert model.eval() is model and not any(x.training for x in model.modules())
        with pytest.raises(ValueError, match="training mode is expected to be boolean"):
            model.train("yes")
    assert order["ours"] == order["torch"] == ["Linear", "ReLU", "Sequential", "Sequential"]

    class Noisy(nn.Module):
        def train(self, mode=True):
            self.calls = getattr(self, "calls", 0) + 1
            return super().train(mode)

    net = nn.Sequential(Noisy())
    net.eval()
    assert net[0].calls == 1 and not net[0].training


def test_registration_errors_and_deletion_as_in_torch():
    for m in (nn, torch.nn):
        layer = m.Linear(2, 3)
        with pytest.raises(TypeError, match="cannot assign"):
            layer.weight = np.zeros((3, 2)) if m is nn else torch.zeros(3, 2)
        with pytest.raises(KeyError, match="already exists"):
            layer.register_buffer("weight", np.zeros(1) if m is nn else torch.zeros(1))
        with pytest.raises(KeyError, match="name can.*t contain"):
            layer.register_buffer("a.b", None)
        with pytest.raises(TypeError):
            layer.register_buffer("five", 5)
        del layer.weight
        assert keys(layer) == ["bias"]
        norm = m.BatchNorm1d(3)
        norm.running_mean = np.ones(3) if m is nn else torch.ones(3)
        assert float(norm.state_dict()["running_mean"][0]) == 1.0
        norm.register_buffer("scratch", np.zeros(2) if m is nn else torch.zeros(2), persistent=False)
        assert "scratch" not in norm.state_dict() and "scratch" in names(norm.named_buffers())


def test_repr_puts_extra_repr_before_the_children():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1, 2)

        def extra_repr(self):
            return "hello"

    assert repr(Holder()) == "Holder(\n  hello\n  (fc): Linear(in_features=1, out_features=2, bias=True)\n)"


def test_sequential_list_operations_match_torch():
    def build(m):
        return m.Sequential(m.Linear(2, 3), m.ReLU(), m.Linear(3, 4), m.Tanh())

    ours, theirs = both(build)
    assert keys(ours[1:]) == keys(theirs[1:]) == ["2.weight", "2.bias"]
    assert type(ours[-1]).__name__ == type(theirs[-1]).__name__ == "Tanh"
    for model in (ours, theirs):
        with pytest.raises(IndexError, match="index 10 is out of range"):
            model[10]
        del model[1]
        model.insert(-1, nn.Sigmoid() if model is ours else torch.nn.Sigmoid())
        model.append(nn.ReLU() if model is ours else torch.nn.ReLU())
        model.pop(0)
    assert [type(x).__name__ for x in ours] == [type(x).__name__ for x in theirs]
    assert keys(ours) == keys(theirs)
    with pytest.raises(TypeError, match="not a minimlp Module"):
        ours.append(3)
    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 1, 1)), ("act", nn.ReLU())]))
    assert keys(named) == ["conv.weight", "conv.bias"] and named.act is named[1]


def test_replacing_a_child_or_a_parameter_keeps_its_place_as_torch():
    ours, theirs = both(lambda m: m.Sequential(m.Linear(2, 3), m.ReLU(), m.Linear(3, 4)))
    ours[0], theirs[0] = nn.Linear(2, 3), torch.nn.Linear(2, 3)
    assert keys(ours) == keys(theirs) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [type(x).__name__ for x in ours] == [type(x).__name__ for x in theirs] == ["Linear", "ReLU", "Linear"]
    ours[0].weight = nn.Parameter(np.zeros((3, 2), np.float32))
    theirs[0].weight = torch.nn.Parameter(torch.zeros(3, 2))
    assert list(ours[0]._parameters) == list(theirs[0]._parameters) == ["weight", "bias"]


def test_module_list_and_dict_register_their_modules_as_torch():
    ours, theirs = both(lambda m: m.ModuleList([m.Linear(1, 2), m.Linear(2, 2)]))
    ours.append(nn.Linear(2, 1))
    theirs.append(torch.nn.Linear(2, 1))
    assert keys(ours) == keys(theirs) and len(ours) == 3 and keys(ours[1:]) == keys(theirs[1:])
    ours_d, theirs_d = both(lambda m: m.ModuleDict({"enc": m.Linear(1, 2), "dec": m.Linear(2, 1)}))
    assert keys(ours_d) == keys(theirs_d) and list(ours_d) == list(theirs_d) == ["enc", "dec"]
    del ours_d["enc"]
    assert "enc" not in ours_d and keys(ours_d) == ["dec.weight", "dec.bias"]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])

    assert len(list(Net().parameters())) == 4


def test_a_frozen_parameter_has_no_gradient_and_no_optimizer_moves_it():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).to(np.float64)
    model[0].requires_grad_(False)
    frozen = model[0].weight.data.copy()
    loss = nn.MSELoss()
    for opt in (optim.Adam(model.parameters(), lr=0.1), optim.SGD(model.parameters(), lr=0.1, momentum=0.9)):
        for _ in range(3):
            opt.zero_grad()
            loss(model(rng.standard_normal((5, 4))), rng.standard_normal((5, 2)))
            model.backward(loss.backward())
            assert model[0].weight.grad is None and model[2].weight.grad is not None
            opt.step()
    np.testing.assert_array_equal(model[0].weight.data, frozen)
    assert model.dtype == np.float64 and model.double() is model and model.float().dtype == np.float32


def test_parameter_list_and_dict_register_their_parameters_as_torch():
    class Holder:
        def __init__(self, m):
            array = (lambda v: np.asarray(v, np.float32)) if m is nn else (lambda v: torch.tensor(v))
            self.model = (nn.Module if m is nn else torch.nn.Module)()
            self.model.ps = m.ParameterList([array([1.0, 2.0]), m.Parameter(array([3.0]))])
            self.model.pd = m.ParameterDict({"a": array([4.0])})
            self.model.ps.append(array([5.0, 6.0, 7.0]))
            self.model.ps += [array([8.0])]
            self.model.pd["b"] = array([9.0, 10.0])
            self.model.pd.update([("c", array([11.0]))])
            del self.model.pd["a"]

    ours, theirs = Holder(nn).model, Holder(torch.nn).model
    assert keys(ours) == keys(theirs) == ["ps.0", "ps.1", "ps.2", "ps.3", "pd.b", "pd.c"]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert isinstance(p, nn.Parameter)
        np.testing.assert_array_equal(p.data, q.detach().numpy())
    assert len(ours.ps) == len(theirs.ps) == 4 and len(ours.pd) == len(theirs.pd) == 2
    assert list(ours.pd) == list(theirs.pd) == ["b", "c"] and "b" in ours.pd and "a" not in ours.pd
    assert len(ours.ps[1:3]) == len(theirs.ps[1:3]) == 2 and ours.ps[-1] is ours.ps[3]
    np.testing.assert_array_equal(ours.ps[-1].data, theirs.ps[-1].detach().numpy())
    opt = optim.SGD(ours.parameters(), lr=0.5)
    for p in ours.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()
    assert ours.pd["c"].data.tolist() == [10.5]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert ours.pd["c"].data.tolist() == [11.0]
    with pytest.raises(TypeError, match="a Parameter or an array expected"):
        nn.ParameterList([3])
    assert repr(ours.ps) == repr(theirs.ps).replace("torch.", "")


def test_forward_hooks_run_as_torchs_on_a_model_and_its_children():
    """Pre-hooks may replace the input, hooks the output; ``prepend`` puts a hook first; ``with_kwargs`` passes
    the keyword arguments; a handle removes its hook (also as a context manager); the children of a Sequential
    call theirs in order, a BatchNorm + ReLU pair with a hook included (it then runs unfused)."""
    ours, theirs = both(lambda m: m.Sequential(m.Linear(3, 5), m.BatchNorm1d(5), m.ReLU(), m.Linear(5, 2)))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)

    def run(model, array, to_numpy):
        calls = []
        names = {id(mod): name for name, mod in model.named_modules()}
        for mod in model.modules():
            mod.register_forward_hook(lambda mod, args, out: calls.append(("post", names[id(mod)], out.shape[-1])))
            mod.register_forward_pre_hook(lambda mod, args: calls.append(("pre", names[id(mod)])))
        model.register_forward_pre_hook(lambda mod, args: calls.append(("first",)), prepend=True)
        doubling = model[2].register_forward_hook(lambda mod, args, out: out * 2)
        halving = model.register_forward_pre_hook(lambda mod, args: (args[0] / 2,))
        keyword = model[3].register_forward_hook(lambda mod, args, kwargs, out: calls.append(("kw", len(args))),
                                                 with_kwargs=True)
        outputs = [to_numpy(model(array(x)))]
        doubling.remove()
        halving.remove()
        with keyword:
            outputs.append(to_numpy(model(array(x))))
        outputs.append(to_numpy(model(array(x))))
        return calls, outputs

    ours_calls, ours_out = run(ours, lambda v: v, lambda v: v)
    theirs_calls, theirs_out = run(theirs, torch.tensor, lambda v: v.detach().numpy())
    assert ours_calls == theirs_calls
    for a, b in zip(ours_out, theirs_out):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours_out[0], ours_out[1])


@pytest.mark.parametrize("make,shape", [(lambda: nn.LayerNorm(4), (2, 4)), (lambda: nn.Conv1d(2, 3, 3), (1, 2, 5)),
                                        (lambda: nn.ConvTranspose2d(2, 3, 3), (1, 2, 4, 4)),
                                        (lambda: nn.TransformerEncoderLayer(8, 2, 16), (4, 2, 8))])
def test_a_module_deep_copies_and_pickles_after_a_forward(make, shape):
    """Its cache may hold the kernel that ran (torch's TransformerEncoder deep-copies a layer that may have run)."""
    import copy
    import pickle
    module = make().eval()   # dropout off: the twins must give the same output
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    y = module(x)
    for twin in (copy.deepcopy(module), pickle.loads(pickle.dumps(module))):
        np.testing.assert_array_equal(twin(x), y)
    assert len(nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2).layers) == 2


@pytest.mark.parametrize("make,shape", [(lambda: nn.Linear(4, 3), (2, 4)), (lambda: nn.LSTM(4, 3), (5, 2, 4)),
                                        (lambda: nn.Embedding(6, 3), None), (lambda: nn.LayerNorm(4), (2, 4))])
def test_a_second_backward_since_the_last_forward_is_refused_outside_a_container_too(make, shape):
    """torch refuses a second backward through one graph; a module called by hand (not through a container) was
    silently accumulating twice, or backpropagating an earlier call through its last cache."""
    module = make()
    x = np.arange(6).reshape(2, 3) if shape is None else np.random.default_rng(0).normal(size=shape).astype(np.float32)
    y = module(x)
    y = y[0] if isinstance(y, tuple) else y
    g = np.ones(y.shape, np.float32)
    with pytest.raises(ValueError, match="shape"):
        module.backward(np.ones((7,) + y.shape, np.float32))    # refused: the right gradient may still come
    module.backward(g)
    first = {name: p.grad.copy() for name, p in module.named_parameters()}
    with pytest.raises(RuntimeError, match="second time since its last forward") as info:
        module.backward(g)
    assert "\n" not in str(info.value)
    for name, p in module.named_parameters():
        np.testing.assert_array_equal(p.grad, first[name])       # nothing added by the refused call
    module(x)
    module.backward_parameters(g)                                 # a new forward: one more backward
    for name, p in module.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[name], rtol=1e-6)


def test_a_cell_unrolled_in_a_loop_refuses_the_second_step_backward():
    cell, x = nn.LSTMCell(3, 4), np.ones((5, 2, 3), np.float32)
    state = None
    for t in range(5):
        state = cell(x[t], state)
    cell.backward(np.ones((2, 4), np.float32), np.ones((2, 4), np.float32))
    with pytest.raises(RuntimeError, match="second time"):
        cell.backward(np.ones((2, 4), np.float32), np.ones((2, 4), np.float32))


@pytest.mark.parametrize("dtype,grad_dtype", [(np.float32, np.float64), (np.float64, np.float32)],
                         ids=["float64-grad-into-float32", "float32-grad-into-float64"])
@pytest.mark.parametrize("make,shape", [
    (lambda m: m.Linear(3, 2), (4, 3)),
    (lambda m: m.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    (lambda m: m.Sequential(m.Linear(3, 4), m.ReLU(), m.Linear(4, 2)), (4, 3)),
    (lambda m: m.BatchNorm1d(3), (5, 3)),
], ids=["Linear", "Conv2d", "Sequential", "BatchNorm1d"])
def test_a_gradient_of_another_float_dtype_is_cast_to_the_outputs_as_torchs_autograd(make, shape, dtype, grad_dtype):
    """torch casts an incoming gradient to its output's dtype: the input and parameter gradients keep the
    layer's dtype and are those of the cast gradient."""
    theirs = make(torch.nn).to(getattr(torch, np.dtype(dtype).name))
    ours = make(nn).to(dtype=dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    y_t = theirs(xt)
    y = ours(x)
    grad = np.random.default_rng(1).standard_normal(y.shape).astype(grad_dtype)
    y_t.backward(torch.tensor(grad))
    dx = ours.backward(grad)
    assert dx.dtype == dtype and all(p.grad.dtype == dtype for p in ours.parameters())
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=tol, atol=tol)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=tol, atol=tol, err_msg=name)


def test_a_gradient_given_by_keyword_or_as_integers_is_cast_too():
    layer = nn.Linear(3, 2)
    layer(np.ones((4, 3), np.float32))
    assert layer.backward(dout=np.ones((4, 2))).dtype == np.float32
    layer(np.ones((4, 3), np.float32))
    assert layer.backward(np.ones((4, 2), np.int64)).dtype == np.float32
    assert layer.weight.grad.dtype == np.float32


def test_a_dtype_other_than_float32_or_float64_is_refused_in_one_line():
    for dtype in (np.float16, "float16", np.longdouble):
        if np.dtype(dtype) == np.float64:
            continue
        with pytest.raises(TypeError, match="minimlp computes in float32 and float64 only"):
            nn.Linear(3, 2).to(dtype=dtype)
    assert nn.Linear(3, 2).to(np.float64).weight.dtype == np.float64


def test_to_takes_a_device_with_the_dtype_by_keyword_as_torchs():
    """torch's ``module.to(device, dtype=...)`` and ``to(device, dtype)`` (minimlp also takes
    ``to(dtype, device=...)``)."""
    for layer in (nn.Linear(3, 2).to("cpu", dtype=np.float64), nn.Linear(3, 2).to("cpu", np.float64),
                  nn.Linear(3, 2).to(np.float64, device="cpu"), nn.Linear(3, 2).to("cpu", dtype="float64")):
        assert layer.weight.dtype == np.float64 and layer.device == "cpu"
    with pytest.raises(TypeError, match="unexpected argument"):
        nn.Linear(3, 2).to("cpu", np.float64, np.float32)
