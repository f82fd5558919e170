"""Ctrl-C held back while Numba compiles a CPU kernel or a module is being imported, then raised.

The first training step of a process imports Numba and compiles (or loads from Numba's cache) each CPU kernel.
A ``KeyboardInterrupt`` raised in either goes wrong, measured with ``minimlp-colorize train`` and Ctrl-C sent
in its first seconds (docs/kernels.md has the counts):
- inside Numba's compiler, llvmlite runs part of the compile in a ctypes callback, which prints the exception
  and drops it: the interrupt is lost and training goes on; or the compile stops half done and the call fails
  with "no compiled object yet" (8 of 30 runs with an empty Numba cache);
- inside ``import numba``, a C extension can turn it into ``ImportError: numba._devicearray failed to import``;
  or it lands in code that the import runs through ``eval`` of a string (``collections.namedtuple``), and
  CPython 3.11 then marks the process to kill itself with SIGINT at exit although the program caught the
  interrupt and chose its exit code (6 of 200 runs with a warm cache exited -2 instead of 130).

``hold_interrupts_while_loading()`` replaces Python's SIGINT handler for its ``with`` block. A SIGINT that
arrives while this thread holds Numba's compiler lock, or while it is inside an import, is held: it is sent
again every ``RETRY_SECONDS`` (``_thread.interrupt_main``) until it lands outside both, and raised there as
``KeyboardInterrupt``. Any other SIGINT raises at once, as before. A held interrupt still pending when the
block ends is raised then. It changes a signal handler, so minimlp never uses it on import:
``minimlp-colorize`` and its sweep's worker processes do.
"""
import _thread
import signal
import sys
import threading
import time
from contextlib import contextmanager

RETRY_SECONDS = 0.02
_LOCK_MODULE = "numba.core.compiler_lock"
_IMPORT_MACHINERY = "<frozen importlib"


def _compiling():
    """Whether this thread is inside Numba's compiler (it holds the global compiler lock)."""
    lock = getattr(sys.modules.get(_LOCK_MODULE), "global_compiler_lock", None)   # None until numba is imported
    return lock is not None and lock.is_locked()


def _importing(frame):
    """Whether ``frame`` runs inside an import (Python's import machinery is among its callers)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith(_IMPORT_MACHINERY):
            return True
        frame = frame.f_back
    return False


class _HeldInterrupt:
    """The SIGINT handler of one ``with`` block: raises, or holds the interrupt and sends it again shortly."""

    def __init__(self):
        self.pending = False
        self.active = True

    def on_sigint(self, signum, frame):
        if not (_compiling() or _importing(frame)):
            self.pending = False
            raise KeyboardInterrupt
        if not self.pending:
            self.pending = True
            threading.Thread(target=self._send_again, name="minimlp-held-interrupt", daemon=True).start()

    def _send_again(self):
        while self.pending and self.active:
            time.sleep(RETRY_SECONDS)
            if self.pending and self.active:
                _thread.interrupt_main()


@contextmanager
def hold_interrupts_while_loading():
    """For the ``with`` block: a Ctrl-C while code is loaded (a module imported, a kernel compiled) is raised
    when that has ended.

    Does nothing off the main thread, or where SIGINT already has a handler other than Python's default.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    held = _HeldInterrupt()
    signal.signal(signal.SIGINT, held.on_sigint)
    try:
        yield
    finally:
        held.active = False
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held.pending:
        raise KeyboardInterrupt
