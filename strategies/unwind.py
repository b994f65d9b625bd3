"""The unwind: reduce both legs of hedged flow when the exchange account's leverage is what
keeps the BLP's threshold down.

With `ImmediateHedge` the assigned position stays on the exchange account and its hedge sits on
a venue: flat in net, but the exchange account's leverage only grows with the flow, and the
threshold controller must then shut the BLP out of the program. The unwind closes matching
quantities on both sides — a reduce-only flip on the exchange's own book and the opposite
close of the venue hedge — until the exchange leverage is back at a target. Pure.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from blp_client.bot.books import ZERO, round_to_lot, sign
from blp_client.bot.strategy import EXCHANGE, Intent, StrategyParams, View
from strategies.routing import order_for


class UnwindParams(StrategyParams):
    unwind: bool = True
    """Unwind both legs when the exchange account's leverage reaches `unwind_leverage`."""
    unwind_leverage: Decimal = Field(default=Decimal(3), gt=0)
    unwind_target_leverage: Decimal = Field(default=Decimal(2), ge=0)
    """... down to this leverage (the flip and the venue close, pro rata to notional)."""
    unwind_slippage_bps: Decimal = Field(default=Decimal(50), ge=0, le=1000)


def exchange_leverage(view: View) -> tuple[Decimal, Decimal] | None:
    """(exchange position notional from the journal at mark, account equity)."""
    if view.account is None or view.account.equity <= 0:
        return None
    notional = ZERO
    for s in view.inventory.symbols():
        mark = view.mark(s)
        if mark is not None:
            notional += abs(view.inventory.get(s, EXCHANGE).total) * mark
    return notional, view.account.equity


def unwind(
    view: View, params: UnwindParams, venues: list[str], reason: str = "unwind"
) -> list[Intent]:
    """Flip-and-close pairs that bring the exchange leverage to the target; [] when below
    `unwind_leverage`, or while an unwind is still in flight."""
    if not params.unwind:
        return []
    lev = exchange_leverage(view)
    if lev is None:
        return []
    notional, equity = lev
    if notional < params.unwind_leverage * equity:
        return []
    cut = notional - params.unwind_target_leverage * equity
    out: list[Intent] = []
    for s in view.inventory.symbols():
        ex = view.inventory.get(s, EXCHANGE)
        mark, market = view.mark(s), view.market(s, EXCHANGE)
        if ex.in_flight != 0 or mark is None or market is None or ex.position == 0:
            continue
        side = -sign(ex.position)  # the flip's side: it reduces the exchange position
        share = cut * abs(ex.position) * mark / notional
        want = min(abs(ex.position), share / mark)
        for v in venues:  # the venue legs: close hedges held opposite to the exchange
            held = view.inventory.get(s, v)
            vm = view.market(s, v)
            if vm is None or sign(held.total) != side or want <= 0:
                continue
            size = round_to_lot(min(want, abs(held.total)), max(vm.lot, market.lot))
            if size == 0:
                continue
            flip = order_for(market, s, side * size, params.unwind_slippage_bps, reason)
            close = order_for(vm, s, -side * size, params.unwind_slippage_bps, reason)
            if flip is None or close is None:
                continue
            out += [flip, close]
            want -= size
    return out
