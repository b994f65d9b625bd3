"""Each REST endpoint's happy path (BLP and admin), over raw HTTP against a real engine."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from server_helpers import Api, BLPCreds, running_api

from blp_client import models as m


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with running_api() as a:
        yield a


async def test_profile_get_and_patch(api: Api) -> None:
    await api.set_index()
    b = await api.register_blp(minute_rate="200000", hour_rate="600000", threshold="5000000")
    p = m.Profile.model_validate(await api.ok(b, "GET", "/api/v1/blp/profile"))
    assert p.account_id == b.account_id
    assert (p.minute_rate, p.hour_rate) == (Decimal(200000), Decimal(600000))
    assert p.used == m.Window(minute=Decimal(0), hour=Decimal(0))
    assert p.max_position_notional["BTC-PERP"] == Decimal(5000000)
    assert p.fee_tier.taker == Decimal("0.0002") and p.opted_in
    upd = await api.ok(
        b, "PATCH", "/api/v1/blp/profile",
        {"max_position_notional": {"BTC-PERP": "1000"}, "opted_in": False},
    )  # fmt: skip
    p = m.Profile.model_validate(upd)
    assert p.max_position_notional["BTC-PERP"] == Decimal(1000) and not p.opted_in
    events = m.EventPage.model_validate(await api.ok(b, "GET", "/api/v1/events"))
    reasons = [e.data.reason for e in events.events if isinstance(e, m.ProfileEvent)]
    assert reasons == ["registered", "threshold", "opt"]
    assert [e.seq for e in events.events] == [1, 2, 3] and events.last_seq == 3


async def test_a_patch_of_several_thresholds_is_one_profile_event(api: Api) -> None:
    await api.set_index()
    b = await api.register_blp(threshold="5000000")
    limits = {"BTC-PERP": "1000", "ETH-PERP": "2000"}
    await api.ok(b, "PATCH", "/api/v1/blp/profile", {"max_position_notional": limits})
    events = m.EventPage.model_validate(await api.ok(b, "GET", "/api/v1/events"))
    profiles = [e.data for e in events.events if isinstance(e, m.ProfileEvent)]
    assert [p.reason for p in profiles] == ["registered", "threshold"]
    assert profiles[-1].max_position_notional == {"BTC-PERP": 1000, "ETH-PERP": 2000}
    # one unknown symbol refuses the whole patch: nothing changed, no event
    bad = {"max_position_notional": {"BTC-PERP": "1", "XRP-PERP": "1"}}
    status, body, _ = await api.signed(b, "PATCH", "/api/v1/blp/profile", bad)
    assert status == 400 and "max_position_notional.XRP-PERP" in body["message"], body
    again = m.EventPage.model_validate(await api.ok(b, "GET", "/api/v1/events"))
    assert again.last_seq == events.last_seq


async def test_assignments_account_and_paging(api: Api) -> None:
    await api.set_index(price="50000")
    b = await api.register_blp()
    res = await api.force(7, side="long")
    assert res["assignments"] == 7 and res["accounts"] == 7
    page1 = m.AssignmentPage.model_validate(
        await api.ok(b, "GET", "/api/v1/assignments?from_seq=0&limit=5")
    )
    assert [a.seq for a in page1.assignments] == [2, 3, 4, 5, 6]
    assert page1.next_from_seq == 6 and page1.last_seq == 8
    a = page1.assignments[0]
    assert (a.symbol, a.side, a.qty, a.kind) == ("BTC-PERP", "buy", Decimal("0.001"), "favorable")
    assert a.price == a.mark_price == a.zero_price == Decimal(50000)
    assert a.remaining.minute == Decimal(10_000_000) - 50
    page2 = m.AssignmentPage.model_validate(
        await api.ok(b, "GET", f"/api/v1/assignments?from_seq={page1.next_from_seq}&limit=5")
    )
    assert [a.seq for a in page2.assignments] == [7, 8] and page2.next_from_seq is None
    acct = m.Account.model_validate(await api.ok(b, "GET", "/api/v1/account"))
    assert acct.account_id == b.account_id
    [pos] = acct.positions
    assert (pos.symbol, pos.qty, pos.entry_price) == ("BTC-PERP", Decimal("0.007"), Decimal(50000))
    assert acct.collateral == Decimal(1_000_000) and acct.liquidation_state == "none"
    assert acct.mf is not None and acct.leverage is not None and acct.leverage > 0
    # the profile shows the windows' use
    p = m.Profile.model_validate(await api.ok(b, "GET", "/api/v1/blp/profile"))
    assert p.used.minute == Decimal(350)


async def test_markets_book_orders_and_fills(api: Api) -> None:
    await api.set_index(price="50000")
    maker, taker = await api.register_blp(), await api.register_blp()
    markets = m.MarketList.model_validate(await api.ok(maker, "GET", "/api/v1/markets"))
    assert [mk.symbol for mk in markets.markets] == ["BTC-PERP", "ETH-PERP"]
    o = m.Order.model_validate(
        await api.ok(maker, "POST", "/api/v1/orders", {
            "symbol": "BTC-PERP", "side": "sell", "qty": "0.5", "price": "50010",
            "client_order_id": "m-1",
        })
    )  # fmt: skip
    assert (o.status, o.client_order_id, o.type, o.tif) == ("new", "m-1", "limit", "GTC")
    mk = m.Market.model_validate(await api.ok(maker, "GET", "/api/v1/markets/BTC-PERP"))
    assert mk.best_ask == Decimal(50010) and mk.best_bid is None
    assert mk.index_price == Decimal(50000)
    book = m.Book.model_validate(
        await api.ok(maker, "GET", "/api/v1/markets/BTC-PERP/book?depth=5")
    )
    assert book.asks == [(Decimal(50010), Decimal("0.5"))] and book.bids == []
    listed = m.OrderList.model_validate(await api.ok(maker, "GET", "/api/v1/orders?status=open"))
    assert [x.id for x in listed.orders] == [o.id]
    by_cid = m.OrderList.model_validate(
        await api.ok(maker, "GET", "/api/v1/orders?client_order_id=m-1")
    )
    assert [x.id for x in by_cid.orders] == [o.id]
    t = m.Order.model_validate(
        await api.ok(taker, "POST", "/api/v1/orders", {
            "symbol": "BTC-PERP", "side": "buy", "type": "market", "qty": "0.2",
            "client_order_id": "t-1",
        })
    )  # fmt: skip
    assert (t.status, t.filled_qty, t.avg_price) == ("filled", Decimal("0.2"), Decimal(50010))
    got = m.Order.model_validate(await api.ok(maker, "GET", f"/api/v1/orders/{o.id}"))
    assert (got.status, got.filled_qty) == ("partially_filled", Decimal("0.2"))
    cancelled = m.Order.model_validate(await api.ok(maker, "DELETE", f"/api/v1/orders/{o.id}"))
    assert cancelled.status == "cancelled"
    assert m.OrderList.model_validate(await api.ok(maker, "GET", "/api/v1/orders")).orders == []
    all_ = m.OrderList.model_validate(await api.ok(maker, "GET", "/api/v1/orders?status=all"))
    assert [x.status for x in all_.orders] == ["cancelled"]
    # each side got its fill event
    for creds, side, liq, cid in ((maker, "sell", "maker", "m-1"), (taker, "buy", "taker", "t-1")):
        page = m.EventPage.model_validate(await api.ok(creds, "GET", "/api/v1/events"))
        fills = [e.data for e in page.events if isinstance(e, m.FillEvent)]
        assert len(fills) == 1
        f = fills[0]
        assert (f.side, f.liquidity, f.client_order_id, f.qty) == (side, liq, cid, Decimal("0.2"))
        assert f.price == Decimal(50010)
    fee = Decimal("0.2") * 50010 * Decimal("0.0002")
    taker_fill = next(e.data for e in page.events if isinstance(e, m.FillEvent))
    assert taker_fill.fee == fee


async def test_admin_accounts_deposit_blps_index_stats(api: Api) -> None:
    await api.set_index(price="50000")
    ids = await api.admin_ok(
        "POST", "/accounts",
        {"collateral": "1000", "count": 3,
         "positions": [{"symbol": "BTC-PERP", "qty": "-0.01", "price": "50000"}]},
    )  # fmt: skip
    assert len(ids["account_ids"]) == 3
    acct = m.Account.model_validate(await api.admin_ok("GET", f"/accounts/{ids['account_ids'][0]}"))
    assert acct.positions[0].qty == Decimal("-0.01") and acct.collateral == Decimal(1000)
    acct = m.Account.model_validate(
        await api.admin_ok("POST", f"/accounts/{acct.account_id}/deposit", {"amount": "500"})
    )
    assert acct.collateral == Decimal(1500)
    status, err = await api.admin("GET", "/accounts/999999")
    assert status == 404 and err["code"] == "unknown_account"
    b = await api.register_blp(name="desk-1")
    creds = m.CredentialsList.model_validate(await api.admin_ok("GET", "/blps"))
    assert [(c.api_key, c.name) for c in creds.blps] == [(b.key, "desk-1")]
    mk = m.Market.model_validate(await api.set_index(price="50100"))
    assert mk.mark_price == Decimal(50100)
    stats = m.EngineStats.model_validate(await api.admin_ok("GET", "/stats"))
    assert stats.clock == "manual" and stats.blps == 1
    assert stats.insurance_fund == Decimal(1_000_000)
    assert stats.liquidations["liquidations"] == 0


async def test_force_and_counters(api: Api) -> None:
    await api.set_index()
    await api.register_blp()
    res = m.ForceResult.model_validate(await api.force(100))
    assert res.assignments == 100
    stats = m.EngineStats.model_validate(await api.admin_ok("GET", "/stats"))
    assert stats.liquidations["takeovers"] == 100
    assert stats.liquidations["assignments"] == 100
    assert stats.stream["events_logged"] == 101
    status, err = await api.admin("POST", "/liquidations/force", {"symbol": "ETH-PERP"})
    assert (status, err["code"]) == (409, "no_price")


async def test_manual_clock_advance(api: Api) -> None:
    clock = m.Clock.model_validate(await api.admin_ok("GET", "/clock"))
    assert clock.clock == "manual"
    after = m.Clock.model_validate(await api.admin_ok("POST", "/clock/advance", {"ms": 1500}))
    assert after.now_ms == clock.now_ms + 1500
    to = m.Clock.model_validate(
        await api.admin_ok("POST", "/clock/advance", {"to_ms": after.now_ms + 10})
    )
    assert to.now_ms == after.now_ms + 10
    status, err = await api.admin("POST", "/clock/advance", {"to_ms": 0})
    assert status == 400 and "to_ms" in err["message"]


async def test_assignment_window_rolls_with_the_manual_clock(api: Api) -> None:
    await api.set_index()
    # 100 assignments of 50 USDT fit a 5,000/minute... the program minimum is 100k, so use
    # a rate that 2,000 one-lot assignments fill: then the next must wait a minute
    b = await api.register_blp(minute_rate="100000", hour_rate="300000")
    res = await api.force(2001, side="alternate")
    assert res["assignments"] == 2000
    p = m.Profile.model_validate(await api.ok(b, "GET", "/api/v1/blp/profile"))
    assert p.remaining.minute == 0
    await api.admin_ok("POST", "/clock/advance", {"ms": 60_000})
    res = await api.force(1)
    assert res["assignments"] == 1


async def test_scenario_start_status_stop(api: Api) -> None:
    status = m.ScenarioStatus.model_validate(await api.admin_ok("GET", "/scenario"))
    assert status.name is None and not status.running
    started = m.ScenarioStatus.model_validate(
        await api.admin_ok("POST", "/scenario", {"name": "crash", "seed": 1, "accounts": 50})
    )
    assert started.running and started.name == "crash"
    creds = m.CredentialsList.model_validate(await api.admin_ok("GET", "/blps"))
    assert sorted(c.name or "" for c in creds.blps) == ["blp-a", "blp-b", "blp-c"]
    clock = m.Clock.model_validate(await api.admin_ok("POST", "/clock/advance", {"ms": 5000}))
    assert clock.now_ms >= started.started_ms + 5000  # type: ignore[operator]
    first = BLPCreds(creds.blps[0].account_id, creds.blps[0].api_key, creds.blps[0].api_secret)
    mk = m.Market.model_validate(await api.ok(first, "GET", "/api/v1/markets/BTC-PERP"))
    assert mk.best_bid is not None and mk.best_ask is not None
    status, err = await api.admin("POST", "/scenario", {"name": "crash"})
    assert (status, err["code"]) == (409, "scenario_running")
    stopped = m.ScenarioStatus.model_validate(await api.admin_ok("DELETE", "/scenario"))
    assert not stopped.running
    status, err = await api.admin("POST", "/scenario", {"name": "moon"})
    assert status == 400 and "name" in err["message"]


async def test_refused_registration_of_an_existing_blp_changes_nothing(api: Api) -> None:
    await api.set_index(price="50000")
    first = await api.register_blp(collateral="1000")
    body = {
        "account_id": first.account_id,
        "collateral": "5000",
        "minute_rate": "10000000",
        "hour_rate": "100000000",
        "max_position_notional": {"BTC-PERP": "1000000"},
    }
    status, err = await api.admin("POST", "/blps", body)
    assert status == 409 and err["code"] == "already_registered"
    acct = await api.ok(first, "GET", "/api/v1/account")
    assert Decimal(acct["collateral"]) == Decimal(1000)  # no deposit behind the refusal
    await api.force(1)  # the first BLP still gets its flow and events
    page = await api.ok(first, "GET", "/api/v1/assignments?from_seq=0")
    assert len(page["assignments"]) == 1


async def test_the_spliced_event_page_has_every_field_of_the_model(api: Api) -> None:
    # `GET /api/v1/events` writes its JSON by hand (from the log's stored texts): a field
    # added to `m.EventPage` must be added there too
    await api.set_index()
    b = await api.register_blp()
    page = await api.ok(b, "GET", "/api/v1/events")
    assert set(page) == set(m.EventPage.model_fields)
    assert m.EventPage.model_validate(page).last_seq == 1


async def test_admin_account_orders_and_blp_summary(api: Api) -> None:
    await api.set_index(price="50000")
    maker, taker = await api.register_blp(name="maker"), await api.register_blp()
    for i, price in enumerate(("50010", "50020")):
        await api.ok(maker, "POST", "/api/v1/orders", {
            "symbol": "BTC-PERP", "side": "sell", "qty": "0.1", "price": price,
            "client_order_id": f"m-{i}",
        })  # fmt: skip
    await api.ok(taker, "POST", "/api/v1/orders", {
        "symbol": "BTC-PERP", "side": "buy", "type": "market", "qty": "0.1",
    })  # fmt: skip
    got = m.AccountOrders.model_validate(
        await api.admin_ok("GET", f"/accounts/{maker.account_id}/orders")
    )
    assert (got.count, got.open, got.client_order_ids, got.duplicate_client_order_ids) == (
        2, 1, 2, 0,
    )  # fmt: skip
    assert [o.client_order_id for o in got.orders] == ["m-0", "m-1"]
    assert [o.status for o in got.orders] == ["filled", "new"]
    last = m.AccountOrders.model_validate(
        await api.admin_ok("GET", f"/accounts/{maker.account_id}/orders?status=open&limit=0")
    )
    assert (last.count, last.open, last.orders) == (1, 1, [])
    taken = m.AccountOrders.model_validate(
        await api.admin_ok("GET", f"/accounts/{taker.account_id}/orders?limit=1")
    )
    assert (taken.count, taken.client_order_ids, len(taken.orders)) == (1, 0, 1)

    blp = m.AdminBLP.model_validate(await api.admin_ok("GET", f"/blps/{maker.account_id}"))
    assert (blp.name, blp.api_key, blp.opted_in) == ("maker", maker.key, True)
    assert blp.events == {"fill": 1, "profile": 1}
    assert blp.last_seq == 2
    assert (blp.liquidated, blp.liquidation_state) == (False, "none")

    # bad input: 4xx with the field named, never a 5xx
    for path, status, field in (
        (f"/accounts/{maker.account_id}/orders?status=closed", 400, "status"),
        (f"/accounts/{maker.account_id}/orders?limit=-1", 400, "limit"),
        (f"/accounts/{maker.account_id}/orders?limit=x", 400, "limit"),
        ("/accounts/999999/orders", 404, "999999"),
        ("/accounts/abc/orders", 404, "account_id"),
        ("/blps/abc", 404, "account_id"),
        (f"/blps/{api.engine.service.house}", 404, "account_id"),
    ):
        code, err = await api.admin("GET", path)
        assert code == status and field in err["message"], (path, code, err)
    code, err = await api.admin("GET", f"/blps/{maker.account_id}", token="wrong")
    assert (code, err["code"]) == (401, "invalid_admin_token")
    stats = m.EngineStats.model_validate(await api.admin_ok("GET", "/stats"))
    assert stats.pid == os.getpid()  # this engine runs in the test's process


async def test_scenario_resume_sample_report(api: Api) -> None:
    for path in ("/scenario/sample", "/scenario/report"):
        code, err = await api.admin("GET", path)
        assert (code, err["code"]) == (409, "no_scenario")
    code, err = await api.admin("POST", "/scenario/resume")
    assert (code, err["code"]) == (409, "no_scenario")
    ours = await api.register_blp(name="ours")
    started = m.ScenarioStatus.model_validate(
        await api.admin_ok("POST", "/scenario", {"name": "crash", "seed": 1, "accounts": 50})
    )
    assert started.seconds == 3600 and started.engine_seconds == 0
    await api.admin_ok("POST", "/clock/advance", {"ms": 5000})
    code, err = await api.admin("POST", "/scenario/resume")
    assert (code, err["code"]) == (409, "scenario_running")
    stopped = m.ScenarioStatus.model_validate(await api.admin_ok("DELETE", "/scenario"))
    assert not stopped.running and stopped.engine_seconds == 5
    sample = await api.admin_ok("GET", "/scenario/sample")
    assert sample["t"] == 5 and set(sample["index"]) == {"BTC-PERP", "ETH-PERP"}
    assert isinstance(sample["insurance_fund"], str)  # decimals as strings
    # a pause of 10 s: the scenario resumes at its second 5, not 15
    await api.admin_ok("POST", "/clock/advance", {"ms": 10_000})
    resumed = m.ScenarioStatus.model_validate(await api.admin_ok("POST", "/scenario/resume"))
    assert resumed.running and resumed.engine_seconds == 5
    assert resumed.started_ms == started.started_ms + 10_000  # type: ignore[operator]
    await api.admin_ok("POST", "/clock/advance", {"ms": 2000})
    assert (await api.admin_ok("GET", "/scenario/sample"))["t"] == 7
    report = await api.admin_ok("GET", "/scenario/report")
    assert (report["scenario"], report["seed"], report["accounts"]) == ("crash", 1, 50)
    # the scenario's BLPs and the one registered through the admin API
    assert sorted(report["blps"]) == ["blp-a", "blp-b", "blp-c", "ours"]
    assert report["blps"]["ours"]["liquidated"] is False
    assert isinstance(report["adl_notional"], str)
    assert report["blps"]["ours"]["assignments"] >= 0 and ours.account_id > 0
