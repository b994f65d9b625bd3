"""Every REST resource through `BLPClient` against the real engine over 127.0.0.1, and the
mapping of error responses to the typed exceptions."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from blp_client import errors
from blp_client import models as m
from blp_client.client import BLPClient
from blp_client.engine.server import RunningEngine
from blp_client.errors import (
    AuthError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
)
from blp_client.testing import FaultProxy

from .conftest import Admin, boot

D = Decimal


async def test_profile(client: BLPClient, creds: m.Credentials) -> None:
    p = await client.profile()
    assert isinstance(p, m.Profile)
    assert p.account_id == creds.account_id
    assert p.opted_in is True
    assert p.minute_rate == D("1000000000000")
    assert p.used.minute == 0 and isinstance(p.used.minute, Decimal)
    assert set(p.max_position_notional) == {"BTC-PERP", "ETH-PERP"}
    assert p.fee_tier.name


async def test_update_profile_threshold_and_opt_out(client: BLPClient) -> None:
    p = await client.update_profile(max_position_notional={"BTC-PERP": D("250000.5")})
    assert p.max_position_notional["BTC-PERP"] == D("250000.5")
    p = await client.update_profile(opted_in=False)
    assert p.opted_in is False
    p = await client.update_profile(opted_in=True, max_position_notional={"ETH-PERP": "1000"})
    assert p.opted_in is True and p.max_position_notional["ETH-PERP"] == D("1000")
    assert (await client.profile()).max_position_notional["BTC-PERP"] == D("250000.5")


async def test_update_profile_refuses_empty_and_floats_before_sending(client: BLPClient) -> None:
    with pytest.raises(InvalidRequest):
        await client.update_profile()
    with pytest.raises(InvalidRequest):
        await client.update_profile(max_position_notional={"BTC-PERP": 1.5})  # type: ignore[dict-item]


async def test_update_profile_server_names_the_field(client: BLPClient) -> None:
    with pytest.raises(InvalidRequest) as err:
        await client.update_profile(max_position_notional={"NOPE-PERP": D(1)})
    assert "NOPE-PERP" in err.value.message or "max_position_notional" in err.value.message


async def test_account(client: BLPClient, creds: m.Credentials) -> None:
    a = await client.account()
    assert isinstance(a, m.Account)
    assert a.account_id == creds.account_id
    assert a.collateral == D("10000000")
    assert a.positions == [] and a.liquidation_state == "none"


async def test_account_shows_assigned_positions(client: BLPClient, admin: Admin) -> None:
    await admin.force(3)  # alternate long/short: net one long lot taken over → BLP buys
    a = await client.account()
    assert [p.symbol for p in a.positions] == ["BTC-PERP"]
    assert a.positions[0].qty == D("0.001")


async def test_assignment_history_pages(client: BLPClient, admin: Admin) -> None:
    await admin.force(25)
    first = await client.assignment_history(0, limit=10)
    assert isinstance(first, m.AssignmentPage)
    assert len(first.assignments) == 10 and first.next_from_seq is not None
    seqs = [a.seq for a in first.assignments]
    cursor = first.next_from_seq
    while cursor is not None:
        page = await client.assignment_history(cursor, limit=10)
        seqs += [a.seq for a in page.assignments]
        cursor = page.next_from_seq
    assert len(seqs) == 25 and seqs == sorted(seqs)
    assert first.last_seq == seqs[-1]
    a = first.assignments[0]
    assert a.symbol == "BTC-PERP" and a.kind in ("favorable", "toxic")
    assert isinstance(a.price, Decimal) and isinstance(a.remaining.threshold, Decimal)


async def test_event_history(client: BLPClient, admin: Admin) -> None:
    await admin.force(5)
    page = await client.event_history(0, limit=100)
    assert isinstance(page, m.EventPage)
    assert [e.seq for e in page.events] == list(range(1, page.last_seq + 1))
    assert page.events[0].type == "profile"  # registration
    assert sum(isinstance(e, m.AssignmentEvent) for e in page.events) == 5
    tail = await client.event_history(page.last_seq - 2, limit=100)
    assert [e.seq for e in tail.events] == [page.last_seq - 1, page.last_seq]


async def test_markets_and_market(client: BLPClient) -> None:
    ms = await client.markets()
    assert {x.symbol for x in ms} == {"BTC-PERP", "ETH-PERP"}
    btc = await client.market("BTC-PERP")
    assert isinstance(btc, m.Market)
    assert btc.index_price == D("50000") and btc.mark_price == D("50000")
    with pytest.raises(NotFound) as err:
        await client.market("NOPE-PERP")
    assert err.value.code == "unknown_symbol"


async def test_orders_and_book(client: BLPClient) -> None:
    o = await client.place_order("BTC-PERP", "buy", D("0.002"), D("49000"), client_order_id="bid-1")
    assert isinstance(o, m.Order)
    assert o.status == "new" and o.client_order_id == "bid-1" and o.price == D("49000")
    ask = await client.place_order("BTC-PERP", "sell", "0.001", "51000.5", tif="GTC")
    book = await client.book("BTC-PERP", depth=5)
    assert isinstance(book, m.Book)
    assert (D("49000"), D("0.002")) in book.bids
    assert (D("51000.5"), D("0.001")) in book.asks
    assert len((await client.book("BTC-PERP", depth=1)).bids) <= 1
    mkt = await client.market("BTC-PERP")
    assert mkt.best_bid == D("49000") and mkt.best_ask == D("51000.5")

    assert (await client.order(o.id)).id == o.id
    assert {x.id for x in await client.open_orders()} == {o.id, ask.id}
    cancelled = await client.cancel_order(o.id)
    assert cancelled.status == "cancelled"
    assert [x.id for x in await client.open_orders()] == [ask.id]
    with pytest.raises((Conflict, NotFound, InvalidRequest)):
        await client.cancel_order(o.id)
    with pytest.raises(NotFound):
        await client.order(10**9)
    assert {x.id for x in await client.orders("all")} == {o.id, ask.id}
    [found] = await client.orders("all", client_order_id="bid-1")
    assert found.id == o.id and found.status == "cancelled"
    assert await client.orders("open", client_order_id="bid-1") == []
    assert await client.orders("all", client_order_id="nope") == []


async def test_order_validation(client: BLPClient) -> None:
    with pytest.raises(InvalidRequest) as err:  # local: limit needs a price
        await client.place_order("BTC-PERP", "buy", "0.001", type="limit")
    assert "price" in err.value.message
    with pytest.raises(InvalidRequest) as err:  # server: price off the tick
        await client.place_order("BTC-PERP", "buy", "0.001", "49000.05")
    assert "tick" in err.value.message or "price" in err.value.message
    with pytest.raises(InvalidRequest):
        await client.place_order("NOPE-PERP", "buy", "0.001", "1")
    with pytest.raises(InvalidRequest) as err:  # local: not a number at all
        await client.place_order("BTC-PERP", "buy", "abc", "49000")
    assert err.value.code == "invalid_decimal" and "'abc'" in err.value.message


async def test_another_blps_order_is_not_readable(
    client: BLPClient, admin: Admin, engine: RunningEngine
) -> None:
    o = await client.place_order("BTC-PERP", "buy", "0.001", "40000")
    other = await admin.register_blp()
    async with BLPClient(engine.url, other.api_key, other.api_secret) as c2:
        with pytest.raises((Forbidden, NotFound)):
            await c2.order(o.id)
        with pytest.raises((Forbidden, NotFound)):
            await c2.cancel_order(o.id)
        assert await c2.open_orders() == []


async def test_bad_credentials_are_auth_errors(engine: RunningEngine, creds: m.Credentials) -> None:
    async with BLPClient(engine.url, creds.api_key, "0" * 64) as c:
        with pytest.raises(AuthError) as err:
            await c.profile()
        assert err.value.code == "invalid_signature"
    async with BLPClient(engine.url, "blp_unknown", creds.api_secret) as c:
        with pytest.raises(AuthError) as err:
            await c.account()
        assert err.value.code == "invalid_api_key"


async def test_rate_limit_carries_retry_after(admin: Admin) -> None:
    eng = await boot(rate_limit={"per_second": 0.5, "burst": 2})
    try:
        a = Admin(eng.url, eng.admin_token, admin.session)
        c = await a.register_blp()
        async with BLPClient(eng.url, c.api_key, c.api_secret) as client:
            with pytest.raises(RateLimited) as err:
                for _ in range(5):
                    await client.markets()
            assert err.value.retry_after == 2  # the next token in 1 / 0.5 s, rounded up
            assert err.value.code == "rate_limited"
    finally:
        await eng.stop()


async def test_client_must_be_entered(engine: RunningEngine, creds: m.Credentials) -> None:
    c = BLPClient(engine.url, creds.api_key, creds.api_secret)
    with pytest.raises(RuntimeError):
        await c.profile()
    with pytest.raises(ValueError):
        BLPClient("ftp://x", "k", "s")


async def test_get_is_retried_after_a_transport_failure(
    engine: RunningEngine, creds: m.Credentials
) -> None:
    async with (
        FaultProxy(("127.0.0.1", engine.port)) as proxy,
        BLPClient(proxy.url(), creds.api_key, creds.api_secret, reconnect_base=0.01) as c,
    ):
        proxy.fail_next(2, after_bytes=100)  # the request is cut mid-way, twice
        assert (await c.profile()).account_id == creds.account_id
        assert proxy.cuts == 2 and proxy.connections == 3
        proxy.cut_all()  # the pooled keep-alive connection too
        proxy.fail_next(10)  # more than the client (and aiohttp itself) will try
        with pytest.raises(ConnectionFailed) as err:  # the SDK's error, not aiohttp's
            await c.profile()
        assert isinstance(err.value.__cause__, aiohttp.ClientError)  # chained, for debugging
        assert err.value.code == "connection_failed" and "GET /api/v1/blp/profile" in str(err.value)


async def test_non_get_is_never_resent(engine: RunningEngine, creds: m.Credentials) -> None:
    async with (
        FaultProxy(("127.0.0.1", engine.port)) as proxy,
        BLPClient(proxy.url(), creds.api_key, creds.api_secret) as c,
    ):
        proxy.fail_next(1, after_bytes=0)
        with pytest.raises(ConnectionFailed) as err:
            await c.place_order("BTC-PERP", "buy", "0.001", "40000")
        assert isinstance(err.value.__cause__, aiohttp.ClientError)
        assert proxy.connections == 1
        assert await c.open_orders() == []  # it never reached the engine


def test_package_exports_every_public_error_and_name() -> None:
    import blp_client
    from blp_client import errors

    public = set(blp_client._EXPORTS)
    assert set(blp_client.__all__) == public | {"__version__"}
    error_classes = {n for n in errors.__all__ if isinstance(getattr(errors, n), type)}
    assert error_classes <= public
    for name in public:
        assert getattr(blp_client, name) is not None  # each lazy import resolves


async def test_transport_failures_are_the_sdks_error(
    engine: RunningEngine, creds: m.Credentials
) -> None:
    """Callers catch `ConnectionFailed` (a `BLPError`), never aiohttp's or asyncio's errors:
    nothing listening, and a server that never answers (a timeout)."""
    async with FaultProxy(("127.0.0.1", engine.port)) as proxy:
        proxy.refuse = True  # accepts, then resets: nothing is served
        async with BLPClient(proxy.url(), creds.api_key, creds.api_secret, retries=0) as c:
            with pytest.raises(ConnectionFailed) as err:
                await c.markets()
            assert isinstance(err.value, errors.BLPError)
            assert err.value.__cause__ is not None
        proxy.refuse = False
        proxy.blackhole = True  # the socket stays open, no answer ever comes
        async with BLPClient(
            proxy.url(), creds.api_key, creds.api_secret, retries=0, timeout=0.2
        ) as c:
            with pytest.raises(ConnectionFailed) as err:
                await c.markets()
            assert err.value.code == "timeout"
            assert isinstance(err.value.__cause__, TimeoutError)


def test_invalid_request_is_not_pydantics_name() -> None:
    import pydantic

    import blp_client

    assert errors.InvalidRequest.__name__ == "InvalidRequest"
    assert errors.InvalidRequest is not pydantic.ValidationError
    with pytest.warns(DeprecationWarning, match="InvalidRequest"):
        old = blp_client.ValidationError  # the 0.1 name still resolves, with a warning
    assert old is errors.InvalidRequest
