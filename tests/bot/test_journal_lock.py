"""The journal's owner lock and mode, in one process (a second process: test_operator_refusals):
a second open is refused naming the holder, closing the journal frees it, and a journal keeps
the mode it was first written in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from blp_client.bot.journal_lock import JournalInUse, lock_path
from blp_client.bot.journal_open import JournalModeMismatch, open_journal


def test_one_owner_at_a_time_and_closing_frees_it(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    first = open_journal(path, paper=False)
    assert lock_path(path).read_text() == f"{os.getpid()}\n"
    with pytest.raises(JournalInUse, match=rf"pid {os.getpid()}\)"):
        open_journal(path, paper=False)
    first.close()
    again = open_journal(path, paper=False)  # freed by close
    again.close()
    assert lock_path(path).read_text() == ""  # no stale pid left behind


def test_a_journal_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite"
    open_journal(path, paper=True).close()
    with pytest.raises(JournalModeMismatch, match="is a paper journal and this bot runs live"):
        open_journal(path, paper=False)
    open_journal(path, paper=True).close()  # the refusal released the lock
