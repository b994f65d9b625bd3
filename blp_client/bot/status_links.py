"""Which orders hedged which assignment, for the status page (pure: journal rows in, links out).

An assignment's own orders (decision = its seq) are only the start: a queued order may be
netted into one order for several assignments (the journal's `netted` table), an IOC that
expired continues as an escalation (its reason names the order it takes over), and what is
still open is hedged later by a timer retry or a risk decision that names no assignment. So:

- an order's *roots* are the assignments it hedges: its own decision's, or the roots of the
  orders it replaced (netting) or continues (escalation);
- its effective quantity (filled, plus what is still open) goes to its roots oldest first, each
  up to what that assignment still needs;
- an assignment against older, still open ones the other way offsets them (no order needed);
- an order with no root (timer, risk, after-fill decisions), and what a rooted one has left,
  covers the oldest assignments in the same contract and direction that still need it and came
  before it (first in, first out).

Orders netted away are not listed (the order that replaced them is, as "netted"). Only the
page's recent assignments take part, so a retry may also have covered older ones the page no
longer shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from blp_client.vocabulary import ZERO

ESCALATED = re.compile(r"^escalate \d+: (\S+)$")
"""The reason `core.escalation.next_intent` gives an order that takes over another's remainder."""
SOURCES = {"t": "timer", "r": "risk", "f": "after fill", "e": "escalation", "n": "netted"}
OPEN = frozenset({"pending", "sent", "unknown", "acked"})


@dataclass(frozen=True, slots=True)
class OrderRow:
    """The journal's columns of one order the page links."""

    client_order_id: str
    decision: str
    venue: str
    symbol: str
    qty: Decimal  # signed
    filled: Decimal  # signed
    avg_price: str | None
    state: str
    created_ms: int
    reason: str

    @property
    def effective(self) -> Decimal:
        """|filled| plus, while open, what is still on its way."""
        left = abs(self.qty) - abs(self.filled) if self.state in OPEN else ZERO
        return abs(self.filled) + max(left, ZERO)


@dataclass
class _Need:
    seq: int
    symbol: str
    direction: int  # the hedge's sign: -1 sells (the BLP bought), +1 buys
    need: Decimal
    received_ms: int
    covered: Decimal = ZERO
    filled: Decimal = ZERO
    offset_qty: Decimal = ZERO
    hedges: list[dict[str, Any]] = field(default_factory=list)
    offsets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def left(self) -> Decimal:
        return max(self.need - self.covered, ZERO)


def link_hedges(
    assignments: Sequence[Mapping[str, Any]],
    orders: Sequence[OrderRow],
    netted: Mapping[str, str],
) -> dict[int, dict[str, Any]]:
    """seq → {"hedges": [orders], "offsets": [{seq, qty}], "hedge_state": ..., "hedged_qty":
    ...} for each assignment
    (dicts with seq, symbol, side, qty, received_ms). `orders` in creation order; `netted`
    maps a netted-away order to the one that replaced it."""
    needs = {
        int(a["seq"]): _Need(
            int(a["seq"]),
            str(a["symbol"]),
            -1 if a["side"] == "buy" else 1,
            abs(Decimal(str(a["qty"]))),
            int(a.get("received_ms") or 0),
        )
        for a in assignments
    }
    by_id = {o.client_order_id: o for o in orders}
    joined: dict[str, list[str]] = {}
    for src, into in netted.items():
        joined.setdefault(into, []).append(src)
    roots: dict[str, list[int]] = {}

    def roots_of(o: OrderRow) -> list[int]:
        if o.client_order_id in roots:
            return roots[o.client_order_id]
        roots[o.client_order_id] = []  # no cycles, whatever the rows say
        found: list[int] = []
        if o.decision.isdigit() and int(o.decision) in needs:
            found = [int(o.decision)]
        elif o.client_order_id in joined:
            found = sorted(
                {s for j in joined[o.client_order_id] if j in by_id for s in roots_of(by_id[j])}
            )
        elif (m := ESCALATED.match(o.reason)) and m.group(1) in by_id:
            found = roots_of(by_id[m.group(1)])
        roots[o.client_order_id] = found
        return found

    # one timeline: an assignment before the orders journaled in the same millisecond (its own)
    timeline: list[tuple[int, int, int, _Need | OrderRow]] = [
        (n.received_ms, 0, n.seq, n) for n in needs.values()
    ]
    timeline += [(o.created_ms, 1, i, o) for i, o in enumerate(orders)]
    for _, _, _, item in sorted(timeline, key=lambda t: t[:3]):
        if isinstance(item, _Need):
            _offset(item, needs)
        elif item.client_order_id not in netted:  # a netted-away order: its replacement counts
            parts = [by_id[j] for j in joined.get(item.client_order_id, ()) if j in by_id]
            weights: dict[int, Decimal] = {}
            for j in parts:  # a netted order hedges each root as much as its own orders asked
                for seq in roots_of(j)[:1]:
                    weights[seq] = weights.get(seq, ZERO) + abs(j.qty)
            _allocate(item, roots_of(item), needs, len(parts), weights)
    return {seq: _result(n) for seq, n in needs.items()}


def _open_needs(
    needs: Mapping[int, _Need], symbol: str, direction: int, before_ms: int
) -> list[_Need]:
    """Assignments in `symbol` still needing a hedge in `direction`, oldest first."""
    return sorted(
        (
            n
            for n in needs.values()
            if n.symbol == symbol and n.direction == direction and n.left > 0
            and n.received_ms <= before_ms
        ),
        key=lambda n: n.seq,
    )  # fmt: skip


def _offset(new: _Need, needs: Mapping[int, _Need]) -> None:
    """An assignment against still-open older ones the other way: they offset each other."""
    for old in _open_needs(needs, new.symbol, -new.direction, new.received_ms):
        if old.seq >= new.seq or new.left <= 0:
            continue
        x = min(old.left, new.left)
        for a, b in ((old, new), (new, old)):
            a.covered += x
            a.filled += x
            a.offset_qty += x
            a.offsets.append({"seq": b.seq, "qty": str(x)})


def _allocate(
    o: OrderRow,
    mine: list[int],
    needs: Mapping[int, _Need],
    joined: int,
    weights: Mapping[int, Decimal],
) -> None:
    """An order's effective quantity to its own assignments first (those it hedges in its
    direction; a netted order in proportion to what their orders asked, `weights`), then to
    the oldest others that still need it."""
    direction = 1 if o.qty > 0 else -1
    own = [needs[s] for s in mine if needs[s].direction == direction]
    others = [n for n in _open_needs(needs, o.symbol, direction, o.created_ms) if n not in own]
    amount, fill = o.effective, abs(o.filled)
    total = sum((weights.get(n.seq, ZERO) for n in own), ZERO)
    entry = _entry(o, _via(o), joined)
    whole = amount
    for n in own:  # listed even when nothing filled (a rejected or cancelled attempt)
        cap = whole * weights.get(n.seq, ZERO) / total if total > 0 else n.left
        share = min(amount, n.left, cap)
        share_fill = min(fill, share)
        n.covered, n.filled = n.covered + share, n.filled + share_fill
        amount, fill = amount - share, fill - share_fill
        n.hedges.append(entry)
    for n in others:
        if amount <= 0:
            break
        share = min(amount, n.left)
        n.covered, n.filled = n.covered + share, n.filled + min(fill, share)
        amount, fill = amount - share, fill - min(fill, share)
        n.hedges.append(entry)


def _via(o: OrderRow) -> str:
    if o.decision.isdigit():
        return "own"
    if ESCALATED.match(o.reason):
        return "escalation"
    return SOURCES.get(o.decision[:1], "retry")


def _entry(o: OrderRow, via: str, joined: int) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id,
        "via": via,
        "joined": joined,
        "venue": o.venue,
        "qty": str(o.qty),
        "filled": str(o.filled),
        "avg_price": o.avg_price,
        "state": o.state,
    }


def _result(n: _Need) -> dict[str, Any]:
    if n.need > 0 and n.filled >= n.need:
        state = "offset" if n.offset_qty >= n.need else "hedged"
    elif n.need > 0 and n.covered >= n.need:
        state = "hedging"  # the rest is in flight
    elif n.covered > 0:
        state = "partly hedged"
    else:
        state = "not hedged"
    return {
        "hedges": n.hedges,
        "offsets": n.offsets,
        "hedge_state": state,
        "hedged_qty": str(n.filled),
    }


__all__ = ["OrderRow", "link_hedges"]
