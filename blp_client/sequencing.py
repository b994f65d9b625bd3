"""Sans-I/O pieces of the resumable stream: in-order, exactly-once delivery by seq, and the
reconnect backoff. No sockets here, so the rules are unit tested on their own."""

from __future__ import annotations

import random
from typing import Generic, TypeVar

from .errors import StreamError

__all__ = ["Backoff", "SeqTracker"]

T = TypeVar("T")


class SeqTracker(Generic[T]):
    """Orders a per-BLP event sequence (1, 2, 3, …) that may arrive duplicated, out of order or
    with holes, and releases it strictly as `last + 1`.

    `push` returns the items that became deliverable (in seq order); a seq at or below `last`,
    or one already held, is a duplicate and is dropped. Items past a hole are held (at most
    `max_pending`) until the hole is filled by `push`es.
    """

    __slots__ = ("_pending", "duplicates", "last", "max_pending")

    def __init__(self, last: int = 0, *, max_pending: int = 100_000) -> None:
        if last < 0:
            raise ValueError("last must be >= 0")
        self.last = last
        self.max_pending = max_pending
        self.duplicates = 0
        self._pending: dict[int, T] = {}

    @property
    def pending(self) -> int:
        """How many items are held behind a hole."""
        return len(self._pending)

    def is_next(self, seq: int) -> bool:
        """`seq` directly follows the last delivered one and nothing is held: deliver it."""
        return seq == self.last + 1 and not self._pending

    def advance(self, seq: int) -> bool:
        """`is_next(seq)`, and if so take it as delivered (`last = seq`): the hot path's one
        call per in-order item; anything else goes through `push`."""
        if seq == self.last + 1 and not self._pending:
            self.last = seq
            return True
        return False

    def push(self, seq: int, item: T) -> list[T]:
        if seq <= self.last or seq in self._pending:
            self.duplicates += 1
            return []
        if seq == self.last + 1 and not self._pending:
            self.last = seq
            return [item]
        if len(self._pending) >= self.max_pending and seq > self.last + 1:
            raise StreamError(
                f"more than {self.max_pending} events held behind missing seq {self.last + 1}",
                "gap_too_large",
            )
        self._pending[seq] = item
        return self._release()

    def gap(self) -> tuple[int, int] | None:
        """The first hole as an inclusive `(first_missing, last_missing)` range, if any."""
        if not self._pending:
            return None
        return self.last + 1, min(self._pending) - 1

    def clear_pending(self) -> int:
        """Forget items held behind a hole (a resubscription from `last` will replay them)."""
        n = len(self._pending)
        self._pending.clear()
        return n

    def _release(self) -> list[T]:
        out: list[T] = []
        nxt = self.last + 1
        while nxt in self._pending:
            out.append(self._pending.pop(nxt))
            self.last = nxt
            nxt += 1
        return out


class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base·2ⁿ))."""

    def __init__(self, base: float = 0.25, cap: float = 10.0, rng: random.Random | None = None):
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0
