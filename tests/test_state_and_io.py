"""state_dict with torch's keys, save/load, torch interop, initialisation and devices."""
import os

import numpy as np
import pytest
import torch

import minimlp
from minimlp import backend, nn


def paper_net():
    return nn.Sequential(nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.Sigmoid(),
                         nn.Linear(512, 3072), nn.BatchNorm1d(3072), nn.Tanh())


def torch_paper_net():
    return torch.nn.Sequential(torch.nn.Linear(1024, 512), torch.nn.BatchNorm1d(512), torch.nn.Sigmoid(),
                               torch.nn.Linear(512, 3072), torch.nn.BatchNorm1d(3072), torch.nn.Tanh())


def test_state_dict_has_torchs_keys_shapes_and_dtypes():
    ours, theirs = paper_net().state_dict(), torch_paper_net().state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        assert tuple(ours[key].shape) == tuple(theirs[key].shape), key
    assert ours["0.weight"].dtype == np.float32
    assert ours["1.num_batches_tracked"].dtype == np.int64


def test_torch_loads_ours_and_we_load_torchs_with_identical_outputs():
    minimlp.manual_seed(0)
    ours = paper_net().eval()
    theirs = torch_paper_net().eval()
    theirs.load_state_dict(minimlp.to_torch_state_dict(ours.state_dict()))
    x = np.random.default_rng(0).normal(size=(3, 1024)).astype(np.float32)
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), atol=2e-6)
    torch.manual_seed(1)
    other = torch_paper_net().eval()
    ours.load_state_dict(minimlp.from_torch_state_dict(other.state_dict()))
    np.testing.assert_allclose(ours(x), other(torch.from_numpy(x)).detach().numpy(), atol=2e-6)


def test_load_state_dict_names_missing_unexpected_and_misshapen_keys():
    net = paper_net()
    sd = net.state_dict()
    del sd["3.bias"]
    sd["9.weight"] = np.zeros(3)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "3.bias". \n\tUnexpected key\(s\) in '
                                           r'state_dict: "9.weight"'):
        net.load_state_dict(sd)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["3.bias"] and result.unexpected_keys == ["9.weight"]
    assert repr(net.load_state_dict(net.state_dict())) == "<All keys matched successfully>"
    sd = net.state_dict()
    sd["0.weight"] = np.zeros((512, 1000), dtype=np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight: copying a param with shape \(512, 1000\) "
                                           r"from checkpoint, the shape in current model is \(512, 1024\)"):
        net.load_state_dict(sd)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        net.load_state_dict(list(sd.items()))


def test_state_dict_returns_copies_and_load_writes_in_place():
    net = nn.Linear(3, 2)
    weight = net.weight.data
    sd = net.state_dict()
    sd["weight"][...] = 5
    assert not np.any(net.weight.data == 5)
    net.load_state_dict(sd)
    assert net.weight.data is weight and np.all(weight == 5)


def test_save_load_round_trip_of_nested_state(tmp_path):
    state = {"model": paper_net().state_dict(), "step": 3, "lr": 2e-4, "name": "adam", "flag": True,
             "none": None, "groups": [{"params": [0, 1], "betas": (0.9, 0.999)}], "state": {0: {"m": np.ones(3)}}}
    path = minimlp.save(state, tmp_path / "ckpt.npz")
    back = minimlp.load(path)
    assert back["step"] == 3 and back["lr"] == 2e-4 and back["name"] == "adam" and back["flag"] is True
    assert back["none"] is None and back["groups"] == [{"params": [0, 1], "betas": (0.9, 0.999)}]
    np.testing.assert_array_equal(back["state"][0]["m"], np.ones(3))
    for key, value in state["model"].items():
        np.testing.assert_array_equal(back["model"][key], value)
        assert back["model"][key].dtype == value.dtype
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    minimlp.save({"v": np.arange(3)}, path)

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(KeyboardInterrupt):
        minimlp.save({"v": np.arange(5)}, path)
    np.testing.assert_array_equal(minimlp.load(path)["v"], np.arange(3))
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_load_of_a_corrupt_or_missing_file_says_so(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="bad.npz is not a .npz file written by minimlp.save"):
        minimlp.load(bad)
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        minimlp.load(tmp_path / "nope.npz")


def test_linear_initialisation_matches_torchs_distribution():
    minimlp.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w = lin.weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    # U(-b, b) has standard deviation b/√3
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert np.abs(lin.bias.data).max() <= bound


def test_xavier_and_kaiming_standard_deviations():
    minimlp.manual_seed(0)
    a = np.empty((500, 300))
    nn.init.xavier_normal_(a)
    assert abs(a.std() - np.sqrt(2 / 800)) < 0.02 * np.sqrt(2 / 800)
    nn.init.kaiming_normal_(a, nonlinearity="relu")
    assert abs(a.std() - np.sqrt(2 / 300)) < 0.02 * np.sqrt(2 / 300)
    nn.init.xavier_uniform_(a, gain=nn.init.calculate_gain("tanh"))
    assert np.abs(a).max() <= 5 / 3 * np.sqrt(6 / 800)


def test_manual_seed_makes_initialisation_reproducible():
    minimlp.manual_seed(42)
    a = paper_net().state_dict()
    minimlp.manual_seed(42)
    b = paper_net().state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_dtype_conversion_keeps_integer_buffers():
    net = paper_net().to(dtype=np.float64)
    assert net.dtype == np.float64
    assert net.state_dict()["1.running_var"].dtype == np.float64
    assert net.state_dict()["1.num_batches_tracked"].dtype == np.int64
    assert net(np.zeros((2, 1024))).dtype == np.float64


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a working GPU")
def test_asking_for_a_gpu_that_is_not_there_is_a_clear_error(capsys):
    with pytest.raises(minimlp.DeviceError, match=r"pip install -e \.\[gpu\]"):
        nn.Linear(2, 2).to("gpu")
    with pytest.raises(minimlp.DeviceError):
        backend.resolve_device("cuda")
    assert backend.resolve_device("auto", announce=True) == "cpu"
    assert "picked cpu" in capsys.readouterr().err


def test_unknown_device_name_and_environment_default(monkeypatch):
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        backend.resolve_device("tpu")
    monkeypatch.setenv("MINIMLP_DEVICE", "cpu")
    assert backend.resolve_device(None) == "cpu"


def test_model_moves_between_devices(device):
    net = paper_net().to(device=device)
    assert net.device == device
    x = backend.to_device(np.zeros((2, 1024), dtype=np.float32), device)
    assert backend.device_of(net(x)) == device
    net.to("cpu")
    assert net.device == "cpu"
