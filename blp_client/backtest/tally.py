"""What a backtest measures as it runs, and its report.

Money is Decimal throughout. The P&L identity the report keeps:
`pnl = discount_captured.total − hedge_costs.fees − hedge_costs.slippage + hedge_costs.market_move`
where `market_move` is the rest (marks moving between an assignment and its hedge, and on
what stays open), so the three hedge costs always add up to what the flow earned minus P&L.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from blp_client.backtest.executor import SimExecutor
from blp_client.backtest.options import BacktestOptions
from blp_client.backtest.venue_sim import SimVenue
from blp_client.bot.config import BotConfig
from blp_client.bot.core.audit import PriceAudit
from blp_client.bot.core.decider import Decider
from blp_client.bot.core.markouts import MarkoutTracker
from blp_client.bot.journal import Journal
from blp_client.engine.core import Exchange
from blp_client.engine.core.blp import BLP
from blp_client.engine.core.num import money
from blp_client.engine.market import BLPSpec, Scenario
from blp_client.engine.simulate import sample as market_sample
from blp_client.engine.simulate import scenario_drop
from blp_client.models import Assignment
from blp_client.vocabulary import ZERO


class Run(Protocol):
    """What the tally reads of a running backtest (`runner.Backtest`)."""

    config: BotConfig
    options: BacktestOptions
    x: Exchange
    scenario: Scenario
    ours: BLPSpec
    our_id: int
    blp: BLP
    symbols: list[str]
    venues: dict[str, SimVenue]
    journal: Journal
    executor: SimExecutor
    core: Decider


RATIO = Decimal("0.0001")


def _ratio(v: Decimal | None) -> Decimal | None:
    return None if v is None else v.quantize(RATIO)


class Tally:
    def __init__(self, bt: Run) -> None:
        self.bt = bt
        self.counts = {"favorable": 0, "toxic": 0}
        self.gain = ZERO  # favorable: value vs mark at assignment
        self.loss = ZERO  # toxic (negative)
        self.audit = PriceAudit()
        self.markouts = MarkoutTracker()
        self.unhedged = 0
        self.max_exposure = ZERO
        self.max_x_lev: Decimal | None = ZERO
        self.max_v_lev: Decimal | None = ZERO
        self.peak = ZERO
        self.max_drawdown = ZERO
        self.pnl = ZERO
        self.timeline: list[dict[str, Any]] = []

    # ---- as it runs --------------------------------------------------------------------

    def assignment(self, a: Assignment, now_ms: int) -> None:
        side = 1 if a.side == "buy" else -1
        self.counts[a.kind] += 1
        value = (a.mark_price - a.price) * a.qty * side
        if a.kind == "favorable":
            self.gain += value
        else:
            self.loss += value
        inst = self.bt.x.instruments.get(a.symbol)
        self.audit.check(a, None if inst is None else inst.tick)
        self.markouts.add(a.symbol, a.ts, side, a.qty, a.price)
        if a.symbol not in self.bt.symbols:
            self.unhedged += 1

    def _equities(self) -> tuple[Decimal, Decimal | None, Decimal, Decimal | None]:
        """(exchange P&L, exchange leverage, venues' P&L, max venue leverage)."""
        bt = self.bt
        snap = bt.x.margin(bt.our_id)
        x_pnl = snap.equity - bt.ours.collateral
        x_lev = _lev(snap.notional, snap.equity)
        v_pnl = ZERO
        v_lev: Decimal | None = ZERO
        for v in bt.venues.values():
            s = v.x.margin(v.desk)
            v_pnl += s.equity - v.collateral
            lev = _lev(s.notional, s.equity)
            v_lev = None if lev is None or v_lev is None else max(v_lev, lev)
        return x_pnl, x_lev, v_pnl, v_lev

    def _net_notional(self) -> dict[str, Decimal]:
        bt = self.bt
        acct = bt.x.account(bt.our_id)
        out: dict[str, Decimal] = {}
        for s in sorted(bt.x.instruments):
            qty = acct.qty(s) + sum((v.position(s) for v in bt.venues.values()), ZERO)
            mark = bt.x.marks.get(s)
            if mark is not None:
                out[s] = qty * mark
        return out

    def second(self, now_ms: int, sample: bool) -> None:
        bt = self.bt
        for s, mark in bt.x.marks.items():
            self.markouts.observe(s, now_ms, mark)
        x_pnl, x_lev, v_pnl, v_lev = self._equities()
        self.pnl = x_pnl + v_pnl
        self.peak = max(self.peak, self.pnl)
        self.max_drawdown = max(self.max_drawdown, self.peak - self.pnl)
        net = self._net_notional()
        self.max_exposure = max(self.max_exposure, sum((abs(v) for v in net.values()), ZERO))
        self.max_x_lev = (
            None if x_lev is None or self.max_x_lev is None else max(self.max_x_lev, x_lev)
        )
        self.max_v_lev = (
            None if v_lev is None or self.max_v_lev is None else max(self.max_v_lev, v_lev)
        )
        if sample:
            self.sample(x_lev, v_lev, net)

    def sample(
        self,
        x_lev: Decimal | None = ZERO,
        v_lev: Decimal | None = ZERO,
        net: dict[str, Decimal] | None = None,
    ) -> None:
        bt, x = self.bt, self.bt.x
        stats = x.stats.blp(bt.our_id)
        self.timeline.append(
            {
                **market_sample(x, bt.scenario),
                "pnl": money(self.pnl),
                "net_exposure": {s: money(v) for s, v in (net or {}).items()},
                "exchange_leverage": _ratio(x_lev),
                "venue_leverage": _ratio(v_lev),
                "threshold": dict(sorted(bt.blp.thresholds.items())),
                "assigned_notional": money(stats.assigned_notional),
            }
        )

    # ---- the report --------------------------------------------------------------------

    def hedge_costs(self, discount: Decimal) -> dict[str, Decimal]:
        bt = self.bt
        fees = slippage = ZERO
        for f in bt.journal.fills():
            if f.client_order_id is None:
                continue  # not one of our orders
            fees += f.fee
            ref = bt.executor.ref_price.get(f.client_order_id)
            if ref is not None:
                slippage += (f.price - ref) * f.qty
        move = self.pnl - discount + fees + slippage
        return {"fees": money(fees), "slippage": money(slippage), "market_move": money(move)}

    def report(self) -> dict[str, Any]:
        bt, o = self.bt, self.bt.options
        stats = bt.x.stats.blp(bt.our_id)
        discount = self.gain + self.loss
        frac = bt.core.program.fraction
        positions: dict[str, dict[str, Decimal]] = {}
        for (s, venue), (qty, _c, _f) in sorted(bt.journal.positions().items()):
            if qty:
                positions.setdefault(s, {})[venue] = qty
        c = bt.ours
        total = self.counts["favorable"] + self.counts["toxic"]
        return {
            "scenario": o.scenario,
            "seed": o.seed,
            "accounts": o.accounts,
            "seconds": o.seconds,
            "drop": scenario_drop(o.scenario, o.drop),
            "strategy": bt.config.strategy.class_,
            "commitment": {
                "collateral": c.collateral,
                "minute_rate": c.minute_rate,
                "hour_rate": c.hour_rate,
                "threshold": c.threshold,
            },
            "insurance_fund_start": money(bt.x.stats.insurance_fund_start),
            "assignments": {**self.counts, "total": total},
            "assigned_notional": money(stats.assigned_notional),
            "favorable_notional": money(stats.favorable_notional),
            "toxic_notional": money(stats.toxic_notional),
            "discount_captured": {
                "favorable_gain": money(self.gain),
                "toxic_loss": money(self.loss),
                "total": money(discount),
            },
            "hedge_costs": self.hedge_costs(discount),
            "pnl": money(self.pnl),
            "markouts_bps": self.markouts.as_json(),
            "max_net_exposure": money(self.max_exposure),
            "max_exchange_leverage": _ratio(self.max_x_lev),
            "max_venue_leverage": _ratio(self.max_v_lev),
            "in_program_fraction": None if frac is None else round(frac, 6),
            "liquidated": stats.liquidated,
            "max_drawdown": money(self.max_drawdown),
            "price_audit": {
                "checked": self.audit.checked,
                "mismatches": self.audit.mismatches,
            },
            "orders": {
                "sent": bt.executor.sends,
                "netted": bt.executor.netted,
                "refused": bt.executor.refused,
                "denied": dict(sorted(bt.core.denied_total.items())),
            },
            "threshold_changes": len(bt.core.threshold_history),
            "unhedged_assignments": self.unhedged,
            "positions_end": positions,
            "exchange": {
                "liquidations": bt.x.stats.liquidations,
                "blp_assigned_notional": money(bt.x.stats.blp_assigned_notional),
                "adl_notional": money(bt.x.stats.adl_notional),
                "socialized_loss": money(bt.x.stats.socialized_loss),
            },
        }


def _lev(notional: Decimal, equity: Decimal) -> Decimal | None:
    """Notional / equity; None when there are positions and no equity (unbounded)."""
    if notional == 0:
        return ZERO
    return notional / equity if equity > 0 else None


__all__ = ["Tally"]
