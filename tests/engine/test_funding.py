"""Funding in the engine core, to the unit: the premium index, the rate with its clamp and cap,
the time-weighted average, the payments and their rounding residue, and a property test that
payments net to zero and value is conserved."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blp_client.engine.config import ConfigError, load_config
from blp_client.engine.core import events as ev
from blp_client.engine.core.exchange import Exchange, ExchangeConfig
from blp_client.engine.core.funding import (
    FundingConfig,
    Settlement,
    funding_rate,
    impact_price,
    pay,
    premium_index,
)
from blp_client.engine.core.ledger import AccountKind, Ledger
from blp_client.engine.core.num import ZERO

D = Decimal
BTC, ETH = "BTC-PERP", "ETH-PERP"


def test_impact_price_walks_the_levels() -> None:
    # 150 USDT against 1 @ 100 then 2 @ 50: 100 from the first level, 50 / 50 = 1 more
    # from the second, so 2 units for 150: an average of 75.
    assert impact_price([(D(100), D(1)), (D(50), D(2))], D(150)) == D(75)
    assert impact_price([(D(100), D(1))], D(60)) == D(100)
    assert impact_price([(D(100), D(1))], D(101)) is None  # too thin
    assert impact_price([], D(1)) is None


def test_premium_index_by_hand() -> None:
    index = D(30000)
    # the bid side trades above the index: (30060 − 30000) / 30000 = 0.002
    assert premium_index(D(30060), D(30090), index) == D("0.002")
    # the ask side trades below it: −(30000 − 29970) / 30000 = −0.001
    assert premium_index(D(29940), D(29970), index) == D("-0.001")
    # inside the spread: no premium; a missing side counts as the index
    assert premium_index(D(29990), D(30010), index) == ZERO
    assert premium_index(None, D(29970), index) == D("-0.001")
    assert premium_index(None, None, index) == ZERO


def test_rate_clamp_and_cap_by_hand() -> None:
    i, clamp, cap = D("0.0001"), D("0.0005"), D("0.0075")
    # |I − P| inside the clamp: F = P + (I − P) = I
    assert funding_rate(D("0.0003"), i, clamp, cap) == D("0.0001")
    # P = 0.002: I − P = −0.0019 clamps to −0.0005, F = 0.0015
    assert funding_rate(D("0.002"), i, clamp, cap) == D("0.0015")
    # P = −0.002: I − P = 0.0021 clamps to 0.0005, F = −0.0015
    assert funding_rate(D("-0.002"), i, clamp, cap) == D("-0.0015")
    # P = −0.009: −0.009 + 0.0005 = −0.0085, floored at −0.0075
    assert funding_rate(D("-0.009"), i, clamp, cap) == D("-0.0075")
    assert funding_rate(D("0.02"), i, clamp, D("0.003")) == D("0.003")


def test_interest_scales_to_the_interval() -> None:
    assert FundingConfig().interval_interest == D("0.0001")
    assert FundingConfig(interval_ms=3_600_000).interval_interest == D("0.00001250")
    assert FundingConfig(interval_ms=8 * 3_600_000).shortened is False
    assert FundingConfig(interval_ms=60_000).shortened is True


def _book(x: Exchange, mm: int, bid: str, ask: str) -> None:
    x.cancel_all(mm, "requote")
    x.place_order(mm, BTC, "buy", D(1), D(bid))
    x.place_order(mm, BTC, "sell", D(1), D(ask))


def _exchange(**funding: object) -> tuple[Exchange, int]:
    # interest 0.72 per 8 h is 0.0001 per 4 s interval: round numbers by hand
    cfg = FundingConfig(
        interval_ms=4000, interest_rate=D("0.72"), impact_notional=D(1000), **funding
    )  # type: ignore[arg-type]
    x = Exchange(ExchangeConfig(funding=cfg), seed=1, now_ms=0)
    x.set_index(BTC, D(30000))
    x.set_index(ETH, D(2000))
    mm = x.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    return x, mm


def test_time_weighted_premium_and_settlement_on_a_two_position_account() -> None:
    x, mm = _exchange()
    trader = x.open_account(collateral=D(10_000))
    x.seed_position(trader, mm, BTC, D("0.5"), D(30000))
    x.seed_position(trader, mm, ETH, D(-3), D(2000))
    assert x.next_funding_ms() == 4000
    # seconds 1..4 of the interval: premiums 0.002, 0.001, −0.001, −0.001 (impact notional
    # 1000 fits in the best level, so the impact prices are the best bid and ask)
    for t, (bid, ask) in enumerate(
        [("30060", "30090"), ("30030", "30060"), ("29940", "29970"), ("29940", "29970")], 1
    ):
        _book(x, mm, bid, ask)
        if t < 4:
            x.advance(t * 1000)
    # Σ k·P / Σ k = (0.002 + 0.002 − 0.003 − 0.004) / 10 = −0.0003; I − P = 0.0004 is inside
    # the clamp, so the rate is I = 0.0001
    x.drain_events()
    x.advance(4000)
    events = x.drain_events()
    settled = {e.symbol: e for e in events if isinstance(e, ev.FundingSettled)}
    assert settled[BTC].premium == D("-0.0003")
    assert settled[BTC].rate == D("0.0001")
    # ETH has no book: no premium, F = 0 + clamp(I − 0) = 0.0001
    assert settled[ETH].premium == ZERO and settled[ETH].rate == D("0.0001")
    # BTC mark = median(29940, 29970, 30000) = 29970; the long pays 0.5·29970·0.0001
    # = 1.4985; ETH mark = index 2000, the short receives 3·2000·0.0001 = 0.6
    mine = {
        e.symbol: e.amount
        for e in events
        if isinstance(e, ev.FundingPayment) and e.account_id == trader
    }
    assert mine == {BTC: D("-1.4985"), ETH: D("0.6")}
    acct = x.account(trader)
    assert acct.cash == D(10_000) - D("1.4985") + D("0.6")
    assert (acct.funding_paid, acct.funding_received) == (D("1.4985"), D("0.6"))
    # the market maker holds the other side of both: it receives 1.4985 and pays 0.6
    theirs = {
        e.symbol: e.amount
        for e in events
        if isinstance(e, ev.FundingPayment) and e.account_id == mm
    }
    assert theirs == {BTC: D("1.4985"), ETH: D("-0.6")}
    assert settled[BTC].residue == ZERO and settled[BTC].payments == 2
    assert x.ledger.value_identity() == x.ledger.deposits
    assert x.next_funding_ms() == 8000
    assert x.funding.last(BTC) is not None


def test_cap_binds_when_the_perp_trades_far_below_the_index() -> None:
    x, mm = _exchange(cap=D("0.0075"))
    trader = x.open_account(collateral=D(10_000))
    x.seed_position(trader, mm, BTC, D("0.5"), D(30000))
    _book(x, mm, "29700", "29730")  # P = −(30000 − 29730) / 30000 = −0.009 every second
    for t in (1, 2, 3):
        x.advance(t * 1000)
    assert x.predicted_funding_rate(BTC) == D("-0.0075")
    x.advance(4000)
    pays = [e for e in x.drain_events() if isinstance(e, ev.FundingPayment)]
    # −0.009 + 0.0005 = −0.0085, floored at −0.0075: shorts pay longs. The long receives
    # 0.5 · 29730 (median of 29700, 29730, 30000) · 0.0075 = 111.4875
    mine = next(e for e in pays if e.account_id == trader and e.symbol == BTC)
    assert mine.rate == D("-0.0075") and mine.amount == D("111.4875")


def test_rounding_residue_goes_to_the_insurance_fund() -> None:
    ledger = Ledger()
    a, b, c = (ledger.open(AccountKind.TRADER) for _ in range(3))
    for acct, qty in ((a, "0.001"), (b, "0.002"), (c, "-0.003")):
        ledger.trade(acct, BTC, D(qty), D(30000))
    # mark 30000.1, rate 0.00012345: a pays 0.003703512345 → 0.00370351, b pays
    # 0.007407024690 → 0.00740702, c receives 0.011110537035 → 0.01111054: paid
    # 0.01111053, received 0.01111054, the fund pays the 0.00000001 rounding left
    s = Settlement(BTC, 1000, ZERO, D("0.0001"), D("0.00012345"), D("30000.1"))
    out = pay(ledger, s, 1000, 7)
    amounts = [e.amount for e in out if isinstance(e, ev.FundingPayment)]
    assert amounts == [D("-0.00370351"), D("-0.00740702"), D("0.01111054")]
    assert [e.payment_id for e in out if isinstance(e, ev.FundingPayment)] == [7, 8, 9]
    total = out[-1]
    assert isinstance(total, ev.FundingSettled)
    assert (total.paid, total.received, total.residue) == (
        D("0.01111053"),
        D("0.01111054"),
        D("-0.00000001"),
    )
    assert ledger.insurance_fund.cash == D("-0.00000001")
    assert sum((acct.cash for acct in ledger.accounts.values()), ZERO) == ZERO


def test_a_clock_jump_over_several_funding_times_settles_once() -> None:
    x, mm = _exchange()
    trader = x.open_account(collateral=D(10_000))
    x.seed_position(trader, mm, ETH, D(1), D(2000))
    x.advance(13_500)  # funding times 4000, 8000, 12000 passed: only 12000 is settled
    pays = [e for e in x.drain_events() if isinstance(e, ev.FundingPayment)]
    assert {e.funding_time for e in pays} == {12_000}
    assert x.next_funding_ms() == 16_000


def test_disabled_funding_pays_nothing() -> None:
    x, mm = _exchange(enabled=False)
    trader = x.open_account(collateral=D(10_000))
    x.seed_position(trader, mm, ETH, D(1), D(2000))
    x.advance(9000)
    assert not [e for e in x.drain_events() if isinstance(e, ev.FundingPayment)]


@settings(max_examples=60, deadline=None)
@given(
    positions=st.lists(
        st.tuples(st.integers(-5000, 5000), st.integers(0, 1)), min_size=1, max_size=12
    ),
    quotes=st.lists(st.tuples(st.integers(-300, 300), st.integers(1, 60)), min_size=1),
    index_moves=st.lists(st.integers(-200, 200), min_size=1, max_size=12),
)
def test_payments_net_to_zero_and_value_is_conserved(
    positions: list[tuple[int, int]],
    quotes: list[tuple[int, int]],
    index_moves: list[int],
) -> None:
    """Any positions (lots of 0.001 BTC / 0.01 ETH) and any book and index paths: at every
    funding time the payments plus the residue net to exactly zero, the residue is under half
    a unit per payment, and Σ cash − Σ cost == Σ deposits."""
    x, mm = _exchange()
    traders = [x.open_account(collateral=D(1_000_000)) for _ in positions]
    lots = {BTC: D("0.001"), ETH: D("0.01")}
    for aid, (n, which) in zip(traders, positions, strict=True):
        symbol = (BTC, ETH)[which]
        if n:
            x.seed_position(aid, mm, symbol, n * lots[symbol], x.index[symbol])
    if len(traders) > 1:  # a position between two traders, too
        x.seed_position(traders[0], traders[1], BTC, D("0.007"), D(30000))
    index = D(30000)
    settled = 0
    for t, move in enumerate(index_moves, 1):
        index += move
        x.set_index(BTC, index)
        bps, size = quotes[t % len(quotes)]
        mid = index * (1 + D(bps) / 10_000)
        x.cancel_all(mm, "requote")
        x.place_order(mm, BTC, "buy", D(size) / 100, (mid - 5).quantize(D("0.1")))
        x.place_order(mm, BTC, "sell", D(size) / 100, (mid + 5).quantize(D("0.1")))
        x.advance(t * 1500)
        for e in x.drain_events():
            if isinstance(e, ev.FundingSettled):
                settled += 1
                assert e.paid - e.received == e.residue
                assert abs(e.residue) * 2 <= D("0.00000001") * e.payments
                assert abs(e.rate) <= D("0.0075")
        assert x.ledger.value_identity() == x.ledger.deposits
        assert sum((a.cash for a in x.ledger.accounts.values()), ZERO) == x.ledger.deposits
    assert settled == 2 * (len(index_moves) * 1500 // 4000)


def test_engine_toml_funding_section(tmp_path: Path) -> None:
    p = tmp_path / "engine.toml"
    p.write_text(
        "[funding]\ninterval_s = 60\ncap = 0.003\ncaps = { ETH-PERP = 0.01 }\n"
        'impact_notional = "5000"\n'
    )
    cfg = load_config(p).exchange_config().funding
    assert cfg.interval_ms == 60_000 and cfg.cap == D("0.003")
    assert cfg.cap_for(ETH) == D("0.01") and cfg.cap_for(BTC) == D("0.003")
    assert cfg.impact_for(BTC) == D(5000)
    assert cfg.interval_interest == D("0.00000021")  # 0.0001 · 60 / 28800, to 8 decimals
    p.write_text("[funding]\ninterval_s = 0\nclamp = -1\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "funding.interval_s" in str(e.value) and "funding.clamp" in str(e.value)
    p.write_text("[funding]\ncaps = { XRP-PERP = 0.01 }\n")
    with pytest.raises(ConfigError, match=r"funding\.caps: unknown symbol"):
        load_config(p)


def test_a_blps_funding_event_on_the_wire() -> None:
    """The exact JSON of a `funding` stream event, from a real exchange (docs/protocol.md)."""
    from blp_client.engine import wire

    x, mm = _exchange()
    blp = x.open_account(collateral=D(100_000))
    x.register_blp(blp, D(100_000), D(300_000), {BTC: D(5_000_000)})
    x.seed_position(blp, mm, BTC, D("0.5"), D(30000))
    x.drain_events()
    # no book: P = 0, F = I = 0.0001; the long pays 0.5 · 30000 · 0.0001 = 1.5 (payment 2:
    # payments go in account order, the market maker's short first)
    x.advance(4000)
    seq = iter(range(1, 100))

    def number(_key: str) -> tuple[int, int]:
        n = next(seq)
        return n, n

    texts = [
        o.msg.model_dump_json()
        for e in x.drain_events()
        for o in wire.protocol_events(e, {blp: "k"}, number)
    ]
    assert texts == [
        '{"op":"event","seq":1,"id":"ev-1","ts":4000,"type":"funding","data":{"payment_id":2,'
        '"symbol":"BTC-PERP","qty":"0.5","mark_price":"30000","rate":"0.00010000",'
        '"amount":"-1.50000000","funding_time":4000}}'
    ]
    assert x.account(blp).funding_paid == D("1.5")
    m = wire.market_model(x, BTC)
    assert (m.funding_rate, m.next_funding_time, m.funding_interval_ms) == (D("0.0001"), 8000, 4000)
    assert wire.account_model(x, blp).funding_paid == D("1.5")
