"""Ctrl-C while code is loaded (``minimlp.kernels.cpu.interrupts``): held until the import or the Numba compile
has ended, then raised.

Without the hold, a SIGINT inside Numba's compiler is dropped by llvmlite's ctypes callback (the training went
on) or leaves the kernel half compiled; inside ``import numba`` it became an ImportError, or made CPython exit
by SIGINT (-2) after the program had handled it. Here the SIGINT is sent from inside the compile (a Numba event
listener) or the import (the imported module's own code), so it arrives there every time.
"""
import importlib
import signal
import sys
import textwrap
import threading
import time

import numba
import pytest
from numba.core import event

from minimlp.colorize.cli import app
from minimlp.kernels.cpu import interrupts
from minimlp.kernels.cpu.interrupts import hold_interrupts_while_loading


class _SigintWhenCompiling(event.Listener):
    """Sends this process a SIGINT as a compile starts (Numba's compiler lock is then held)."""

    def on_start(self, evt):
        signal.raise_signal(signal.SIGINT)

    def on_end(self, evt):
        pass


def _new_function():
    @numba.njit
    def twice(x):
        return 2 * x
    return twice


def _wait_for_the_held_interrupt():
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.001)


def test_a_ctrl_c_during_a_compile_is_raised_once_the_compile_has_ended():
    twice = _new_function()
    with pytest.raises(KeyboardInterrupt) as raised:
        with hold_interrupts_while_loading(), event.install_listener("numba:compile", _SigintWhenCompiling()):
            assert twice(3) == 6                     # the call returns: the compile was not cut short
            _wait_for_the_held_interrupt()
    assert raised.traceback[-1].name == "on_sigint"
    assert any(entry.name == "_wait_for_the_held_interrupt" for entry in raised.traceback)
    assert len(twice.overloads) == 1


def test_one_held_ctrl_c_is_raised_once():
    """A program that catches the interrupt and goes on (a REPL, a notebook) is not interrupted again."""
    twice = _new_function()
    with hold_interrupts_while_loading():
        with event.install_listener("numba:compile", _SigintWhenCompiling()), pytest.raises(KeyboardInterrupt):
            twice(3)
            _wait_for_the_held_interrupt()
        time.sleep(20 * interrupts.RETRY_SECONDS)   # a second KeyboardInterrupt would be raised here
    assert twice(4) == 8


def test_without_the_hold_the_ctrl_c_lands_inside_the_compiler():
    """What the hold prevents: the interrupt cuts the compile short (no overload is kept)."""
    twice = _new_function()
    with event.install_listener("numba:compile", _SigintWhenCompiling()):
        with pytest.raises(KeyboardInterrupt):
            twice(3)
    assert len(twice.overloads) == 0


def _module_that_interrupts_its_own_import(tmp_path, monkeypatch, name):
    (tmp_path / f"{name}.py").write_text("import signal\nsignal.raise_signal(signal.SIGINT)\n"
                                         "for _ in range(1000):\n    pass\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_a_ctrl_c_during_an_import_is_raised_once_the_module_is_whole(tmp_path, monkeypatch):
    _module_that_interrupts_its_own_import(tmp_path, monkeypatch, "interrupted_module_a")
    with pytest.raises(KeyboardInterrupt):
        with hold_interrupts_while_loading():
            assert importlib.import_module("interrupted_module_a").DONE
            _wait_for_the_held_interrupt()
    assert sys.modules["interrupted_module_a"].DONE


def test_without_the_hold_the_ctrl_c_lands_inside_the_import(tmp_path, monkeypatch):
    _module_that_interrupts_its_own_import(tmp_path, monkeypatch, "interrupted_module_b")
    with pytest.raises(KeyboardInterrupt):
        importlib.import_module("interrupted_module_b")
    assert "interrupted_module_b" not in sys.modules


def test_a_block_entered_inside_an_import_raises_a_ctrl_c_at_once(tmp_path, monkeypatch):
    """A training script that is imported, not run: the import it runs inside does not hold a Ctrl-C."""
    (tmp_path / "starts_inside_an_import.py").write_text(textwrap.dedent("""
        import signal
        from minimlp.kernels.cpu.interrupts import hold_interrupts_while_loading
        WENT_ON = False
        try:
            with hold_interrupts_while_loading():
                signal.raise_signal(signal.SIGINT)
                for _ in range(1000):
                    pass
                WENT_ON = True
        except KeyboardInterrupt:
            pass
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "starts_inside_an_import", raising=False)
    assert importlib.import_module("starts_inside_an_import").WENT_ON is False


def test_a_ctrl_c_outside_a_compile_or_an_import_is_raised_at_once():
    with hold_interrupts_while_loading():
        with pytest.raises(KeyboardInterrupt) as raised:
            signal.raise_signal(signal.SIGINT)
    assert raised.traceback[-1].name == "on_sigint"


def _compile_with_a_ctrl_c_held_to_the_block_end(monkeypatch, retry_seconds):
    """A Ctrl-C during a compile, with retries too slow to send it again before the block ends."""
    monkeypatch.setattr(interrupts, "RETRY_SECONDS", retry_seconds)
    twice = _new_function()
    with pytest.raises(KeyboardInterrupt):
        with hold_interrupts_while_loading(), event.install_listener("numba:compile", _SigintWhenCompiling()):
            twice(3)
    return twice


def test_a_held_ctrl_c_still_pending_when_the_block_ends_is_raised_there(monkeypatch):
    twice = _compile_with_a_ctrl_c_held_to_the_block_end(monkeypatch, retry_seconds=60)
    assert len(twice.overloads) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_handler_is_python_s_default_again_after_the_block():
    with hold_interrupts_while_loading():
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_handler_the_program_installed_is_left_alone():
    def own(signum, frame):
        pass
    previous = signal.signal(signal.SIGINT, own)
    try:
        with hold_interrupts_while_loading():
            assert signal.getsignal(signal.SIGINT) is own
    finally:
        signal.signal(signal.SIGINT, previous)


def test_every_minimlp_colorize_command_runs_with_the_hold(monkeypatch):
    seen = []
    monkeypatch.setattr(app, "_command", lambda name: lambda args: seen.append(signal.getsignal(signal.SIGINT)) or 0)
    assert app.main(["models"]) == 0
    assert seen and seen[0] is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_held_ctrl_c_is_raised_within_a_few_retries():
    twice = _new_function()
    with pytest.raises(KeyboardInterrupt):
        with hold_interrupts_while_loading(), event.install_listener("numba:compile", _SigintWhenCompiling()):
            twice(3)
            compiled = time.monotonic()
            _wait_for_the_held_interrupt()
    assert time.monotonic() - compiled < 0.5   # the docs promise a retry every 20 ms


def test_a_ctrl_c_raised_at_the_block_end_is_not_sent_again_after_it(monkeypatch):
    _compile_with_a_ctrl_c_held_to_the_block_end(monkeypatch, retry_seconds=0.2)
    try:
        time.sleep(1.0)
    except KeyboardInterrupt:
        pytest.fail("the held Ctrl-C was raised again after the block")


def test_off_the_main_thread_the_block_does_nothing():
    seen, errors = [], []

    def body():
        try:
            with hold_interrupts_while_loading():
                seen.append(signal.getsignal(signal.SIGINT))
        except Exception as exc:   # noqa: BLE001 -- reported by the assertion below
            errors.append(exc)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert errors == [] and seen == [signal.default_int_handler]


def test_an_ignored_sigint_stays_ignored():
    """A background job (``minimlp-colorize train … &``) starts with SIGINT ignored; the block keeps it so."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with hold_interrupts_while_loading():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_held_to_the_end_of_a_command_is_reported_as_an_interruption(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(interrupts, "RETRY_SECONDS", 60)   # so the block's end raises it
    _module_that_interrupts_its_own_import(tmp_path, monkeypatch, "interrupted_module_c")
    monkeypatch.setattr(app, "_command",
                        lambda name: lambda args: importlib.import_module("interrupted_module_c") and 0)
    assert app.main(["models"]) == 130
    assert capsys.readouterr().err == "minimlp-colorize models: interrupted; nothing was written\n"


def test_a_sweep_worker_runs_with_the_hold(monkeypatch):
    from minimlp.colorize.experiments import local_executor
    seen = []
    monkeypatch.setattr(local_executor, "run_one", lambda *args: seen.append(signal.getsignal(signal.SIGINT)) or {})
    local_executor._job(({}, "folder", "cpu"))
    assert seen and seen[0] is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_while_the_block_ends_lets_its_clean_up_finish(monkeypatch):
    """The handler is put back even when the interrupt lands in the block's own clean-up; it is raised after."""
    close = interrupts._HeldInterrupt.close

    def close_interrupted(held):
        signal.raise_signal(signal.SIGINT)
        close(held)
    monkeypatch.setattr(interrupts._HeldInterrupt, "close", close_interrupted)
    with pytest.raises(KeyboardInterrupt):
        with hold_interrupts_while_loading():
            pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
