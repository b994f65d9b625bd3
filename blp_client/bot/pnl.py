"""The desk's P&L and its split, per venue: what the discount earned, what hedging cost
(fees, slippage, market move) and what funding moved.

For a (contract, venue) position `pos` with cost `Σ qty·price` and a mark, the position P&L is
`pos·mark − cost`. It splits exactly into

- **discount** (the exchange): `Σ side·qty·(mark at assignment − assignment price)`;
- **slippage** (a cost, > 0 when paid): `Σ qty·(fill price − reference)` over the fills of
  orders decided on an assignment, the reference being that assignment's mark (for an order
  netted from several, their qty-weighted marks). Orders with no such reference (timer or
  escalation orders) count no slippage: their price difference stays in the market move;
- **market move**: the rest, `pos·mark − cost − discount + slippage`: what prices did to the
  positions after they were taken;

and the P&L is `discount + market move − slippage − fees + funding`, where fees and funding
(> 0 received) are the journal's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from blp_client.bot.strategy import EXCHANGE, View
from blp_client.vocabulary import ZERO

Key = tuple[str, str]  # (symbol, venue)
LINES = ("discount", "market_move", "slippage", "fees", "funding", "total")


class HedgeCosts:
    """Discount per contract and slippage per (contract, venue), kept incrementally from the
    journal (read-only connection): each status reads only rows it has not seen."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.seq = 0  # last assignment event read
        self.fill_rowid = 0
        self.discount: dict[str, Decimal] = {}
        self.slippage: dict[Key, Decimal] = {}

    def update(self) -> None:
        for seq, text in self.db.execute(
            "SELECT seq, payload FROM events WHERE kind = 'assignment' AND seq > ? ORDER BY seq",
            (self.seq,),
        ).fetchall():
            a = json.loads(text)
            side = 1 if a["side"] == "buy" else -1
            qty, price, mark = Decimal(a["qty"]), Decimal(a["price"]), Decimal(a["mark_price"])
            s = a["symbol"]
            self.discount[s] = self.discount.get(s, ZERO) + side * qty * (mark - price)
            self.seq = seq
        for rowid, venue, symbol, qty, price, cid in self.db.execute(
            "SELECT rowid, venue, symbol, qty, price, client_order_id FROM fills "
            "WHERE rowid > ? ORDER BY rowid",
            (self.fill_rowid,),
        ).fetchall():
            self.fill_rowid = rowid
            ref = self._reference(cid) if cid else None
            if ref is not None:
                key = (symbol, venue)
                cost = Decimal(qty) * (Decimal(price) - ref)
                self.slippage[key] = self.slippage.get(key, ZERO) + cost

    def _reference(self, cid: str) -> Decimal | None:
        """The order's reference price (each fill is read once: nothing to cache)."""
        rows = self.db.execute(
            "SELECT o.qty, e.payload FROM orders o JOIN events e "
            "ON e.seq = CAST(o.decision AS INTEGER) AND e.kind = 'assignment' "
            "WHERE o.client_order_id = ? OR o.client_order_id IN "
            "(SELECT client_order_id FROM netted WHERE into_order = ?)",
            (cid, cid),
        ).fetchall()
        weight = sum((abs(Decimal(q)) for q, _ in rows), ZERO)
        ref = None
        if weight:
            total = sum(
                (abs(Decimal(q)) * Decimal(json.loads(p)["mark_price"]) for q, p in rows), ZERO
            )
            ref = total / weight
        return ref


def pnl_lines(
    positions: Mapping[Key, tuple[Decimal, Decimal, Decimal]],
    funding: Mapping[Key, tuple[Decimal, Decimal]],
    view: View,
    costs: HedgeCosts | None = None,
) -> dict[str, dict[str, dict[str, Decimal]]]:
    """venue -> symbol -> the P&L lines (`LINES`), every (contract, venue) the journal has."""
    out: dict[str, dict[str, dict[str, Decimal]]] = {}
    for key in sorted(set(positions) | set(funding)):
        s, v = key
        pos, cost, fees = positions.get(key, (ZERO, ZERO, ZERO))
        paid, received = funding.get(key, (ZERO, ZERO))
        mark = view.mark(s)
        value = pos * mark - cost if mark is not None else -cost if pos == 0 else ZERO
        disc = costs.discount.get(s, ZERO) if costs is not None and v == EXCHANGE else ZERO
        slip = costs.slippage.get(key, ZERO) if costs is not None else ZERO
        fund = received - paid
        out.setdefault(v, {})[s] = {
            "discount": disc,
            "market_move": value - disc + slip,
            "slippage": slip,
            "fees": fees,
            "funding": fund,
            "total": value - fees + fund,
        }
    return out


def summarize(lines: Mapping[str, Mapping[str, Mapping[str, Decimal]]]) -> dict[str, Any]:
    """The status's `pnl`: totals, by venue, and by (symbol, venue) as before."""
    by_venue: dict[str, dict[str, Decimal]] = {}
    total = {k: ZERO for k in LINES}
    by_symbol_venue: dict[str, dict[str, Decimal]] = {}
    for v, per_symbol in lines.items():
        acc = by_venue.setdefault(v, {k: ZERO for k in LINES})
        for s, row in per_symbol.items():
            by_symbol_venue.setdefault(s, {})[v] = row["total"]
            for k in LINES:
                acc[k] += row[k]
                total[k] += row[k]
    return {
        "total": total["total"],
        "fees": total["fees"],
        "funding": total["funding"],
        "lines": total,
        "by_venue": by_venue,
        "by_symbol_venue": by_symbol_venue,
        "detail": {v: dict(rows) for v, rows in lines.items()},
    }
