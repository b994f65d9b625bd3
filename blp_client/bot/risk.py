"""Risk: a gate that allows or denies each intent, and a monitor that decides the gate's state and
the BLP's threshold from margins.

Both are pure (time comes from the view), so every transition is unit-testable. The program
obliges a BLP to absorb flow whatever its margin; its one brake is the Max Position Notional
Threshold. The monitor lowers it when the exchange account's leverage or margin crosses a level,
*before* the obligation gets the account liquidated, and restores it once levels have recovered
past a second level for a while (hysteresis, so it does not flap).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from blp_client.bot.books import ZERO
from blp_client.bot.config import RiskConfig
from blp_client.bot.core import threshold as controller
from blp_client.bot.strategy import (
    EXCHANGE,
    FlipOnExchange,
    Hedge,
    Intent,
    Inventory,
    RiskState,
    SetThreshold,
    View,
)

__all__ = [
    "Denied",
    "DenyReason",
    "GateResult",
    "MonitorDecision",
    "RiskGate",
    "RiskMonitor",
    "RiskState",
]


class DenyReason(StrEnum):
    HALTED = "halted"
    NOT_REDUCING = "not_reducing"  # REDUCING state: the order would not reduce net exposure
    NO_PRICE = "no_price"  # no limit price and no mark to value the order at
    ORDER_NOTIONAL = "order_notional"
    VENUE_POSITION = "venue_position"
    NET_EXPOSURE = "net_exposure"
    LEVERAGE = "leverage"
    ORDER_RATE = "order_rate"


@dataclass(frozen=True, slots=True)
class Denied:
    intent: Intent
    reason: DenyReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class GateResult:
    allowed: list[Intent] = field(default_factory=list)
    denied: list[Denied] = field(default_factory=list)


def _price(intent: Hedge | FlipOnExchange, view: View) -> Decimal | None:
    if intent.limit_price is not None:
        return intent.limit_price
    m = view.market(intent.symbol, intent.venue)
    if m is not None and (m.mark or m.mid()):
        return m.mark or m.mid()
    return view.mark(intent.symbol)


class RiskGate:
    """Between strategies and the executor. `filter` checks intents in order, each against the
    inventory as the earlier allowed ones will leave it, and counts allowed orders for the rate
    limit (so call it once per batch that will really be sent)."""

    def __init__(self, config: RiskConfig, state: RiskState = RiskState.ACTIVE) -> None:
        self.config = config
        self.state = state
        self._sent: deque[int] = deque()

    def set_state(self, state: RiskState) -> None:
        self.state = state

    def _rate_ok(self, now_ms: int) -> bool:
        while self._sent and self._sent[0] <= now_ms - self.config.order_window_ms:
            self._sent.popleft()
        return len(self._sent) < self.config.max_orders

    def _leverage_after(
        self, venue: str, add: Decimal, view: View, added: Mapping[str, Decimal]
    ) -> Decimal | None:
        """Projected leverage of `venue` after adding `add` notional (None when unknown)."""
        extra = add + added.get(venue, ZERO)
        if venue == EXCHANGE:
            acct = view.account
            if acct is None:
                return None
            equity, notional = acct.equity, acct.notional
        else:
            vm = view.venue_margins.get(venue)
            if vm is None:
                return None
            equity, notional = vm.equity, vm.notional
        if equity <= 0:
            return Decimal("Infinity")
        return (notional + extra) / equity

    def check(
        self,
        intent: Intent,
        view: View,
        inventory: Inventory | None = None,
        added: Mapping[str, Decimal] | None = None,
    ) -> Denied | None:
        """Why `intent` is denied, or None. No side effects."""
        if isinstance(intent, SetThreshold):
            current = view.threshold(intent.symbol)
            if current is not None and intent.value <= current:
                return None  # lowering the threshold only ever reduces risk
            if self.state is RiskState.HALTED:
                return Denied(intent, DenyReason.HALTED, "raising the threshold while halted")
            if self.state is RiskState.REDUCING:
                return Denied(intent, DenyReason.NOT_REDUCING, "raising the threshold")
            return None
        cfg = self.config
        if self.state is RiskState.HALTED:
            return Denied(intent, DenyReason.HALTED)
        inv = inventory if inventory is not None else view.inventory
        price = _price(intent, view)
        if price is None:
            return Denied(intent, DenyReason.NO_PRICE)
        notional = abs(intent.qty) * price
        if notional > cfg.max_order_notional:
            return Denied(
                intent, DenyReason.ORDER_NOTIONAL, f"{notional} > {cfg.max_order_notional}"
            )
        before = inv.net(intent.symbol)
        after = before + intent.qty
        held = inv.get(intent.symbol, intent.venue).total
        grows = abs(held + intent.qty) - abs(held)
        # reducing the position on its own venue (one leg of an unwind) lowers leverage there
        reduces = abs(after) < abs(before) or grows < 0
        if self.state is RiskState.REDUCING and not reduces:
            return Denied(intent, DenyReason.NOT_REDUCING, f"net {before} -> {after}")
        if abs(after) > abs(before) and abs(after) * price > cfg.max_net_exposure_notional:
            return Denied(
                intent,
                DenyReason.NET_EXPOSURE,
                f"{abs(after) * price} > {cfg.max_net_exposure_notional}",
            )
        if grows > 0:
            if abs(held + intent.qty) * price > cfg.max_venue_position_notional:
                return Denied(
                    intent,
                    DenyReason.VENUE_POSITION,
                    f"{intent.venue} {abs(held + intent.qty) * price}"
                    f" > {cfg.max_venue_position_notional}",
                )
            lev = self._leverage_after(intent.venue, grows * price, view, added or {})
            if lev is not None and lev > cfg.max_leverage:
                return Denied(
                    intent,
                    DenyReason.LEVERAGE,
                    f"{intent.venue} leverage {lev:.2f} > {cfg.max_leverage}",
                )
        if not self._rate_ok(view.now_ms):
            return Denied(
                intent,
                DenyReason.ORDER_RATE,
                f"{cfg.max_orders} orders per {cfg.order_window_ms} ms",
            )
        return None

    def filter(self, intents: Iterable[Intent], view: View) -> GateResult:
        result = GateResult()
        inv = view.inventory
        added: dict[str, Decimal] = {}
        for intent in intents:
            denied = self.check(intent, view, inv, added)
            if denied is not None:
                result.denied.append(denied)
                continue
            result.allowed.append(intent)
            if isinstance(intent, SetThreshold):
                continue
            held = inv.get(intent.symbol, intent.venue).total
            grows = abs(held + intent.qty) - abs(held)
            price = _price(intent, view) or ZERO
            added[intent.venue] = added.get(intent.venue, ZERO) + max(grows, ZERO) * price
            inv = inv.changed(intent.symbol, intent.venue, in_flight=intent.qty)
            self._sent.append(view.now_ms)
        return result


# ---- monitor ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonitorDecision:
    """What the monitor wants: the gate's state, and threshold changes to send (through the
    gate, after setting its state)."""

    state: RiskState
    previous: RiskState
    reasons: tuple[str, ...] = ()
    intents: tuple[SetThreshold, ...] = ()

    @property
    def changed(self) -> bool:
        return self.state is not self.previous


_INF = Decimal("Infinity")


class RiskMonitor:
    """Follows the exchange account, venue margins and net exposure (in-flight orders counted);
    decides ACTIVE / REDUCING / HALTED and when to lower or restore the threshold.

    HALTED (the drawdown kill switch) latches until `reset()`: an operator decides."""

    def __init__(self, config: RiskConfig) -> None:
        self.config = config
        self.state = RiskState.ACTIVE
        self.peak_equity: Decimal | None = None
        self.saved_thresholds: dict[str, Decimal] | None = None  # set while lowered
        self.recovered_since: int | None = None
        self.calm_since: int | None = None
        self.venue_equity: dict[str, Decimal] = {}
        self.ceilings: dict[str, Decimal] | None = None  # the thresholds the desk registered
        self.requested: dict[str, Decimal] = {}  # last value sent per contract
        self.emergency = False

    @property
    def lowered(self) -> bool:
        return self.saved_thresholds is not None or self.emergency

    def reset(self) -> None:
        """Clear the kill switch (and the drawdown peak)."""
        self.state = RiskState.ACTIVE
        self.peak_equity = None
        self.calm_since = None

    def _account_levels(self, view: View) -> tuple[Decimal, Decimal | None, list[str]]:
        """(leverage, MF/MMF, alarm notes) of the exchange account."""
        acct = view.account
        if acct is None:
            return ZERO, None, []
        notes = []
        if acct.leverage is not None:
            lev = acct.leverage
        else:
            lev = _INF if acct.positions and acct.notional > 0 else ZERO
        ratio = acct.mf / acct.mmf if acct.mf is not None and acct.mmf else None
        if acct.mf is not None and acct.imf is not None and acct.mf < acct.imf:
            notes.append("mf below imf")
        if acct.margin_call:
            notes.append("margin call")
        if acct.liquidation_state != "none":
            notes.append(f"liquidation {acct.liquidation_state}")
        return lev, ratio, notes

    def _drawdown(self, view: View) -> str | None:
        if view.account is None:
            return None
        # a venue missing from this view (a failed fetch) counts at its last known equity,
        # so a flaky venue API cannot fake a drawdown
        for name, vm in view.venue_margins.items():
            self.venue_equity[name] = vm.equity
        equity = view.account.equity + sum(self.venue_equity.values(), ZERO)
        if self.peak_equity is None or equity > self.peak_equity:
            self.peak_equity = equity
        dd = self.peak_equity - equity
        cfg = self.config
        if cfg.max_drawdown is not None and dd >= cfg.max_drawdown:
            return f"drawdown {dd} >= {cfg.max_drawdown}"
        if (
            cfg.max_drawdown_fraction is not None
            and self.peak_equity > 0
            and dd >= cfg.max_drawdown_fraction * self.peak_equity
        ):
            return f"drawdown {dd} >= {cfg.max_drawdown_fraction} of peak {self.peak_equity}"
        return None

    def _reducing_reasons(
        self, view: View, lev: Decimal, ratio: Decimal | None, notes: list[str]
    ) -> list[str]:
        cfg = self.config
        out = [n for n in notes if n.startswith("liquidation")]
        if lev >= cfg.reducing_leverage:
            out.append(f"leverage {lev:.2f} >= {cfg.reducing_leverage}")
        if ratio is not None and ratio < cfg.reducing_mf_mmf:
            out.append(f"mf/mmf {ratio:.2f} < {cfg.reducing_mf_mmf}")
        for name, vm in sorted(view.venue_margins.items()):
            vlev = vm.leverage if vm.leverage is not None else _INF
            if vlev >= cfg.venue_reducing_leverage:
                out.append(f"{name} leverage {vlev:.2f} >= {cfg.venue_reducing_leverage}")
            mr = vm.margin_ratio if vm.margin_ratio is not None else _INF
            if mr >= cfg.venue_reducing_margin_ratio:
                out.append(f"{name} margin ratio {mr:.2f}")
        for symbol in view.inventory.symbols():
            mark = view.mark(symbol)
            exposure = abs(view.inventory.net(symbol)) * (mark or ZERO)
            if exposure > cfg.max_net_exposure_notional:
                out.append(f"{symbol} net exposure {exposure} > {cfg.max_net_exposure_notional}")
        return out

    def _thresholds(
        self, view: View, lev: Decimal, ratio: Decimal | None, notes: list[str]
    ) -> tuple[list[SetThreshold], list[str]]:
        cfg, now = self.config, view.now_ms
        lower = (
            [f"leverage {lev:.2f} >= {cfg.lower_threshold_leverage}"]
            if lev >= cfg.lower_threshold_leverage
            else []
        )
        if ratio is not None and ratio < cfg.lower_threshold_mf_mmf:
            lower.append(f"mf/mmf {ratio:.2f} < {cfg.lower_threshold_mf_mmf}")
        lower += notes
        if lower:
            self.recovered_since = None
            if self.lowered or view.profile is None:
                return [], lower
            self.saved_thresholds = dict(view.profile.max_position_notional)
            why = "lower: " + "; ".join(lower)
            return [
                SetThreshold(s, v * cfg.lowered_threshold_fraction, why)
                for s, v in sorted(self.saved_thresholds.items())
            ], lower
        recovered = lev <= cfg.restore_threshold_leverage and (
            ratio is None or ratio >= cfg.restore_threshold_mf_mmf
        )
        if not (self.lowered and recovered):
            self.recovered_since = None
            return [], []
        if self.recovered_since is None:
            self.recovered_since = now
        if now - self.recovered_since < cfg.restore_after_ms or self.state is not RiskState.ACTIVE:
            return [], []
        saved = self.saved_thresholds or {}
        self.saved_thresholds = None
        self.recovered_since = None
        return [
            SetThreshold(s, v, "restore: levels recovered") for s, v in sorted(saved.items())
        ], ["threshold restored"]

    def _controlled(
        self,
        view: View,
        ratio: Decimal | None,
        notes: list[str],
        exposure: controller.Exposure | None,
        venue_stale: bool,
    ) -> tuple[list[SetThreshold], list[str]]:
        """The threshold controller (`core.threshold`): thresholds follow what equity can
        carry; an emergency (margin call, MF levels, liquidation, kill switch) still lowers
        to `lowered_threshold_fraction` of the ceiling, and raising waits for calm."""
        cfg, now = self.config, view.now_ms
        if view.profile is None or exposure is None:
            return [], []
        current = dict(view.profile.max_position_notional)
        if self.ceilings is None:
            self.ceilings = current
        ceilings = self.ceilings
        emergency = list(notes)
        if ratio is not None and ratio < cfg.lower_threshold_mf_mmf:
            emergency.append(f"mf/mmf {ratio:.2f} < {cfg.lower_threshold_mf_mmf}")
        if self.state is RiskState.HALTED:
            emergency.append("halted")
        why: list[str] = []
        if emergency:
            self.emergency, self.recovered_since = True, None
            wanted = {
                s: controller.whole(c * cfg.lowered_threshold_fraction) for s, c in ceilings.items()
            }
            why = emergency
        else:
            if self.emergency:
                if self.recovered_since is None:
                    self.recovered_since = now
                if now - self.recovered_since >= cfg.restore_after_ms:
                    self.emergency, self.recovered_since = False, None
            wanted = controller.targets(exposure, ceilings, cfg.lower_threshold_leverage)
        may_raise = not self.emergency and not venue_stale and self.state is RiskState.ACTIVE
        known = {s: self.requested.get(s, v) for s, v in current.items()}
        changed = controller.changes(
            known, wanted, ceilings, cfg.threshold_step, may_raise=may_raise
        )
        room = controller.room(exposure, cfg.lower_threshold_leverage)
        intents = []
        for s, v in changed.items():
            self.requested[s] = v
            verb = "lower" if v < known.get(s, v) else "raise"
            note = "; ".join(why) if why else f"room {room:.0f} at {cfg.lower_threshold_leverage}x"
            intents.append(SetThreshold(s, v, f"{verb}: {note}"))
        if venue_stale:
            why = [*why, "venue data stale: lowering only"]
        return intents, why

    def assess(
        self,
        view: View,
        *,
        exposure: controller.Exposure | None = None,
        venue_stale: bool = False,
    ) -> MonitorDecision:
        """The decision for this moment; call on every account/margin update and periodically.
        `exposure` feeds the threshold controller; `venue_stale` (venue margins older than
        `venue_stale_ms`) makes it fail-safe: it decides on the exchange side and only lowers."""
        previous = self.state
        if view.account is None:
            return MonitorDecision(self.state, previous)
        lev, ratio, notes = self._account_levels(view)
        reasons: list[str] = []
        kill = self._drawdown(view)
        if kill is not None or self.state is RiskState.HALTED:
            self.state = RiskState.HALTED
            reasons.append(kill or "halted (kill switch latched)")
        else:
            reducing = self._reducing_reasons(view, lev, ratio, notes)
            if reducing:
                self.state, self.calm_since = RiskState.REDUCING, None
                reasons += reducing
            elif self.state is RiskState.REDUCING:
                if self.calm_since is None:
                    self.calm_since = view.now_ms
                if view.now_ms - self.calm_since >= self.config.restore_after_ms:
                    self.state, self.calm_since = RiskState.ACTIVE, None
                    reasons.append("recovered")
        if self.config.threshold_controller:
            intents, why = self._controlled(view, ratio, notes, exposure, venue_stale)
        else:
            intents, why = self._thresholds(view, lev, ratio, notes)
        return MonitorDecision(self.state, previous, tuple(reasons + why), tuple(intents))

    def dump_state(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "peak_equity": None if self.peak_equity is None else str(self.peak_equity),
            "saved_thresholds": None
            if self.saved_thresholds is None
            else {s: str(v) for s, v in self.saved_thresholds.items()},
            "venue_equity": {v: str(e) for v, e in self.venue_equity.items()},
            "ceilings": None
            if self.ceilings is None
            else {s: str(v) for s, v in self.ceilings.items()},
            "emergency": self.emergency,
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.state = RiskState(state.get("state", "active"))
        peak = state.get("peak_equity")
        self.peak_equity = None if peak is None else Decimal(peak)
        saved = state.get("saved_thresholds")
        self.saved_thresholds = None if saved is None else {s: Decimal(v) for s, v in saved.items()}
        self.venue_equity = {v: Decimal(e) for v, e in state.get("venue_equity", {}).items()}
        ceilings = state.get("ceilings")
        self.ceilings = None if ceilings is None else {s: Decimal(v) for s, v in ceilings.items()}
        self.emergency = bool(state.get("emergency", False))
