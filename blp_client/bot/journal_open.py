"""How the daemon opens its journal: lock it first (one daemon per journal, `journal_lock`),
then check its mode. A paper run's positions and client ids are not the live account's: a
journal records the mode it was first written in, and the other mode refuses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from blp_client.bot.journal import Journal
from blp_client.bot.journal_lock import JournalLock
from blp_client.bot.refusal import Refusal


class JournalModeMismatch(Refusal):
    """A paper journal opened live, or a live one opened in paper mode."""


def mode_name(paper: bool) -> str:
    return "paper" if paper else "live"


def open_journal(
    path: Path, *, paper: bool, fault_hook: Callable[[str], None] | None = None
) -> Journal:
    """The journal at `path`, locked for this process and of this mode (else `Refusal`)."""
    lock = JournalLock(path)
    lock.acquire()
    try:
        journal = Journal(path, fault_hook=fault_hook)
    except BaseException:
        lock.release()
        raise
    journal.owner = lock
    mode, recorded = mode_name(paper), journal.get_state("mode")
    if recorded is None:
        journal.set_state("mode", mode)
    elif recorded != mode:
        journal.close()
        other = "without --paper (and paper = false)" if recorded == "live" else "with --paper"
        raise JournalModeMismatch(
            f"journal {path} is a {recorded} journal and this bot runs {mode}: paper and live "
            f"journals never mix; give this run its own `journal`, or run it {other}",
            "journal_mode_mismatch",
        )
    return journal
