"""Risk gate decisions and risk monitor transitions on hand-made views."""

from __future__ import annotations

from decimal import Decimal

from blp_client.bot.config import RiskConfig
from blp_client.bot.risk import DenyReason, RiskGate, RiskMonitor
from blp_client.bot.strategy import (
    EXCHANGE,
    FlipOnExchange,
    Hedge,
    RiskState,
    SetThreshold,
    VenueMargin,
    View,
)

from ._views import SYM, account, market, profile, view

D = Decimal
B = market("b", bids=[("99.9", "5")], asks=[("100.1", "5")], mark="100")
EX = market(EXCHANGE, mark="100")


def cfg(**kw: object) -> RiskConfig:
    base: dict[str, object] = {
        "max_order_notional": "1000",
        "max_venue_position_notional": "2000",
        "max_net_exposure_notional": "500",
        "max_leverage": "5",
        "max_orders": 3,
        "order_window_ms": 1000,
    }
    return RiskConfig.model_validate({**base, **kw})


def sell(qty: str, venue: str = "b", price: str | None = None) -> Hedge:
    return Hedge(SYM, venue, D(qty), None if price is None else D(price))


def test_gate_allows_a_plain_hedge() -> None:
    gate = RiskGate(cfg())
    v = view(holdings={(SYM, EXCHANGE): "3"}, markets=[B, EX])
    assert gate.check(sell("-3"), v) is None


def test_gate_denies_by_order_notional() -> None:
    # 11 × 100 = 1100 > 1000
    v = view(holdings={(SYM, EXCHANGE): "11"}, markets=[B, EX])
    d = RiskGate(cfg()).check(sell("-11"), v)
    assert d is not None and d.reason is DenyReason.ORDER_NOTIONAL


def test_gate_denies_growing_net_exposure_but_allows_reducing_it() -> None:
    v = view(holdings={(SYM, EXCHANGE): "3"}, markets=[B, EX])
    gate = RiskGate(cfg())
    # long 3 and buying 3 more: 6 × 100 = 600 > 500
    d = gate.check(Hedge(SYM, "b", D(3)), v)
    assert d is not None and d.reason is DenyReason.NET_EXPOSURE
    big = view(holdings={(SYM, EXCHANGE): "8"}, markets=[B, EX])  # 800 > 500 already
    assert gate.check(sell("-2"), big) is None  # 600 < 800: reduces, allowed


def test_gate_denies_venue_position() -> None:
    # b already short 19 (hedging an exchange long 22): selling 2 more → 21 × 100 > 2000
    v = view(holdings={(SYM, EXCHANGE): "22", (SYM, "b"): "-19"}, markets=[B, EX])
    d = RiskGate(cfg()).check(sell("-2"), v)
    assert d is not None and d.reason is DenyReason.VENUE_POSITION


def test_gate_denies_leverage_on_the_venue() -> None:
    # venue b: equity 100, notional 300 → selling 3 more at 100 = 600 / 100 = 6x > 5x
    v = view(
        holdings={(SYM, EXCHANGE): "6", (SYM, "b"): "-3"},
        markets=[B, EX],
        venue_margins=[VenueMargin("b", D(100), D(300))],
    )
    d = RiskGate(cfg()).check(sell("-3"), v)
    assert d is not None and d.reason is DenyReason.LEVERAGE
    assert RiskGate(cfg()).check(sell("-2"), v) is None  # 500 / 100 = 5x: at the limit


def test_gate_denies_without_a_price() -> None:
    v = view(holdings={(SYM, EXCHANGE): "1"})
    d = RiskGate(cfg()).check(sell("-1"), v)
    assert d is not None and d.reason is DenyReason.NO_PRICE


def test_gate_reducing_allows_only_exposure_reducing_orders() -> None:
    gate = RiskGate(cfg(), RiskState.REDUCING)
    v = view(holdings={(SYM, EXCHANGE): "2"}, markets=[B, EX])
    assert gate.check(sell("-1"), v) is None
    d = gate.check(Hedge(SYM, "b", D("0.1")), v)
    assert d is not None and d.reason is DenyReason.NOT_REDUCING
    # selling 5 flips long 2 to short 3: |−3| > |2| → not reducing
    d = gate.check(sell("-5"), v)
    assert d is not None and d.reason is DenyReason.NOT_REDUCING


def test_gate_halted_denies_all_but_lowering_the_threshold() -> None:
    gate = RiskGate(cfg(), RiskState.HALTED)
    v = view(holdings={(SYM, EXCHANGE): "2"}, markets=[B, EX], profile=profile({SYM: "1000"}))
    d = gate.check(sell("-1"), v)
    assert d is not None and d.reason is DenyReason.HALTED
    assert gate.check(FlipOnExchange(SYM, D(-1), D(99)), v) is not None
    assert gate.check(SetThreshold(SYM, D(0)), v) is None
    d = gate.check(SetThreshold(SYM, D(2000)), v)
    assert d is not None and d.reason is DenyReason.HALTED


def test_gate_filter_projects_earlier_orders_and_limits_the_rate() -> None:
    gate = RiskGate(cfg())
    v = view(now_ms=10_000, holdings={(SYM, EXCHANGE): "0"}, markets=[B, EX])
    # each buy of 3 alone is 300 ≤ 500 net; the second makes it 600 → denied
    res = gate.filter([Hedge(SYM, "b", D(3)), Hedge(SYM, "b", D(3))], v)
    assert len(res.allowed) == 1
    assert [d.reason for d in res.denied] == [DenyReason.NET_EXPOSURE]
    # two more orders fill the window of 3 per second; the fourth is denied
    res = gate.filter([sell("-1"), sell("-1"), sell("-1")], v)
    assert len(res.allowed) == 2 and res.denied[0].reason is DenyReason.ORDER_RATE
    later = view(now_ms=11_000, holdings={(SYM, EXCHANGE): "0"}, markets=[B, EX])
    assert gate.check(sell("-1"), later) is None  # the window has moved on


# ---- monitor ---------------------------------------------------------------------------


def mon_cfg(**kw: object) -> RiskConfig:
    base: dict[str, object] = {
        "lower_threshold_leverage": "5",
        "restore_threshold_leverage": "3",
        "lower_threshold_mf_mmf": "3",
        "restore_threshold_mf_mmf": "5",
        "reducing_leverage": "8",
        "reducing_mf_mmf": "2",
        "restore_after_ms": 1000,
        "max_drawdown_fraction": "0.5",
        "max_net_exposure_notional": "1000000",
        "threshold_controller": False,  # the cliff; the controller has its own tests
    }
    return RiskConfig.model_validate({**base, **kw})


PROFILE = profile({SYM: "50000", "ETH-PERP": "20000"})


def mview(
    now: int, equity: str, notional: str, venue_margins: tuple[VenueMargin, ...] = ()
) -> View:
    return view(
        now_ms=now,
        account=account(equity=equity, notional=notional, mmf="0.01"),
        profile=PROFILE,
        markets=[EX],
        venue_margins=venue_margins,
    )


def test_monitor_lowers_the_threshold_once_and_restores_after_recovery() -> None:
    m = RiskMonitor(mon_cfg())
    calm = m.assess(mview(0, "1000", "2000"))  # leverage 2, MF/MMF = 0.5/0.01 = 50
    assert calm.state is RiskState.ACTIVE and calm.intents == ()
    hot = m.assess(mview(1, "1000", "5000"))  # leverage 5 ≥ 5 → lower to 0 × saved
    assert hot.intents == (
        SetThreshold("BTC-PERP", D(0), hot.intents[0].reason),
        SetThreshold("ETH-PERP", D(0), hot.intents[1].reason),
    )
    assert hot.state is RiskState.ACTIVE  # 5 < 8: no need to stop hedging
    assert m.assess(mview(2, "1000", "6000")).intents == ()  # already lowered
    # between the levels (4x): hysteresis, nothing
    assert m.assess(mview(3, "1000", "4000")).intents == ()
    # at 3x: recovered, but must hold restore_after_ms = 1000
    assert m.assess(mview(10, "1000", "3000")).intents == ()
    assert m.assess(mview(500, "1000", "2500")).intents == ()
    back = m.assess(mview(1010, "1000", "2500"))
    assert [(i.symbol, i.value) for i in back.intents] == [
        ("BTC-PERP", D(50000)),
        ("ETH-PERP", D(20000)),
    ]
    assert not m.lowered


def test_monitor_lowers_on_margin_fraction() -> None:
    m = RiskMonitor(mon_cfg(lowered_threshold_fraction="0.5"))
    # MF 0.025 / MMF 0.01 = 2.5 < 3 → lower to half; leverage 40 also → REDUCING
    d = m.assess(mview(0, "100", "4000"))
    assert [(i.symbol, i.value) for i in d.intents] == [
        ("BTC-PERP", D(25000)),
        ("ETH-PERP", D(10000)),
    ]
    assert d.state is RiskState.REDUCING and d.changed


def test_monitor_reducing_and_back_with_dwell() -> None:
    m = RiskMonitor(mon_cfg())
    assert m.assess(mview(0, "1000", "8000")).state is RiskState.REDUCING  # 8x ≥ 8
    assert m.assess(mview(100, "1000", "6000")).state is RiskState.REDUCING  # calm starts
    assert m.assess(mview(600, "1000", "6000")).state is RiskState.REDUCING
    d = m.assess(mview(1100, "1000", "6000"))
    assert d.state is RiskState.ACTIVE and d.previous is RiskState.REDUCING


def test_monitor_reducing_on_venue_margin_and_liquidation() -> None:
    m = RiskMonitor(mon_cfg())
    d = m.assess(mview(0, "1000", "1000", venue_margins=(VenueMargin("b", D(100), D(200), D(60)),)))
    assert d.state is RiskState.REDUCING  # maintenance 60 / equity 100 ≥ 0.5
    m2 = RiskMonitor(mon_cfg())
    acct = account(equity="1000", notional="1000", liquidation_state="reducing")
    d2 = m2.assess(view(now_ms=0, account=acct, profile=PROFILE))
    assert d2.state is RiskState.REDUCING and d2.intents  # and the threshold goes down


def test_monitor_kill_switch_latches_until_reset() -> None:
    m = RiskMonitor(mon_cfg())
    m.assess(mview(0, "1000", "1000"))  # peak 1000
    d = m.assess(mview(1, "499", "1000"))  # drawdown 501 ≥ 0.5 × 1000
    assert d.state is RiskState.HALTED
    assert m.assess(mview(5000, "2000", "1000")).state is RiskState.HALTED  # latched
    m.reset()
    assert m.assess(mview(6000, "2000", "1000")).state is RiskState.ACTIVE


def test_monitor_does_not_restore_while_halted_and_state_round_trips() -> None:
    m = RiskMonitor(mon_cfg())
    m.assess(mview(0, "1000", "5000"))  # lowered
    m.assess(mview(1, "400", "1000"))  # drawdown 600 → halted
    assert m.assess(mview(5000, "400", "400")).intents == ()
    m2 = RiskMonitor(mon_cfg())
    m2.load_state(m.dump_state())
    assert m2.state is RiskState.HALTED and m2.saved_thresholds == m.saved_thresholds
    assert m2.peak_equity == D(1000)


def test_monitor_without_account_changes_nothing() -> None:
    m = RiskMonitor(mon_cfg())
    d = m.assess(view(now_ms=0))
    assert d.state is RiskState.ACTIVE and d.intents == () and not d.changed


def test_monitor_a_missing_venue_does_not_fake_a_drawdown() -> None:
    m = RiskMonitor(mon_cfg())
    b = (VenueMargin("b", D(1000)),)
    assert m.assess(mview(0, "1000", "1000", b)).state is RiskState.ACTIVE  # peak 2000
    # b's balance fetch failed this time: still counted at 1000, no 50% "drawdown"
    assert m.assess(mview(1, "1000", "1000")).state is RiskState.ACTIVE
    # an empty, unfunded venue is not "infinitely leveraged"
    empty = (VenueMargin("c", D(0)),)
    assert m.assess(mview(2, "1000", "1000", b + empty)).state is RiskState.ACTIVE
