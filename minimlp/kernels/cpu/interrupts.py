"""Ctrl-C held back while Numba compiles a CPU kernel or a module is being imported, then raised.

The first training step of a process imports Numba and compiles (or loads from Numba's cache) each CPU kernel.
A ``KeyboardInterrupt`` raised in either goes wrong, measured with ``minimlp-colorize train`` and Ctrl-C sent
in its first seconds (docs/kernels.md has the counts):
- inside Numba's compiler, llvmlite runs part of the compile in a ctypes callback, which prints the exception
  and drops it: the interrupt is lost and training goes on; or the compile stops half done and the call fails
  with "no compiled object yet" (8 of 30 runs with an empty Numba cache);
- inside ``import numba``, a C extension can turn it into ``ImportError: numba._devicearray failed to import``;
  or it lands in code that the import runs through ``eval`` of a string (``collections.namedtuple``), and
  CPython (3.11 to 3.13) then marks the process to kill itself with SIGINT at exit although the program caught
  the interrupt and chose its exit code (6 of 200 runs with a warm cache exited -2 instead of 130).

``hold_interrupts_while_loading()`` replaces Python's SIGINT handler for its ``with`` block. A SIGINT that
arrives while this thread holds Numba's compiler lock, or while it is inside an import, is held: it is sent
again every ``RETRY_SECONDS`` (``_thread.interrupt_main``) until it lands outside both, and raised there as
``KeyboardInterrupt``. Any other SIGINT raises at once, as before. It changes a signal handler, so minimlp
never uses it on import: ``minimlp-colorize`` and its sweep's worker processes do, from the start of the
command. The 0.4 s before that, while Python imports the program itself, are Python's own: a Ctrl-C there
prints its traceback.
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


def _imports_under_way(frame):
    """How many imports ``frame`` runs inside (frames of Python's import machinery among its callers)."""
    count = 0
    while frame is not None:
        count += frame.f_code.co_filename.startswith(_IMPORT_MACHINERY)
        frame = frame.f_back
    return count


class _HeldInterrupt:
    """The SIGINT handler of one ``with`` block, and the thread that sends a held interrupt again.

    The thread is started with the block, not by the handler: a handler that started one could deadlock, since
    ``Thread.start`` takes a lock that the interrupted code may hold (``threading.enumerate`` does). Once the
    block is ending (``closing``) the handler only notes an interrupt, so that the clean-up runs whole.
    """

    def __init__(self, imports_outside):
        self.imports_outside = imports_outside   # the imports the block itself runs inside do not hold
        self.pending = False
        self.closing = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        threading.Thread(target=self._send_again_while_pending, name="minimlp-held-interrupt", daemon=True).start()

    def on_sigint(self, signum, frame):
        if self.closing:   # close() may be inside self._wake's own lock: only note it
            self.pending = True
            return
        if _compiling() or _imports_under_way(frame) > self.imports_outside:
            self.pending = True
            self._wake.set()
            return
        self.pending = False
        raise KeyboardInterrupt

    def _send_again_while_pending(self):
        while not self.closing:
            self._wake.wait()
            time.sleep(RETRY_SECONDS)
            with self._lock:
                self._wake.clear()
                if self.pending and not self.closing:
                    self._wake.set()
                    _thread.interrupt_main()

    def close(self):
        """Stop the thread: once a send under way has finished, no interrupt is sent after this returns."""
        with self._lock:
            self.closing = True
        self._wake.set()


@contextmanager
def hold_interrupts_while_loading():
    """For the ``with`` block: a Ctrl-C while code is loaded (a module imported, a kernel compiled) is raised
    when that has ended.

    A second Ctrl-C while one is held is the same interrupt. A held interrupt is raised when the block ends
    normally; where the block ends by another exception, that exception goes on. Imports that the block itself
    runs inside (a training script that is imported) do not hold. Does nothing off the main thread, or where
    SIGINT has a handler other than Python's default (a program's own, or SIG_IGN in a background job).
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    held = _HeldInterrupt(_imports_under_way(sys._getframe()))
    try:
        signal.signal(signal.SIGINT, held.on_sigint)
        yield
    finally:
        held.closing = True
        held.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held.pending:
        raise KeyboardInterrupt
