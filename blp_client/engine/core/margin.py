"""Margin math over one account: equity, MM/IM, MF/MMF/IMF/TMF, zero and liquidation prices.

All pure functions of (account, marks, instruments). See DOMAIN.md for the formulas.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple

from .instruments import Instrument
from .ledger import Account, Position
from .num import ONE, ZERO, price_q

TMF_CUT = Decimal("0.06")


class MarginSnapshot(NamedTuple):
    """Immutable; a named tuple because the waterfall takes two per account per round."""

    equity: Decimal  # TAV = collateral + Σ unrealised PnL at mark
    notional: Decimal  # Σ |Q|·MP
    mm: Decimal
    im: Decimal
    upnl: Decimal

    @property
    def mf(self) -> Decimal | None:
        """Margin fraction; None with no positions (infinitely safe)."""
        return self.equity / self.notional if self.notional else None

    @property
    def mmf(self) -> Decimal | None:
        return self.mm / self.notional if self.notional else None

    @property
    def imf(self) -> Decimal | None:
        return self.im / self.notional if self.notional else None

    @property
    def tmf(self) -> Decimal | None:
        mmf = self.mmf
        return takeover_margin_fraction(mmf) if mmf is not None else None

    @property
    def leverage(self) -> Decimal:
        """Notional over equity (0 when flat; None-free: infinite leverage shows as notional/ε)."""
        if not self.notional:
            return ZERO
        if self.equity <= ZERO:
            return Decimal("Infinity")
        return self.notional / self.equity

    @property
    def liquidatable(self) -> bool:
        """MF < MMF, i.e. TAV < Σ MM (with a position)."""
        return self.notional > ZERO and self.equity < self.mm

    @property
    def below_tmf(self) -> bool:
        """MF < TMF, i.e. TAV < max(ΣMM/2, ΣMM − 6%·notional): no division, so exact."""
        n, e, mm = self.notional, self.equity, self.mm
        return n > ZERO and (e + e < mm or e < mm - TMF_CUT * n)

    @property
    def above_imf(self) -> bool:
        return self.notional == ZERO or self.equity > self.im


def takeover_margin_fraction(mmf: Decimal) -> Decimal:
    """TMF = max(MMF/2, MMF − 6%)."""
    return max(mmf / 2, mmf - TMF_CUT)


_new_snapshot = tuple.__new__  # skips the named tuple's Python-level __new__ on the hot path


def snapshot(
    acct: Account, marks: Mapping[str, Decimal], instruments: Mapping[str, Instrument]
) -> MarginSnapshot:
    positions = acct.positions
    if len(positions) == 1:  # most accounts: one position, nothing to sum
        (symbol,) = positions
        pos = positions[symbol]
        q = pos.qty
        if q:
            mark = marks[symbol]
            qm = q * mark
            n = qm if q > ZERO else -qm
            inst = instruments[symbol]
            tier = inst.tiers[bisect_right(inst.floors, n) - 1]  # inst.tier(n), inlined
            upnl = qm - pos.cost
            return _new_snapshot(
                MarginSnapshot,
                (acct.cash + upnl, n, n * tier.mmr - tier.cum_mm, n * tier.imr - tier.cum_im, upnl),
            )
    upnl = notional = mm = im = ZERO
    for symbol, pos in positions.items():
        q = pos.qty
        if not q:
            continue
        mark = marks[symbol]
        qm = q * mark
        n = qm if q > ZERO else -qm
        tier = instruments[symbol].tier(n)  # one lookup for both margins
        upnl += qm - pos.cost
        notional += n
        mm += n * tier.mmr - tier.cum_mm
        im += n * tier.imr - tier.cum_im
    return _new_snapshot(MarginSnapshot, (acct.cash + upnl, notional, mm, im, upnl))


def zero_prices(
    acct: Account,
    marks: Mapping[str, Decimal],
    instruments: Mapping[str, Instrument],
    snap: MarginSnapshot | None = None,
) -> dict[str, Decimal]:
    """Per-position bankruptcy prices: closing every position at them leaves equity exactly 0.

    Equity is shared by maintenance margin: PMPD_i = (MM_i/ΣMM)·TAV/notional_i and
    ZP_i = MP·(1 − s_i·PMPD_i). Quantised to 1e-8; the takeover books the rounding residue.
    """
    if snap is None:
        snap = snapshot(acct, marks, instruments)
    out: dict[str, Decimal] = {}
    if not snap.notional:
        return out
    positions = acct.positions
    open_pos = (
        list(positions.items())
        if len(positions) == 1  # the common case: no filter needed (notional > 0 above)
        else [(symbol, pos) for symbol, pos in positions.items() if pos.qty]
    )
    if len(open_pos) == 1:  # the whole MM is this position's: MM_i/ΣMM = 1
        ((symbol, pos),) = open_pos
        mark, pmpd = marks[symbol], snap.equity / snap.notional
        out[symbol] = price_q(mark * (ONE - pmpd if pos.qty > ZERO else ONE + pmpd))
        return out
    for symbol, pos in open_pos:
        mark = marks[symbol]
        n = abs(pos.qty) * mark
        pmpd = (instruments[symbol].maintenance_margin(n) / snap.mm) * snap.equity / n
        out[symbol] = price_q(mark * (ONE - pmpd if pos.qty > ZERO else ONE + pmpd))
    return out


def liquidation_price(cash: Decimal, pos: Position, inst: Instrument) -> Decimal:
    """Mark price at which a single-position account reaches TAV = MM.

    A long is liquidatable strictly below it, a short strictly above it. Solves, per tier,
    cash + Q·P − C = |Q|·P·mmr − cum and keeps the root whose notional lies in that tier.
    Returns 0 for a long that no price can liquidate, and Infinity for such a short.
    """
    q, c = pos.qty, pos.cost
    if q == ZERO:
        raise ValueError("no position")
    tiers = inst.tiers
    for i, t in enumerate(tiers):
        denom = q * (ONE - t.mmr) if q > ZERO else q * (ONE + t.mmr)
        p = (c - cash - t.cum_mm) / denom
        if p <= ZERO:
            continue
        n = abs(q) * p
        upper = tiers[i + 1].floor if i + 1 < len(tiers) else None
        if n >= t.floor and (upper is None or n < upper):
            return p
    return ZERO if q > ZERO else Decimal("Infinity")
