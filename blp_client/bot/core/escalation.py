"""Escalation: the next step for a hedge whose IOC expired with a remainder (a thin book in a
crash), so exposure never stays open silently.

A flip that took over queued hedges in a budget spill (`core.spill`, stage "budget") hands
its remainder back to the venue it came from, as a strategy hedge again (never spilled twice).
Other steps, in order: the same venue with the price cap `escalation_step_bps` wider, up to
`max_slippage_bps`; then the next hedge venue by the depth its book shows within that cap;
then the fallback: a reduce-only flip of the remainder on the exchange's own book, or a resting
limit at the touch, which the executor cancels after `resting_ttl_ms` so its remainder starts
over here. Pure: the order, its step so far, the view and the config are the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from blp_client.bot.books import BPS, ONE, ZERO, capped_limit, round_to_lot, sign, walk
from blp_client.bot.config import ExecutionConfig
from blp_client.bot.journal_schema import OrderRecord
from blp_client.bot.strategy import EXCHANGE, FlipOnExchange, Hedge, OrderIntent, View


@dataclass(frozen=True, slots=True)
class Step:
    """Where an order stands in its escalation: 0 for a strategy's own order."""

    attempt: int = 0
    slippage_bps: Decimal = ZERO
    tried: tuple[str, ...] = field(default_factory=tuple)
    stage: str = "strategy"  # strategy | budget | widen | spill | fallback

    def as_json(self) -> dict[str, object]:
        return {
            "attempt": self.attempt,
            "slippage_bps": str(self.slippage_bps),
            "tried": list(self.tried),
            "stage": self.stage,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Step:
        tried = data.get("tried") or []
        return cls(
            int(str(data.get("attempt", 0))),
            Decimal(str(data.get("slippage_bps", "0"))),
            tuple(str(v) for v in tried) if isinstance(tried, list) else (),
            str(data.get("stage", "strategy")),
        )


def first_step(order: OrderRecord, slippage_bps: Decimal | None) -> Step:
    return Step(0, slippage_bps or ZERO, (order.venue,), "strategy")


def next_intent(
    order: OrderRecord, step: Step, view: View, cfg: ExecutionConfig
) -> tuple[OrderIntent, Step] | None:
    """The order that takes over `order`'s remainder, with its step; None when there is
    nothing tradable left or every step is used (the exposure alarm watches the rest)."""
    qty = order.remaining
    side = sign(qty)
    if side == 0:
        return None
    if step.stage == "fallback":
        if order.tif != "GTC":
            return None
        # a resting fallback that timed out (`execution.resting_ttl_ms`): start over on
        # fresh books, from its first venue
        step = Step(step.attempt, ZERO, step.tried[:1], "strategy")
    reason = f"escalate {step.attempt + 1}: {order.client_order_id}"
    if step.stage == "budget" and order.venue == EXCHANGE and step.tried:
        home = step.tried[0]
        intent = _hedge(view, order.symbol, home, qty, step.slippage_bps, reason)
        if intent is not None:
            return intent, Step(step.attempt + 1, step.slippage_bps, step.tried, "strategy")
    wider = step.slippage_bps + cfg.escalation_step_bps
    widen = step.stage in ("strategy", "widen") and wider <= cfg.max_slippage_bps
    if order.venue != EXCHANGE and widen:
        intent = _hedge(view, order.symbol, order.venue, qty, wider, reason)
        if intent is not None:
            return intent, Step(step.attempt + 1, wider, step.tried, "widen")
    if cfg.spill and order.venue != EXCHANGE:
        venue = _deepest(view, order.symbol, side, step.tried, cfg.max_slippage_bps)
        if venue is not None:
            intent = _hedge(view, order.symbol, venue, qty, cfg.max_slippage_bps, reason)
            if intent is not None:
                tried = (*step.tried, venue)
                return intent, Step(step.attempt + 1, cfg.max_slippage_bps, tried, "spill")
    fallback = _fallback(order, qty, view, cfg, reason)
    if fallback is None:
        return None
    return fallback, Step(step.attempt + 1, cfg.max_slippage_bps, step.tried, "fallback")


def _ref(view: View, symbol: str, venue: str, side: int) -> tuple[Decimal, Decimal, Decimal] | None:
    """(reference price, tick, lot) of `venue` for an order of `side`."""
    m = view.market(symbol, venue)
    if m is None:
        return None
    ref = m.touch(side) or m.mark or m.mid()
    return None if ref is None else (ref, m.tick, m.lot)


def _hedge(
    view: View, symbol: str, venue: str, qty: Decimal, cap_bps: Decimal, reason: str
) -> Hedge | None:
    side = sign(qty)
    found = _ref(view, symbol, venue, side)
    if found is None:
        return None
    ref, tick, lot = found
    size = round_to_lot(qty, lot)
    if size == 0:
        return None
    return Hedge(
        symbol, venue, size, capped_limit(ref, side, cap_bps, tick), "IOC", cap_bps, reason
    )


def _deepest(
    view: View, symbol: str, side: int, tried: tuple[str, ...], cap_bps: Decimal
) -> str | None:
    """The untried hedge venue showing the most quantity within `cap_bps` of its touch."""
    best, depth = None, ZERO
    for m in view.markets_for(symbol):
        if m.venue == EXCHANGE or m.venue in tried:
            continue
        levels = m.levels(side)
        if not levels:
            continue
        limit = levels[0][0] * (ONE + side * cap_bps / BPS)
        within = tuple(lv for lv in levels if (lv[0] - limit) * side <= 0)
        got = walk(within, sum((q for _p, q in within), ZERO)).filled
        if got > depth:
            best, depth = m.venue, got
    return best


def _fallback(
    order: OrderRecord, qty: Decimal, view: View, cfg: ExecutionConfig, reason: str
) -> OrderIntent | None:
    side = sign(qty)
    held = view.inventory.get(order.symbol, EXCHANGE).position
    if cfg.fallback == "flip" and sign(held) == -side:
        found = _ref(view, order.symbol, EXCHANGE, side)
        if found is not None:
            ref, tick, lot = found
            size = round_to_lot(side * min(abs(qty), abs(held)), lot)
            if size != 0:
                limit = capped_limit(ref, side, cfg.max_slippage_bps, tick)
                return FlipOnExchange(
                    order.symbol, size, limit, "IOC", cfg.max_slippage_bps, True, reason
                )
    if cfg.fallback in ("flip", "resting") and order.venue != EXCHANGE:
        m = view.market(order.symbol, order.venue)
        if m is not None:
            own = m.bids if side > 0 else m.asks  # join our side of the book
            rest = own[0][0] if own else m.mark or m.mid()
            size = round_to_lot(qty, m.lot)
            if rest is not None and size != 0:
                return Hedge(order.symbol, order.venue, size, rest, "GTC", None, reason)
    return None
