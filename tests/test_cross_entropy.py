"""CrossEntropyLoss against torch in float64: value and gradient, with weights, ignore_index, smoothing, 4-D."""
import numpy as np
import pytest
import torch

from minimlp import backend, nn
from torch_reference import assert_close

CASES = {
    "plain": (dict(), (7, 5)),
    "sum": (dict(reduction="sum"), (7, 5)),
    "weight": (dict(weight=np.array([0.2, 1.0, 2.0, 0.5, 1.5])), (7, 5)),
    "ignore": (dict(ignore_index=2), (9, 5)),
    "smoothing": (dict(label_smoothing=0.1), (7, 5)),
    "weight-smoothing-ignore": (dict(weight=np.array([0.2, 1.0, 2.0, 0.5, 1.5]), label_smoothing=0.2,
                                     ignore_index=1), (9, 5)),
    "4d": (dict(label_smoothing=0.05), (3, 4, 5, 2)),
    "large-logits": (dict(), (4, 3)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cross_entropy_matches_torch(name, device):
    kwargs, shape = CASES[name]
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, shape) * (300 if name == "large-logits" else 1)
    target = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    torch_kwargs = {k: (torch.tensor(v) if k == "weight" else v) for k, v in kwargs.items()}
    lt_in = torch.tensor(logits, requires_grad=True)
    lt = torch.nn.CrossEntropyLoss(**torch_kwargs)(lt_in, torch.tensor(target))
    lt.backward()
    ours_kwargs = {k: (backend.to_device(v, device) if k == "weight" else v) for k, v in kwargs.items()}
    loss = nn.CrossEntropyLoss(**ours_kwargs)
    value = loss(backend.to_device(logits, device), backend.to_device(target, device))
    assert abs(value - lt.item()) <= 1e-10 * max(1.0, abs(lt.item()))
    assert_close(loss.backward(), lt_in.grad, 1e-7, f"CrossEntropyLoss {name} gradient")


def test_cross_entropy_bad_input():
    loss = nn.CrossEntropyLoss()
    with pytest.raises(TypeError, match="integer class indices"):
        loss(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="out of bounds for 3 classes"):
        loss(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"logits of shape \(2, 3\) and targets of shape \(3,\)"):
        loss(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.CrossEntropyLoss().backward()
