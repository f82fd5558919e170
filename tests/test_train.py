"""The training loop: history, resume after a kill, NaN stop, best checkpoint."""
import os

import numpy as np
import pytest

import minimlp
from minimlp import nn, optim
from minimlp.data import Batches
from minimlp.train import History, StopTraining, TrainingDiverged, fit


def problem(seed=0, n=96):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    w = rng.normal(size=(6, 3)).astype(np.float32)
    y = np.tanh(x @ w).astype(np.float32)
    return x, y


def run(folder, epochs=4, kill_after=None, resume=False):
    """A small run with dropout, BatchNorm, AdamW and a per-step one-cycle schedule."""
    minimlp.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = optim.AdamW(model.parameters(), lr=1e-2)
    x, y = problem()
    train = Batches(x, y, 16, shuffle=True, seed=1)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=epochs * len(train))
    callbacks = []
    if kill_after is not None:
        def kill(epoch, row, model):
            if epoch == kill_after:
                raise KeyboardInterrupt
        callbacks.append(kill)
    history = fit(model, nn.MSELoss(), opt, train, Batches(x[:32], y[:32], 32, shuffle=False), epochs,
                  scheduler=sched, scheduler_interval="step", train_eval_batches=Batches(x, y, 48, shuffle=False),
                  checkpoint_dir=folder, resume=resume, config={"name": "test"}, quiet=True, callbacks=callbacks)
    return model, history


def test_a_run_killed_after_epoch_2_of_4_resumes_to_the_same_weights(tmp_path):
    model_whole, history_whole = run(str(tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        run(str(tmp_path / "killed"), kill_after=2)
    assert minimlp.load(str(tmp_path / "killed" / "last.npz"))["epoch"] == 2
    model_resumed, history_resumed = run(str(tmp_path / "killed"), resume=True)
    for (name, a), (_, b) in zip(model_whole.state_dict().items(), model_resumed.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    for a, b in zip(history_whole.rows, history_resumed.rows):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def test_history_has_both_train_losses_valid_lr_and_time(tmp_path):
    _, history = run(str(tmp_path / "h"), epochs=3)
    assert [r["epoch"] for r in history.rows] == [1, 2, 3]
    for r in history.rows:
        assert r["train_loss"] > 0 and r["train_eval_loss"] > 0 and r["valid_loss"] > 0 and r["seconds"] > 0
    # with dropout active during training, the running training loss sits above the eval-mode one
    assert history[-1]["train_loss"] > history[-1]["train_eval_loss"]
    loaded = History.from_csv(str(tmp_path / "h" / "history.csv"))
    assert [r["valid_loss"] for r in loaded.rows] == pytest.approx([r["valid_loss"] for r in history.rows])
    best = minimlp.load(str(tmp_path / "h" / "best.npz"))
    assert best["valid_loss"] == min(r["valid_loss"] for r in history.rows)


def test_nan_in_the_loss_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    minimlp.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = problem()
    train = Batches(x, y, 16, shuffle=False)

    def poison(epoch, row, model):
        if epoch == 2:
            train.y[37, 1] = np.nan   # lands in step 3 of epoch 3

    with pytest.raises(TrainingDiverged, match="epoch 3, step 3") as info:
        fit(model, nn.MSELoss(), opt, train, epochs=5, checkpoint_dir=str(tmp_path), quiet=True,
            callbacks=[poison])
    assert "target 1" in str(info.value)
    assert minimlp.load(str(tmp_path / "last.npz"))["epoch"] == 2
    assert os.path.exists(tmp_path / "history.csv")


def test_stop_training_from_a_callback_ends_cleanly(tmp_path):
    minimlp.manual_seed(0)
    model = nn.Linear(6, 3)
    x, y = problem()

    def stop(epoch, row, model):
        if epoch == 2:
            raise StopTraining

    history = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), Batches(x, y, 32), epochs=10,
                  quiet=True, callbacks=[stop], checkpoint_dir=str(tmp_path))
    assert len(history) == 2 and minimlp.load(str(tmp_path / "last.npz"))["epoch"] == 2


def test_resuming_a_run_that_already_has_the_epochs_asked_for_says_so(tmp_path):
    x, y = problem()

    def go(epochs, lines):
        minimlp.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 3))
        opt = optim.SGD(model.parameters(), lr=0.1)
        return fit(model, nn.MSELoss(), opt, Batches(x, y, 32, shuffle=False), epochs=epochs,
                   checkpoint_dir=str(tmp_path), resume=True, quiet=True, log=lines.append)

    go(3, [])
    lines = []
    history = go(2, lines)
    assert [r["epoch"] for r in history.rows] == [1, 2, 3]
    assert any("nothing to train: the run already has 3 epochs and 2 were asked for" in line for line in lines), lines
