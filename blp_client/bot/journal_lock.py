"""One daemon per journal: an exclusive OS lock (`flock`) on `<journal>.lock`, held for the
process's life, with the holder's pid in the file. Two bots on one journal would split the
assignments between them and each hedge half (seen: 25 and 5). The kernel drops the lock when
the process dies, however it dies, so a SIGKILLed bot never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from blp_client.bot.refusal import Refusal


class JournalInUse(Refusal):
    """Another live process holds the journal's lock."""


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


class JournalLock:
    """`acquire()` or raise `JournalInUse`; `release()` (idempotent) when the bot stops."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self.path = lock_path(journal)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise JournalInUse(
                f"journal {self.journal} is in use by another bot (pid {holder}): stop that "
                "bot first, or give this one its own `journal` in the config",
                "journal_in_use",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the only descriptor drops the flock
