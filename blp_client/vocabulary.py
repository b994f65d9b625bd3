"""The few words every layer shares: the side of an order or a position, the kind of an
assignment, and the Decimal zero.

Standard library only, at the protocol layer (ARCHITECTURE.md): the engine core, the wire models,
the SDK and the bot all import it, and it imports none of them, so one definition serves both
the engine and the bot without either importing the other.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

ZERO = Decimal(0)  # compare Decimals with this, not 0: an int operand is converted each time


class Side(StrEnum):
    """An order's side, and the side of a position it opens: on the wire "buy" / "sell"."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy (a long), −1 for a sell."""
        return 1 if self is BUY else -1

    @property
    def opposite(self) -> Side:
        return SELL if self is BUY else BUY


# Module constants for hot paths: in CPython 3.11 `Side.BUY` is a descriptor lookup (~80 ns),
# a module global ~15 ns.
BUY, SELL = Side.BUY, Side.SELL

AssignmentKind = Literal["favorable", "toxic"]
"""Favorable: the taken-over account still had equity, so the BLP fills at ⅔·ZP + ⅓·mark,
better than mark. Toxic: it had none, so the BLP fills at the zero price, collared at 1 % off
mark. The wire's spelling (`Assignment.kind`), and the code's."""
