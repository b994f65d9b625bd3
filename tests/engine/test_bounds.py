"""What a long-running engine keeps per order and per assignment stays bounded (issue 13, "a
daemon runs for weeks"): closed orders past the per-account window."""

from __future__ import annotations

from decimal import Decimal

import pytest

from blp_client.engine.core.exchange import CLOSED_ORDERS_KEPT, Exchange, ExchangeError
from blp_client.engine.core.ledger import AccountKind
from blp_client.engine.service import EngineService

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
