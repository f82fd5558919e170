"""examples/custom_module.py: a hand-written backward passes gradcheck and trains; a wrong one fails it; a module
without backward says how to write one."""
import importlib.util
import pathlib

import numpy as np
import pytest

import minimlp
from minimlp import nn

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "custom_module.py"


def _example():
    spec = importlib.util.spec_from_file_location("custom_module", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


def test_custom_module_example_checks_and_trains(capsys):
    example = _example()
    assert example.main() < 0.01
    assert "gradcheck: True" in capsys.readouterr().out


def test_a_wrong_hand_written_backward_fails_gradcheck():
    example = _example()

    class Forgets(example.ScaledResidual):
        def backward(self, dout):
            return super().backward(dout) - dout    # drops the skip path's G

    x = np.random.default_rng(1).normal(size=(3, 4))
    with pytest.raises(minimlp.GradcheckError):
        minimlp.gradcheck(Forgets(4), x)


def test_a_module_without_backward_says_how_to_write_one():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(x)

    net = Net()
    y = net(np.zeros((1, 3), np.float32))
    with pytest.raises(NotImplementedError, match=r"Net does not implement backward: minimlp has no autograd.*"
                                                  r"examples/custom_module.py"):
        net.backward(np.ones_like(y))
