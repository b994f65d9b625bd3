"""Budget spill: a hedge that has waited `execution.spill_wait_ms` for its venue's rate budget
goes now to a route with budget of its own, the exchange's own book, as a reduce-only flip of
the assigned position.

Why: under ccxt's throttle a venue takes one order every ~200 ms, so in a liquidation wave
most assignments would sit unhedged waiting for the next slot. The BLP API is a separate
budget. Flipping part of the assigned position back on the exchange's book, IOC, within the
same price cap the strategy gave its hedge, ends that exposure at once. What the flip does not
fill returns to the venue it came from (`escalation`, stage "budget"), and is never spilled
twice. Pure: the lane's queued orders, their steps, the view and the config are the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from blp_client.bot.books import capped_limit, round_to_lot, sign
from blp_client.bot.config import ExecutionConfig
from blp_client.bot.core.escalation import Step
from blp_client.bot.core.netting import NetPlan, plan
from blp_client.bot.journal_schema import OrderRecord
from blp_client.bot.strategy import EXCHANGE, FlipOnExchange, View


def budget_spill(
    queued: Sequence[OrderRecord],
    steps: Mapping[str, Step],
    view: View,
    cfg: ExecutionConfig,
) -> tuple[FlipOnExchange, NetPlan] | None:
    """The flip that takes over a venue lane's queued hedges, and the netting plan that records
    it in place of them; None when they should keep waiting for their venue.

    They spill only when they are liquidity-taking hedges (IOC, not reduce-only) on a hedge
    venue, none came back from a spill already, and the exchange position is on the other side
    and at least as large (a reduce-only flip cannot cover more)."""
    if not cfg.spill_to_exchange or not queued:
        return None
    p = plan(queued)
    if p is None or p.tif != "IOC" or p.reduce_only:
        return None
    joined = p.joined or ((p.send,) if p.send is not None else ())
    if not joined or joined[0].venue == EXCHANGE:
        return None
    own = [steps.get(o.client_order_id, Step()) for o in joined]
    if any(EXCHANGE in s.tried for s in own):
        return None
    qty, symbol = p.qty, joined[0].symbol
    held = view.inventory.get(symbol, EXCHANGE).total  # flips already on their way counted
    side = sign(qty)
    if side == 0 or sign(held) != -side or abs(qty) > abs(held):
        return None
    m = view.market(symbol, EXCHANGE)
    if m is None:
        return None
    ref = m.touch(side) or m.mark or m.mid()
    if ref is None or round_to_lot(qty, m.lot) != qty:
        return None
    best = max(own, key=lambda s: s.attempt)
    cap = max((s.slippage_bps for s in own), default=cfg.max_slippage_bps)
    cap = cap if cap > 0 else cfg.max_slippage_bps
    limit = capped_limit(ref, side, cap, m.tick)
    reason = f"budget spill of {len(joined)} from {joined[0].venue}"
    flip = FlipOnExchange(symbol, qty, limit, "IOC", cap, True, reason)
    tried = (*best.tried, EXCHANGE) if best.tried else (joined[0].venue, EXCHANGE)
    step = Step(best.attempt, cap, tried, "budget")
    return flip, NetPlan(None, qty, limit, "IOC", True, tuple(joined), EXCHANGE, step)
