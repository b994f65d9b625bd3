"""`run_backtest`: deterministic, the P&L decomposition adds up, every assignment's price
passes the audit, and the decisions are the daemon's own (its `Bot.handle` path)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from blp_client.backtest import BacktestError, BacktestOptions, run_backtest
from blp_client.backtest.runner import Backtest
from blp_client.bot.config import BotConfig, load_config
from blp_client.bot.daemon import Bot
from blp_client.engine.simulate import to_json
from blp_client.models import AssignmentEvent

from .recording import RecordedHedge

ROOT = Path(__file__).resolve().parents[2]
SHORT = BacktestOptions(seed=3, accounts=800, seconds=900)


def example() -> BotConfig:
    return load_config(ROOT / "examples" / "bot.toml")


def test_same_seed_same_report_and_the_pnl_adds_up() -> None:
    a = run_backtest(example(), SHORT)
    b = run_backtest(example(), SHORT)
    assert to_json(a.report) == to_json(b.report)
    assert a.timeline == b.timeline
    r = a.report
    assert r["assignments"]["total"] > 0
    assert r["assignments"]["total"] == r["assignments"]["favorable"] + r["assignments"]["toxic"]
    d, h = r["discount_captured"], r["hedge_costs"]
    assert d["total"] == d["favorable_gain"] + d["toxic_loss"]
    assert d["favorable_gain"] >= 0 >= d["toxic_loss"]
    # pnl = discount − fees − slippage + market move (money() rounds each to 1e-8)
    rebuilt = d["total"] - h["fees"] - h["slippage"] + h["market_move"]
    assert abs(rebuilt - r["pnl"]) <= Decimal("0.0000001")
    assert r["price_audit"] == {"checked": r["assignments"]["total"], "mismatches": 0}
    assert set(r["markouts_bps"]) == {"1s", "10s", "60s"}
    assert r["liquidated"] is False
    assert a.timeline[-1]["t"] == SHORT.seconds


def test_a_commitment_below_the_program_minimum_is_refused() -> None:
    with pytest.raises(BacktestError, match="commitment: minute_rate 50000 is below"):
        run_backtest(example(), BacktestOptions(minute_rate=Decimal(50_000), seconds=5))


def test_another_seed_another_market() -> None:
    other = run_backtest(example(), BacktestOptions(seed=4, accounts=800, seconds=900))
    assert to_json(other.report) != to_json(run_backtest(example(), SHORT).report)


def test_overrides_replace_the_config_commitment() -> None:
    opts = BacktestOptions(
        seed=3, accounts=800, seconds=300, minute_rate=Decimal(150_000), thresholds=Decimal(0)
    )
    r = run_backtest(example(), opts).report
    assert r["commitment"]["minute_rate"] == Decimal(150_000)
    assert r["commitment"]["collateral"] == Decimal(250_000)  # the config's default
    assert r["assignments"]["total"] == 0  # threshold 0: no flow at all


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accounts", 0),
        ("seconds", -1),
        ("drop", 1.5),
        ("stream_latency_ms", 10**9),
        ("collateral", Decimal("-1")),
        ("insurance_fund", Decimal("NaN")),
    ],
)
def test_bad_options_name_the_field(field: str, value: object) -> None:
    with pytest.raises(BacktestError, match=field):
        BacktestOptions(**{field: value})  # type: ignore[arg-type]


def test_unknown_scenario_is_a_backtest_error() -> None:
    with pytest.raises(BacktestError, match="unknown scenario"):
        run_backtest(example(), BacktestOptions(scenario="nope", accounts=10, seconds=5))


def recorded_config(journal: Path) -> BotConfig:
    return BotConfig.model_validate(
        {
            "journal": str(journal),
            "metrics_port": False,
            "engine": {"symbols": ["BTC-PERP"]},
            "venues": {"b": {"ccxt_id": "binanceusdm", "symbols": {"BTC-PERP": "BTC/USDT:USDT"}}},
            "strategy": {"class": "tests.backtest.recording:RecordedHedge"},
            "risk": {"monitor": False, "max_orders": 100_000},
        }
    )


def test_the_backtest_runs_the_daemons_decision_core(tmp_path: Path) -> None:
    """One recorded strategy, the same assignment events: the backtest's shell and the
    daemon's `Bot.handle` (journal → Decider → journal) record the same intents."""
    RecordedHedge.decisions.clear()
    bt = Backtest(recorded_config(tmp_path / "unused.sqlite"), SHORT)
    delivered: list[AssignmentEvent] = []
    deliver = bt.deliver

    def spy(msg: object, now_ms: int) -> None:
        if isinstance(msg, AssignmentEvent):
            delivered.append(msg)
        deliver(msg, now_ms)  # type: ignore[arg-type]

    bt.deliver = spy  # type: ignore[method-assign]
    close = bt.journal.close
    bt.journal.close = lambda: None  # type: ignore[method-assign]
    bt.run()
    in_backtest = [(d, i) for d, _n, i, ok, _r in bt.journal.intents() if ok and not d[0].isalpha()]
    close()
    backtest_decisions = list(RecordedHedge.decisions)
    assert len(delivered) > 10

    RecordedHedge.decisions.clear()
    daemon = Bot(
        recorded_config(tmp_path / "bot.sqlite"), env={"BLP_API_KEY": "k", "BLP_API_SECRET": "s"}
    )
    daemon.core.load(daemon.journal.get_state)
    for ev in delivered:
        daemon.handle(ev)
    in_daemon = [(d, i) for d, _n, i, ok, _r in daemon.journal.intents() if ok]
    daemon.journal.close()
    assert RecordedHedge.decisions == backtest_decisions
    assert in_daemon == [(d, i) for d, i in in_backtest if d in {str(e.seq) for e in delivered}]
    assert len(in_daemon) == len(delivered)


def test_the_default_crash_ends_hedged_with_no_fallback_left_resting() -> None:
    """A resting GTC fallback left behind by the rebound is cancelled after
    `execution.resting_ttl_ms` and escalated again, as live: before, one rested for the last
    1,200 engine seconds of the default crash and left 5 BTC unhedged."""
    bt = Backtest(example(), BacktestOptions())
    r = bt.run().report
    assert r["positions_end"], "nothing was assigned"
    for symbol in bt.symbols:  # the accounts themselves, exchange and every venue
        net = bt.x.account(bt.our_id).qty(symbol) + sum(
            (v.position(symbol) for v in bt.venues.values()), Decimal(0)
        )
        assert net == 0, (symbol, net)
    assert r["hedge_costs"]["market_move"] > -1000  # no open exposure through the rebound


def test_our_funding_payments_reach_the_bot_as_live() -> None:
    """Every protocol event the server would stream to our BLP reaches the backtest's bot,
    funding included (a hand-kept filter once dropped `FundingPayment`)."""
    from blp_client.bot.strategy import EXCHANGE

    bt = Backtest(example(), BacktestOptions(scenario="calm", accounts=10, seconds=5))
    x, symbol = bt.x, bt.symbols[0]
    x.seed_position(bt.our_id, bt.scenario.house, symbol, Decimal("0.1"), x.marks[symbol])
    due = x.next_funding_ms()
    x.advance(due)
    bt.pump(due)
    bt.agenda.run_until(due + 1_000)
    [paid] = bt.journal.funding(EXCHANGE)
    assert paid.symbol == symbol and paid.amount != 0
    bt.journal.close()


def test_a_configured_rate_limit_spaces_orders_as_ccxt_does() -> None:
    """ccxt's `rateLimit` is ms per cost unit and a binanceusdm order costs 4: the live order
    lane at `rate_limit_ms = 100` sends an order every 400 ms, the default (50) every 200."""
    from blp_client.backtest.clock import order_spacing_ms

    assert order_spacing_ms(True, None, 2400, 0.4, 200) == 200
    assert order_spacing_ms(True, 100, 2400, 0.4, 200) == 400
    assert order_spacing_ms(True, None, 600, 0.4, 200) == 667  # the weight budget binds
    assert order_spacing_ms(False, 100, 2400, 0.4, 200) == 0


def test_a_presets_report_shows_the_presets_own_drop() -> None:
    from blp_client.engine.market import PRESETS

    r = run_backtest(example(), BacktestOptions(scenario="march-2020", accounts=50, seconds=5))
    assert r.report["drop"] == str(round(PRESETS["march-2020"].drop, 4)) != "0.2"
