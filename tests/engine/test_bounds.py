"""What a long-running engine keeps per order and per assignment stays bounded (issue 13, "a
daemon runs for weeks"): closed orders past the per-account window, stale entries of the
liquidation-price index, the BLP program's rolling window of assignments, and the accounts
forced liquidations open."""

from __future__ import annotations

from decimal import Decimal

import pytest

from blp_client.engine.config import parse_config
from blp_client.engine.core import events as ev
from blp_client.engine.core.blp import BLP, HOUR_MS, MINUTE_MS
from blp_client.engine.core.exchange import CLOSED_ORDERS_KEPT, Exchange, ExchangeError
from blp_client.engine.core.ledger import AccountKind
from blp_client.engine.core.liquidation import COMPACT_SLACK
from blp_client.engine.service import EngineService
from blp_client.models import ForceLiquidations

D = Decimal
BTC = "BTC-PERP"


def _exchange() -> Exchange:
    x = Exchange(seed=1, now_ms=1_000)
    x.set_index(BTC, D(50_000))
    return x


def _place_and_cancel(x: Exchange, account: int, n: int, prefix: str) -> list[int]:
    """`n` resting buys far below the book, each cancelled at once (closed, unfilled)."""
    ids = []
    for i in range(n):
        o = x.place_order(
            account, BTC, "buy", D("0.001"), D("40000.0"), "GTC", False, f"{prefix}{i}"
        )
        x.cancel_order(account, o.id)
        ids.append(o.id)
    return ids


def test_closed_orders_past_the_window_are_forgotten_open_ones_never() -> None:
    x = _exchange()
    trader = x.open_account(AccountKind.TRADER, D(1_000_000))
    resting = x.place_order(trader, BTC, "buy", D("0.001"), D("41000.0"), "GTC", False, "rest")
    ids = _place_and_cancel(x, trader, CLOSED_ORDERS_KEPT + 300, "c")
    mine = [o for o in x.orders.values() if o.account_id == trader]
    assert len(mine) == CLOSED_ORDERS_KEPT + 1  # the window, and the open order
    assert resting.id in x.orders and x.order_by_client_id(trader, "rest") is resting
    assert ids[-CLOSED_ORDERS_KEPT:] == sorted(o.id for o in mine if not o.is_open)
    assert ids[0] not in x.orders
    with pytest.raises(ExchangeError) as e:
        x.order_by_client_id(trader, "c0")
    assert e.value.code == "unknown_order"
    assert len(x.client_ids[trader]) == CLOSED_ORDERS_KEPT + 1
    # a forgotten client id may be used again; a kept one still may not
    x.place_order(trader, BTC, "buy", D("0.001"), D("40000.0"), "GTC", False, "c0")
    with pytest.raises(ExchangeError, match="was used"):
        x.place_order(trader, BTC, "buy", D("0.001"), D("40000.0"), "GTC", False, "c1299")


def test_admin_order_counts_include_the_forgotten_orders() -> None:
    svc = EngineService(clock="manual")
    x = svc.exchange
    x.set_index(BTC, D(50_000))
    trader = x.open_account(AccountKind.TRADER, D(1_000_000))
    _place_and_cancel(x, trader, CLOSED_ORDERS_KEPT + 50, "h")
    got = svc.account_orders(trader, "all", 10)
    assert (got.count, got.open, got.client_order_ids, got.duplicate_client_order_ids) == (
        CLOSED_ORDERS_KEPT + 50,
        0,
        CLOSED_ORDERS_KEPT + 50,
        0,
    )
    assert len(got.orders) == 10


def test_liquidation_index_sweeps_stale_entries_and_still_liquidates() -> None:
    x = _exchange()
    mm = x.open_account(AccountKind.MARKET_MAKER, D(100_000_000))
    trader = x.open_account(AccountKind.TRADER, D(2_600))
    x.seed_position(trader, mm, BTC, D("1.000"), D(50_000))  # long 1 BTC, liquidates near 47.6k
    for _ in range(5_000):  # each deposit re-indexes the account (a new version)
        x.deposit(trader, D("0.01"))
        x.set_index(BTC, D(50_000))
    heap = x.liquidator.long_heap[BTC]
    assert len(heap) <= 2 + 2 + COMPACT_SLACK  # live entries (the trader, the mm) + slack
    x.drain_events()
    x.set_index(BTC, D(46_000))
    started = [e for e in x.drain_events() if isinstance(e, ev.LiquidationStarted)]
    assert [e.account_id for e in started] == [trader]


def test_blp_window_keeps_one_entry_per_millisecond() -> None:
    blp = BLP(7, D(10**9), D(10**10), {})
    for _ in range(1_000):
        blp.record(5_000, D(10))
    blp.record(5_001, D(1))
    assert len(blp.window) == 2
    assert blp.used(5_001, MINUTE_MS) == D(10_001)
    assert blp.used(5_000 + MINUTE_MS, MINUTE_MS) == D(1)  # the 5,000 ms entry left together
    assert blp.used(5_000 + MINUTE_MS, HOUR_MS) == D(10_001)
    blp.record(5_000 + MINUTE_MS, D(2))
    blp.record(5_000 + MINUTE_MS, D(3))
    assert blp.used(5_001 + MINUTE_MS, MINUTE_MS) == D(5)
    assert blp.used(5_000 + HOUR_MS, HOUR_MS) == D(6)
    blp.prune(5_001 + HOUR_MS)
    assert list(blp.window) == [(5_000 + MINUTE_MS, D(5))]


def test_forced_liquidations_reuse_spent_accounts() -> None:
    cfg = parse_config(
        {
            "instruments": [BTC],
            "index": {BTC: "50000"},
            "program": {"min_minute_rate": 0, "min_hour_rate": 0},
            "blps": [
                {
                    "name": "b",
                    "api_key": "bounds-key",
                    "api_secret": "bounds-secret-00000000000000001",
                    "collateral": "100000000",
                    "minute_rate": "1000000000000",
                    "hour_rate": "10000000000000",
                    "max_position_notional": {BTC: "1000000000000"},
                }
            ],
        }
    )
    svc = EngineService(cfg, clock="manual")
    first = svc.force_liquidations(ForceLiquidations(symbol=BTC, count=5, side="long"))
    accounts = len(svc.exchange.ledger.accounts)
    for k in range(200):
        r = svc.force_liquidations(
            ForceLiquidations(symbol=BTC, count=5, side="short" if k % 2 == 0 else "long")
        )
        assert r.assignments == 5
    assert len(svc.exchange.ledger.accounts) == accounts  # the same five accounts, reused
    assert first.assignments == 5 and svc.assignments == 1_005
