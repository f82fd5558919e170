"""One training per run folder: ``folder_lock`` holds ``FOLDER/.lock`` while a run writes into the folder.

The lock is an advisory ``flock`` on that file, so the kernel releases it when
its process ends, however it ends: a lock file left by a process that died
(killed, or its machine rebooted) is simply taken over by the next run. While
held, the file names its owner (process id, host, start time, command line),
which is what a second run into the same folder is told.
"""
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from contextlib import contextmanager

LOCK = ".lock"


class FolderLocked(RuntimeError):
    """Another live process is training into the folder; the message names it."""


def _owner(fd):
    """What the lock file of ``fd`` says about its owner, as text ('' when it says nothing readable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        owner = json.loads(os.read(fd, 65536).decode("utf-8"))
        return (f"process {owner['pid']} on {owner['host']}, started {owner['started']}: "
                f"{owner['command']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _acquire(path):
    """An open, locked file descriptor of ``path``; FolderLocked if a live process holds it.

    The descriptor is checked to still be the file at ``path`` once locked: a
    process that ends removes the file, and one that opened it just before
    must not keep a lock on a file nobody else can see.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            owner = _owner(fd)
            os.close(fd)
            raise FolderLocked(owner) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def folder_lock(folder, flag=None, command=None):
    """Hold ``folder/.lock`` for the ``with`` block (the folder is created if needed).

    A second ``folder_lock`` on the same folder, from any process, raises
    ``FolderLocked`` naming the owner while the first is held; ``flag`` is the
    option that chose the folder (the message offers another), ``command`` what
    the lock file says this process runs (default: its command line).
    """
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK)
    try:
        fd = _acquire(path)
    except FolderLocked as exc:
        where = f"{flag} {folder}" if flag else folder
        other = f" or choose another {flag}" if flag else ""
        raise FolderLocked(f"{where} is in use by another training ({exc}); wait for it to end{other}") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": datetime.datetime.now().isoformat(timespec="seconds"),
                                 "command": command or " ".join(sys.argv)}).encode("utf-8"))
        yield path
    finally:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        os.close(fd)
