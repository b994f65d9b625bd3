"""Markouts by hand: side, horizon, first mark at or after it, notional weights."""

from __future__ import annotations

from decimal import Decimal

from blp_client.bot.core.markouts import MarkoutTracker

D = Decimal


def test_markouts_by_hand() -> None:
    m = MarkoutTracker()
    m.add("BTC-PERP", 0, 1, D(1), D(100))  # bought 1 at 100: notional 100
    m.add("BTC-PERP", 0, -1, D(2), D(100))  # sold 2 at 100: notional 200
    m.add("ETH-PERP", 0, 1, D(1), D(10))
    m.observe("BTC-PERP", 999, D(150))  # not due yet
    assert m.as_json() == {"1s": None, "10s": None, "60s": None}
    m.observe("BTC-PERP", 1000, D(101))
    # buy +100 bps, sell −100 bps: (100·100 + 200·(−100)) / 300 = −33.33
    assert m.bps(1000) == D("-33.33")
    m.observe("ETH-PERP", 1500, D("10.1"))  # the first ETH mark after 1 s: +100 bps on 10
    assert m.bps(1000) == D("-29.03")  # (10000 − 20000 + 10·100) / 310 = −9000 / 310
    m.observe("BTC-PERP", 10_000, D(99))
    assert m.bps(10_000) == D("33.33")  # buy −100, sell +100
    assert m.count(10_000) == 2 and m.count(60_000) == 0
    assert m.as_json()["60s"] is None
