"""Finite-difference checks of every module in float64, and of the checker itself."""
import numpy as np
import pytest

import minimlp
from minimlp import backend, nn

MODULES = {
    "Linear": lambda: nn.Linear(6, 4),
    "Linear-nobias": lambda: nn.Linear(6, 4, bias=False),
    "BatchNorm1d": lambda: nn.BatchNorm1d(6),
    "BatchNorm1d-noaffine": lambda: nn.BatchNorm1d(6, affine=False),
    "Dropout": lambda: nn.Dropout(0.4),
    "Identity": nn.Identity,
    "Sigmoid": nn.Sigmoid,
    "ReLU": nn.ReLU,
    "Tanh": nn.Tanh,
    "LeakyReLU": lambda: nn.LeakyReLU(0.2),
    "Sequential": lambda: nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Sigmoid(), nn.Dropout(0.3),
                                        nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Tanh()),
}


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", list(MODULES))
def test_every_module_passes_gradcheck(name, mode, device, implementation):
    minimlp.manual_seed(1)
    module = MODULES[name]().to(device=device)
    module.train(mode == "train")
    x = backend.to_device(np.random.default_rng(2).normal(size=(5, 6)), device)
    assert minimlp.gradcheck(module, x)


def test_gradcheck_leaves_the_module_untouched():
    module = nn.BatchNorm1d(3)
    before = module.state_dict()
    minimlp.gradcheck(module, np.random.default_rng(0).normal(size=(4, 3)))
    after = module.state_dict()
    assert module.dtype == np.float32
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])


class WrongSigmoid(nn.Sigmoid):
    """A planted bug: the derivative forgets the (1 − y) factor."""

    def backward(self, dout):
        return dout * self._kept


class WrongLinear(nn.Linear):
    """A planted bug in one parameter only: the bias gradient is doubled."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.bias.grad = self.bias.grad * 2
        return dx


def test_gradcheck_catches_a_wrong_input_gradient():
    with pytest.raises(minimlp.GradcheckError, match="input 0"):
        minimlp.gradcheck(WrongSigmoid(), np.random.default_rng(0).normal(size=(3, 4)))


def test_gradcheck_names_the_parameter_whose_gradient_is_wrong():
    with pytest.raises(minimlp.GradcheckError, match="bias") as info:
        minimlp.gradcheck(WrongLinear(4, 3), np.random.default_rng(0).normal(size=(3, 4)))
    assert "weight" not in str(info.value)
    assert minimlp.gradcheck(WrongLinear(4, 3), np.ones((2, 4)), raise_exception=False) is False


def test_gradcheck_of_plain_functions_with_two_inputs():
    state = {}

    def forward(a, b):
        state["a"], state["b"] = a, b
        return a * b + np.sin(a)

    def backward(G):
        return G * (state["b"] + np.cos(state["a"])), G * state["a"]

    rng = np.random.default_rng(0)
    assert minimlp.gradcheck((forward, backward), (rng.normal(size=(3, 2)), rng.normal(size=(3, 2))))

    def wrong_backward(G):
        return G * state["b"], G * state["a"]

    with pytest.raises(minimlp.GradcheckError, match="input 0"):
        minimlp.gradcheck((forward, wrong_backward), (rng.normal(size=(3, 2)), rng.normal(size=(3, 2))))
