"""The wire's exact JSON for each kind of stream event: what the engine core's events become,
character for character (docs/protocol.md). A refactoring of `engine/wire.py` must leave every
string here unchanged.

A real exchange makes the profile, fill and assignment events (a fill's client order id is the
one the BLP gave, carried by the core's trade event); the margin alerts are core events built by
hand, since each comes from a different corner of the waterfall.
"""

from __future__ import annotations

from decimal import Decimal

from blp_client.engine import wire
from blp_client.engine.core import events as ev
from blp_client.engine.core.exchange import Exchange
from blp_client.engine.core.ledger import AccountKind

D = Decimal
BTC = "BTC-PERP"
KEY = "key-b"


def wire_texts(events: list[ev.Event], keys: dict[int, str]) -> list[tuple[str, str]]:
    """(api key, JSON text) of every protocol event, numbered as the service does: seq per
    BLP from 1, event ids from ev-1."""
    seqs: dict[str, int] = {}
    gid = 0

    def number(blp: str) -> tuple[int, int]:
        nonlocal gid
        seqs[blp] = seqs.get(blp, 0) + 1
        gid += 1
        return seqs[blp], gid

    out: list[tuple[str, str]] = []
    for e in events:
        for o in wire.protocol_events(e, keys, number):
            assert o.msg.id == f"ev-{o.gid}"
            out.append((o.blp, o.msg.model_dump_json()))
    return out


def test_profile_fill_and_assignment_json_from_a_real_exchange() -> None:
    x = Exchange(now_ms=1_000)
    mm = x.open_account(AccountKind.MARKET_MAKER, D(10_000_000))
    x.set_index(BTC, D(30000))
    b = x.open_account(AccountKind.TRADER, D(1_000_000))
    x.register_blp(b, D(100_000), D(300_000), {BTC: D(5_000_000)})
    # the BLP rests a bid (maker), then sells into the house's bid (taker)
    x.place_order(b, BTC, "buy", D("0.01"), D(29990), client_order_id="hedge-1")
    x.place_order(mm, BTC, "sell", D("0.004"), D(29990), tif="IOC")
    x.cancel_all(b, "cancelled")
    x.place_order(mm, BTC, "buy", D("0.002"), D(29980))
    x.place_order(b, BTC, "sell", D("0.002"), D(29980), tif="IOC", client_order_id="hedge-2")
    # a trader long 1 at 30 000 with 180 of cash is taken over at mark 29 900 (favorable)
    t = x.open_account(AccountKind.TRADER, D(180))
    x.seed_position(t, mm, BTC, D(1), D(30000))
    x.set_index(BTC, D(29900))
    x.advance(2_000)
    texts = wire_texts(x.drain_events(), {b: KEY})
    assert {blp for blp, _ in texts} == {KEY}
    assert [msg for _, msg in texts] == [
        '{"op":"event","seq":1,"id":"ev-1","ts":1000,"type":"profile","data":{"account_id":3,'
        '"minute_rate":"100000","hour_rate":"300000","max_position_notional":{"BTC-PERP":'
        '"5000000"},"opted_in":true,"reason":"registered"}}',
        '{"op":"event","seq":2,"id":"ev-2","ts":1000,"type":"fill","data":{"trade_id":1,'
        '"order_id":1,"client_order_id":"hedge-1","symbol":"BTC-PERP","side":"buy",'
        '"qty":"0.004","price":"29990","fee":"-0.00599800","liquidity":"maker"}}',
        '{"op":"event","seq":3,"id":"ev-3","ts":1000,"type":"fill","data":{"trade_id":2,'
        '"order_id":4,"client_order_id":"hedge-2","symbol":"BTC-PERP","side":"sell",'
        '"qty":"0.002","price":"29980","fee":"0.01199200","liquidity":"taker"}}',
        '{"op":"event","seq":4,"id":"ev-4","ts":2000,"type":"assignment","data":{"id":"as-4",'
        '"seq":4,"ts":2000,"symbol":"BTC-PERP","side":"buy","qty":"1.000","price":"29846.6",'
        '"mark_price":"29900","zero_price":"29820.00000000","kind":"favorable",'
        '"discount_bps":"17.86","liquidation_id":1,"remaining":{"minute":"70100.000",'
        '"hour":"270100.000","threshold":"4970040.200"}}}',
    ]


def test_margin_alert_json_of_each_kind() -> None:
    a, other = 7, 8
    events: list[ev.Event] = [
        ev.MarginAlert(10, a, "margin_call", D("120.5"), D("0.004"), D("0.006"), D("0.01")),
        ev.MarginAlert(11, a, "margin_ok", D(500), None, None, None),
        ev.LiquidationStarted(12, 3, a, D("-4.2"), D("0.0031"), D("0.006")),
        ev.LiquidationReturned(13, 3, a, 2),
        ev.TakenOver(14, 4, a, BTC, D("-0.5"), D("30100.5"), D(30000), False),
        ev.AutoDeleveraged(15, 5, a, BTC, D("0.25"), D(29800), D(30000), D("1.5")),
        ev.SocializedLoss(16, D(30), D(300), D("0.1"), ((other, D(20)), (a, D(10)))),
        ev.MarginAlert(17, other, "margin_call", D(1), D(1), D(1), D(1)),  # not a BLP
    ]
    texts = wire_texts(events, {a: KEY})
    assert {blp for blp, _ in texts} == {KEY}
    nulls = (
        '"equity":null,"mf":null,"mmf":null,"imf":null,"liquidation_id":null,"symbol":null,'
        '"qty":null,"price":null,"zero_price":null,"mark_price":null,"amount":null'
    )
    assert [msg for _, msg in texts] == [
        '{"op":"event","seq":1,"id":"ev-1","ts":10,"type":"margin","data":{"kind":"margin_call",'
        '"account_id":7,"equity":"120.5","mf":"0.004","mmf":"0.006","imf":"0.01",'
        '"liquidation_id":null,"symbol":null,"qty":null,"price":null,"zero_price":null,'
        '"mark_price":null,"amount":null}}',
        '{"op":"event","seq":2,"id":"ev-2","ts":11,"type":"margin","data":{"kind":"margin_ok",'
        '"account_id":7,"equity":"500","mf":null,"mmf":null,"imf":null,"liquidation_id":null,'
        '"symbol":null,"qty":null,"price":null,"zero_price":null,"mark_price":null,'
        '"amount":null}}',
        '{"op":"event","seq":3,"id":"ev-3","ts":12,"type":"margin","data":{"kind":'
        '"liquidation_started","account_id":7,"equity":"-4.2","mf":"0.0031","mmf":"0.006",'
        '"imf":null,"liquidation_id":3,"symbol":null,"qty":null,"price":null,"zero_price":null,'
        '"mark_price":null,"amount":null}}',
        '{"op":"event","seq":4,"id":"ev-4","ts":13,"type":"margin","data":{"kind":'
        '"liquidation_returned","account_id":7,"equity":null,"mf":null,"mmf":null,"imf":null,'
        '"liquidation_id":3,"symbol":null,"qty":null,"price":null,"zero_price":null,'
        '"mark_price":null,"amount":null}}',
        '{"op":"event","seq":5,"id":"ev-5","ts":14,"type":"margin","data":{"kind":"taken_over",'
        '"account_id":7,"equity":null,"mf":null,"mmf":null,"imf":null,"liquidation_id":4,'
        '"symbol":"BTC-PERP","qty":"-0.5","price":null,"zero_price":"30100.5",'
        '"mark_price":"30000","amount":null}}',
        '{"op":"event","seq":6,"id":"ev-6","ts":15,"type":"margin","data":{"kind":"adl",'
        '"account_id":7,"equity":null,"mf":null,"mmf":null,"imf":null,"liquidation_id":5,'
        '"symbol":"BTC-PERP","qty":"0.25","price":"29800","zero_price":null,"mark_price":null,'
        '"amount":null}}',
        '{"op":"event","seq":7,"id":"ev-7","ts":16,"type":"margin","data":{"kind":"clawback",'
        '"account_id":7,' + nulls.replace(',"amount":null', ',"amount":"10"') + "}}",
    ]


def test_an_assignment_discount_of_minus_zero_travels_as_zero() -> None:
    e = ev.Assignment(
        20, 9, 6, 7, BTC, "sell", D("0.1"), D(30000), D(30000), D(30000), "favorable",
        D("-0.00"), D(1), D(2), D(3),
    )  # fmt: skip
    ((blp, msg),) = wire_texts([e], {7: KEY})
    assert blp == KEY
    assert msg == (
        '{"op":"event","seq":1,"id":"ev-1","ts":20,"type":"assignment","data":{"id":"as-1",'
        '"seq":1,"ts":20,"symbol":"BTC-PERP","side":"sell","qty":"0.1","price":"30000",'
        '"mark_price":"30000","zero_price":"30000","kind":"favorable","discount_bps":"0.00",'
        '"liquidation_id":6,"remaining":{"minute":"1","hour":"2","threshold":"3"}}}'
    )
