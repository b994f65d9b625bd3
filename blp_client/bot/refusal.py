"""`Refusal`: an expected failure the operator fixes (a second bot on a journal, a wrong
secret, a port in use...). Its message is one line saying what is wrong and what to do;
`blp bot` prints it without a traceback and exits 2. Anything else is a bug (exit 1)."""

from __future__ import annotations


class Refusal(Exception):
    """Stop (or refuse to start) with `message`; `event` is its structlog event name."""

    def __init__(self, message: str, event: str = "bot_refused") -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # one line, whatever the parts were
        self.event = event

    def __str__(self) -> str:
        return self.message
