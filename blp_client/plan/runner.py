"""How one task becomes one result: the runner protocol and the engine runner.

A runner is a picklable callable (it crosses into pool and Ray worker processes) with a
`name` that includes its version: the name is part of every cache key, so a changed runner
never reuses an old runner's results.

`EngineRunner` runs the market on the engine core with our BLP registered with the
commitment (beside two other BLPs, as in the demo) and an ideal hedge: each assignment is
hedged at its mark on a venue for `HEDGE_FEE` of its notional. Its P&L is what the desk would
book: the exchange account's equity change plus the hedge's mark-to-market, minus hedge fees;
so it is the discount captured, less fees, plus what the exchange's liquidation of our BLP
costs if it happens. It stands in for `blp backtest` (the strategy, risk gate and bot core
in engine time), which supersedes it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from ..engine.core import Exchange, ExchangeConfig
from ..engine.core import events as ev
from ..engine.core.ledger import LiquidationState
from ..engine.market import DEFAULT_BLPS, BLPSpec, build_scenario
from ..engine.simulate import collector_paused
from ..vocabulary import ZERO
from .tasks import Task

TaskResult = dict[str, str | int | bool]  # JSON-ready: decimals as strings
RESULT_KEYS = (
    "pnl",
    "max_drawdown",
    "liquidated",
    "in_program_fraction",
    "assignments",
    "assigned_notional",
    "discount_value",
)
OUR_BLP = "our-blp"
OTHER_BLPS = DEFAULT_BLPS[:2]
HEDGE_FEE = Decimal("0.0005")  # a venue taker fee (Binance USDⓈ-M's regular tier)
CENT = Decimal("0.01")


class TaskRunner(Protocol):
    name: str

    def __call__(self, task: Task) -> TaskResult: ...


def _money(v: Decimal) -> str:
    return format(v.quantize(CENT), "f")


class EngineRunner:
    """The market on the engine core, our BLP hedged ideally at mark (see the module doc)."""

    name = "engine-ideal-hedge/1"

    def __call__(self, task: Task) -> TaskResult:
        with collector_paused():
            return _run(task)


def _run(task: Task) -> TaskResult:
    c, m = task.commitment, task.market
    x = Exchange(ExchangeConfig(insurance_fund=m.insurance_fund))
    ours = BLPSpec(OUR_BLP, c.collateral, c.minute_rate, c.hour_rate, c.threshold)
    shape = {"drop": m.drop, "bottom_at": m.speed, "gaps": m.gaps, "gap_size": m.gap_size}
    scenario = build_scenario(
        m.scenario,
        x,
        seed=m.seed,
        accounts=task.accounts,
        blps=(ours, *OTHER_BLPS),
        seconds=task.seconds,
        **(shape if m.scenario == "crash" else {}),  # type: ignore[arg-type]
    )
    aid = scenario.blps[OUR_BLP]
    x.drain_events()
    hedge: dict[str, Decimal] = {}  # venue position per contract
    basis = ZERO  # Σ hedge qty × entry price
    fees = ZERO
    peak = pnl = drawdown = ZERO
    in_program = 0
    for t in range(1, task.seconds + 1):
        now = scenario.start_ms + t * 1000
        scenario.step(now)
        x.advance(now)
        for e in x.events:
            if isinstance(e, ev.Assignment) and e.account_id == aid:
                qty = -e.side.sign * e.qty  # the venue leg offsets the assignment
                hedge[e.symbol] = hedge.get(e.symbol, ZERO) + qty
                basis += qty * e.mark_price
                fees += e.qty * e.mark_price * HEDGE_FEE
        x.events.clear()
        hedge_value = sum((q * x.marks[s] for s, q in hedge.items()), ZERO) - basis
        pnl = x.margin(aid).equity - c.collateral + hedge_value - fees
        peak = max(peak, pnl)
        drawdown = max(drawdown, peak - pnl)
        blp = x.blps[aid]
        if blp.opted_in and x.account(aid).liquidation is LiquidationState.NONE:
            in_program += 1
    stats = x.stats.blp(aid)
    return {
        "pnl": _money(pnl),
        "max_drawdown": _money(drawdown),
        "liquidated": stats.liquidated,
        "in_program_fraction": format(Decimal(in_program) / task.seconds, ".4f"),
        "assignments": stats.assignments,
        "assigned_notional": _money(stats.assigned_notional),
        "discount_value": _money(stats.discount_value),
    }


__all__ = ["RESULT_KEYS", "EngineRunner", "TaskResult", "TaskRunner"]
