"""Every module against the same torch module with copied weights, in float64.

Forward values, the input gradient and every parameter gradient, for random
upstream gradients (never all-ones), batch sizes 2, 7 and 16, train and eval
mode. Tolerance: relative error ≤ 1e-7.
"""
import numpy as np
import pytest
import torch

import minimlp
from minimlp import backend, nn
from torch_reference import assert_close, reduced_loss_value

TOL = 1e-7
BATCH_SIZES = [2, 7, 16]

# name -> (minimlp factory, torch factory, input width)
CASES = {
    "Linear": (lambda: nn.Linear(9, 5), lambda: torch.nn.Linear(9, 5), 9),
    "Linear-nobias": (lambda: nn.Linear(9, 5, bias=False), lambda: torch.nn.Linear(9, 5, bias=False), 9),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(6), lambda: torch.nn.BatchNorm1d(6), 6),
    "BatchNorm1d-noaffine": (lambda: nn.BatchNorm1d(6, affine=False),
                             lambda: torch.nn.BatchNorm1d(6, affine=False), 6),
    "BatchNorm1d-nostats": (lambda: nn.BatchNorm1d(6, track_running_stats=False),
                            lambda: torch.nn.BatchNorm1d(6, track_running_stats=False), 6),
    "BatchNorm1d-cumulative": (lambda: nn.BatchNorm1d(6, momentum=None, eps=1e-3),
                               lambda: torch.nn.BatchNorm1d(6, momentum=None, eps=1e-3), 6),
    "Identity": (nn.Identity, torch.nn.Identity, 5),
    "Sigmoid": (nn.Sigmoid, torch.nn.Sigmoid, 5),
    "ReLU": (nn.ReLU, torch.nn.ReLU, 5),
    "Tanh": (nn.Tanh, torch.nn.Tanh, 5),
    "LeakyReLU": (nn.LeakyReLU, torch.nn.LeakyReLU, 5),
    "LeakyReLU-0.2": (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2), 5),
    "Dropout-eval-or-p0": (lambda: nn.Dropout(0.0), lambda: torch.nn.Dropout(0.0), 5),
    "paper-network": (
        lambda: nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(8), nn.Sigmoid(),
                              nn.Linear(8, 15), nn.BatchNorm1d(15), nn.Tanh()),
        lambda: torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.BatchNorm1d(8), torch.nn.Sigmoid(),
                                    torch.nn.Linear(8, 15), torch.nn.BatchNorm1d(15), torch.nn.Tanh()),
        12),
    "deep-mixed": (
        lambda: nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.LeakyReLU(0.1),
                              nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 4), nn.Identity()),
        lambda: torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
                                    torch.nn.LeakyReLU(0.1), torch.nn.Linear(16, 8), torch.nn.BatchNorm1d(8),
                                    torch.nn.Tanh(), torch.nn.Linear(8, 4), torch.nn.Identity()),
        10),
}


def make_pair(name, device, seed=0):
    """The same network in minimlp (float64, on ``device``) and torch (float64), with identical weights.

    Parameters and buffers are randomised (not left at ones/zeros) so that
    BatchNorm's γ, β and running statistics are exercised.
    """
    ours_factory, torch_factory, width = CASES[name]
    minimlp.manual_seed(seed)
    ours = ours_factory().to(dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    for key, value in ours.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        new = rng.uniform(0.5, 1.5, value.shape) if key.endswith("running_var") else rng.normal(0, 0.7, value.shape)
        ours.load_state_dict({**ours.state_dict(), key: new})
    theirs = torch_factory().double()
    theirs.load_state_dict(minimlp.to_torch_state_dict(ours.state_dict()))
    ours.to(device=device)
    return ours, theirs, width


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("batch", BATCH_SIZES)
@pytest.mark.parametrize("name", list(CASES))
def test_forward_and_all_gradients_match_torch(name, batch, mode, device, implementation):
    ours, theirs, width = make_pair(name, device)
    ours.train(mode == "train")
    theirs.train(mode == "train")
    rng = np.random.default_rng(batch)
    x = rng.normal(0, 1.5, (batch, width))
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    G = rng.normal(0, 1, tuple(yt.shape))
    yt.backward(torch.tensor(G))

    y = ours(backend.to_device(x, device))
    dx = ours.backward(backend.to_device(G, device))
    where = f"{name} batch={batch} {mode}"
    assert_close(y, yt, TOL, f"{where} forward")
    assert_close(dx, xt.grad, TOL, f"{where} input gradient")
    torch_params = dict(theirs.named_parameters())
    ours_params = dict(ours.named_parameters())
    assert set(ours_params) == set(torch_params)
    for pname, p in ours_params.items():
        assert_close(p.grad, torch_params[pname].grad, TOL, f"{where} grad {pname}")
    for bname, b in theirs.named_buffers():
        assert_close(ours.state_dict()[bname], b, TOL, f"{where} buffer {bname}")


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batchnorm_running_statistics_follow_torch_over_many_steps(momentum, device):
    ours = nn.BatchNorm1d(5, momentum=momentum).to(device=device, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(5, momentum=momentum).double()
    rng = np.random.default_rng(3)
    for step in range(12):
        x = rng.normal(2.0, 3.0, (int(rng.integers(2, 20)), 5))
        ours(backend.to_device(x, device))
        theirs(torch.tensor(x))
    sd = ours.state_dict()
    assert_close(sd["running_mean"], theirs.running_mean, 1e-12, "running_mean after 12 steps")
    assert_close(sd["running_var"], theirs.running_var, 1e-12, "running_var (unbiased) after 12 steps")
    assert int(sd["num_batches_tracked"]) == int(theirs.num_batches_tracked) == 12


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss_name", ["MSELoss", "L1Loss"])
@pytest.mark.parametrize("shape", [(7, 11), (2, 3, 4, 5), (16,)])
def test_losses_match_torch(loss_name, reduction, shape, device, implementation):
    """Value and gradient; 'none' returns the element-wise losses and takes a random upstream gradient."""
    rng = np.random.default_rng(5)
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    pred.flat[0] = target.flat[0]  # L1's subgradient at 0 is 0 in both
    ours = getattr(nn, loss_name)(reduction=reduction)
    theirs = getattr(torch.nn, loss_name)(reduction=reduction)
    pt = torch.tensor(pred, requires_grad=True)
    lt = theirs(pt, torch.tensor(target))
    value = ours(backend.to_device(pred, device), backend.to_device(target, device))
    if reduction == "none":
        g = rng.normal(size=shape)
        lt.backward(torch.tensor(g))
        assert_close(value, lt.detach(), TOL, f"{loss_name}(none) values")
        grad = ours.backward(backend.to_device(g, device))
    else:
        lt.backward()
        value = reduced_loss_value(value, device)
        assert abs(value - lt.item()) <= TOL * abs(lt.item())
        grad = ours.backward()
    assert_close(grad, pt.grad, TOL, f"{loss_name}({reduction}) gradient")


def test_elementwise_loss_none_needs_an_upstream_gradient_of_its_shape():
    loss = nn.MSELoss(reduction="none")
    loss(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"MSELoss.*grad_output of the loss's shape \(2, 3\), got None"):
        loss.backward()
    with pytest.raises(ValueError, match=r"grad_output of the loss's shape \(2, 3\), got \(3,\)"):
        loss.backward(np.ones(3))


def test_full_training_step_matches_torch_on_paper_network(device, implementation):
    """One MSE loss through the paper's network: loss, every gradient, in float64."""
    ours, theirs, width = make_pair("paper-network", device, seed=4)
    rng = np.random.default_rng(9)
    x, target = rng.normal(size=(16, width)), rng.uniform(-1, 1, (16, 15))
    xt = torch.tensor(x)
    lt = torch.nn.functional.mse_loss(theirs(xt), torch.tensor(target))
    lt.backward()
    loss_fn = nn.MSELoss()
    loss = loss_fn(ours(backend.to_device(x, device)), backend.to_device(target, device))
    ours.backward(loss_fn.backward())
    assert abs(loss - lt.item()) <= 1e-12
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        assert_close(p.grad, tp.grad, TOL, f"paper network MSE step grad {name}")


def test_gradients_accumulate_across_backward_calls_like_torch(device):
    ours, theirs, width = make_pair("paper-network", device, seed=2)
    rng = np.random.default_rng(1)
    for _ in range(2):
        x, G = rng.normal(size=(5, width)), rng.normal(size=(5, 15))
        ours(backend.to_device(x, device))
        ours.backward(backend.to_device(G, device))
        theirs(torch.tensor(x)).backward(torch.tensor(G))
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, tp.grad, TOL, f"accumulated grad {name}")
    ours.zero_grad()
    assert all(p.grad is None for p in ours.parameters())


ACTIVATIONS_0D = ["Identity", "Sigmoid", "ReLU", "Tanh", "LeakyReLU"]


@pytest.mark.parametrize("value", [0.7, -1.3, 0.0])
@pytest.mark.parametrize("name", ACTIVATIONS_0D)
def test_a_0d_input_gives_a_0d_output_and_gradient_with_torchs_values(name, value, device, implementation):
    """Issue 28: ``Sigmoid()(np.array(0.7))`` raised on both kernel paths, ReLU and Tanh returned NumPy scalars."""
    ours, theirs = getattr(nn, name)(), getattr(torch.nn, name)()
    xt = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(-0.8, dtype=torch.float64))
    y = ours(backend.to_device(np.array(value), device))
    dx = ours.backward(backend.to_device(np.array(-0.8), device))
    for out in (y, dx):
        assert type(out) is type(backend.to_device(np.zeros(1), device)) and out.shape == ()
    assert_close(y, yt, TOL, f"{name} 0-d forward")
    assert_close(dx, xt.grad, TOL, f"{name} 0-d input gradient")
