"""Helpers for comparing minimlp with PyTorch: relative errors and the worst one seen in a run."""
import numpy as np

from minimlp import backend

WORST_RELATIVE_ERROR = {"value": 0.0, "where": ""}


def rel_error(a, b):
    """max |a − b| / max |b|: one number for a whole array (b is the reference)."""
    a = backend.to_numpy(a).astype(np.float64)
    b = np.asarray(b.detach().numpy() if hasattr(b, "detach") else b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(b))), 1e-30)
    return float(np.max(np.abs(a - b)) / scale)


def assert_close(a, b, tol, where):
    """Assert rel_error(a, b) <= tol and remember the worst error seen.

    A reference that is zero in exact arithmetic (the bias of a Linear just
    before a training-mode BatchNorm: its gradient is Σₙ of a zero-mean
    quantity) holds only rounding noise on both sides; there both must be
    below 1e-12 in absolute value instead.
    """
    b_np = np.asarray(b.detach().numpy() if hasattr(b, "detach") else b, dtype=np.float64)
    if b_np.size and float(np.max(np.abs(b_np))) < 1e-12:
        worst = float(np.max(np.abs(backend.to_numpy(a))))
        assert worst < 1e-12, f"{where}: reference is zero but ours reaches {worst:.3g}"
        return 0.0
    err = rel_error(a, b)
    if err > WORST_RELATIVE_ERROR["value"]:
        WORST_RELATIVE_ERROR.update(value=err, where=where)
    assert err <= tol, f"{where}: relative error {err:.3g} > {tol:g}"
    return err


def reduced_loss_value(value, device):
    """A reduced loss as a number, after checking its type: a Python float on the CPU, a 0-d array left on the
    GPU (``minimlp.nn.loss_value``)."""
    if device == "cpu":
        assert isinstance(value, float), type(value)
    else:
        assert backend.device_of(value) == "gpu" and value.shape == (), type(value)
    return float(value)


def assert_state_dict_round_trips(factory):
    """``factory(module namespace)`` builds the same layer in minimlp and torch: the same state_dict keys in
    the same order, and random values carried minimlp → minimlp → torch → minimlp unchanged."""
    import torch

    import minimlp
    from minimlp import nn
    ours, theirs = factory(nn), factory(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    state = {k: rng.normal(size=v.shape).astype(v.dtype) for k, v in ours.state_dict().items()}
    again = factory(nn)
    again.load_state_dict(state)
    theirs.load_state_dict(minimlp.to_torch_state_dict(again.state_dict()))
    back = factory(nn)
    back.load_state_dict(minimlp.from_torch_state_dict(theirs.state_dict()))
    for key, value in back.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
