"""Every rejection of the BLP API, over raw HTTP against a real engine on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from server_helpers import Api, BLPCreds, Stream, next_ts, running_api, test_config

from blp_client.auth import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign, sign_stream
from blp_client.engine.server import start_engine

PROFILE = "/api/v1/blp/profile"


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with running_api() as a:
        yield a


async def test_unknown_key(api: Api) -> None:
    await api.register_blp()
    ghost = BLPCreds(0, "blp_nobody", "0" * 64)
    status, body, _ = await api.signed(ghost, "GET", PROFILE)
    assert status == 401
    assert body == {"code": "invalid_api_key", "message": "unknown API key"}


async def test_wrong_signature(api: Api) -> None:
    b = await api.register_blp()
    status, body, _ = await api.signed(b, "GET", PROFILE, secret="f" * 64)
    assert status == 401
    assert body["code"] == "invalid_signature"


async def test_signature_covers_the_body_and_query(api: Api) -> None:
    b = await api.register_blp()
    ts = next_ts()
    headers = {
        HEADER_KEY: b.key,
        HEADER_TIMESTAMP: str(ts),
        HEADER_SIGNATURE: sign(b.secret, ts, "PATCH", PROFILE, '{"opted_in": true}'),
    }
    status, body, _ = await api.signed(
        b, "PATCH", PROFILE, raw='{"opted_in": false}', headers=headers
    )
    assert (status, body["code"]) == (401, "invalid_signature")
    ts = next_ts()
    headers = {
        HEADER_KEY: b.key,
        HEADER_TIMESTAMP: str(ts),
        HEADER_SIGNATURE: sign(b.secret, ts, "GET", "/api/v1/assignments?limit=5", ""),
    }
    status, body, _ = await api.signed(b, "GET", "/api/v1/assignments?limit=6", headers=headers)
    assert (status, body["code"]) == (401, "invalid_signature")


async def test_stale_timestamp_both_ways(api: Api) -> None:
    b = await api.register_blp()
    for off in (-6_000, 6_000):
        status, body, _ = await api.signed(b, "GET", PROFILE, ts=next_ts() + off)
        assert status == 401
        assert body["code"] == "stale_timestamp"
        assert "window" in body["message"]
    status, _, _ = await api.signed(b, "GET", PROFILE, ts=next_ts() - 4_000)
    assert status == 200


async def test_exact_replay_is_refused(api: Api) -> None:
    b = await api.register_blp()
    ts = next_ts()
    headers = {
        HEADER_KEY: b.key,
        HEADER_TIMESTAMP: str(ts),
        HEADER_SIGNATURE: sign(b.secret, ts, "GET", PROFILE, ""),
    }
    status, _, _ = await api.signed(b, "GET", PROFILE, headers=headers)
    assert status == 200
    status, body, _ = await api.signed(b, "GET", PROFILE, headers=headers)
    assert status == 401
    assert body["code"] == "replayed_request"


async def test_missing_headers(api: Api) -> None:
    b = await api.register_blp()
    status, body, _ = await api.signed(b, "GET", PROFILE, headers={})
    assert (status, body["code"]) == (401, "missing_api_key")
    status, body, _ = await api.signed(b, "GET", PROFILE, headers={HEADER_KEY: b.key})
    assert (status, body["code"]) == (401, "missing_timestamp")
    status, body, _ = await api.signed(
        b, "GET", PROFILE, headers={HEADER_KEY: b.key, HEADER_TIMESTAMP: str(next_ts())}
    )
    assert (status, body["code"]) == (401, "missing_signature")


async def test_another_blps_order_is_forbidden(api: Api) -> None:
    await api.set_index()
    alice, bob = await api.register_blp(), await api.register_blp()
    order = await api.ok(
        alice, "POST", "/api/v1/orders",
        {"symbol": "BTC-PERP", "side": "buy", "qty": "0.01", "price": "49000",
         "client_order_id": "x"},
    )  # fmt: skip
    for method in ("GET", "DELETE"):
        status, body, _ = await api.signed(bob, method, f"/api/v1/orders/{order['id']}")
        assert status == 403, body
        assert body["code"] == "forbidden"
    # bob's lists never show alice's order
    assert (await api.ok(bob, "GET", "/api/v1/orders?status=all"))["orders"] == []
    listed = await api.ok(bob, "GET", "/api/v1/orders?client_order_id=x&status=all")
    assert listed["orders"] == []  # alice's order has that client id
    mine = await api.ok(alice, "GET", "/api/v1/orders?client_order_id=x&status=all")
    assert [o["id"] for o in mine["orders"]] == [order["id"]]
    # and it is still alice's, still open
    got = await api.ok(alice, "GET", f"/api/v1/orders/{order['id']}")
    assert got["status"] == "new"


async def test_unknown_order_is_404(api: Api) -> None:
    b = await api.register_blp()
    for path in ("/api/v1/orders/999999", "/api/v1/orders/abc"):
        status, body, _ = await api.signed(b, "GET", path)
        assert status == 404
        assert set(body) == {"code", "message"}


async def test_bad_bodies_name_the_field(api: Api) -> None:
    await api.set_index()
    b = await api.register_blp()
    cases: list[tuple[str, str, object, str]] = [
        ("POST", "/api/v1/orders", {"symbol": "BTC-PERP", "side": "buy", "qty": 0.01,
                                    "price": "1"}, "qty"),
        ("POST", "/api/v1/orders", {"symbol": "BTC-PERP", "side": "up", "qty": "0.01",
                                    "price": "1"}, "side"),
        ("POST", "/api/v1/orders", {"symbol": "BTC-PERP", "side": "buy", "qty": "-1",
                                    "price": "1"}, "qty"),
        ("POST", "/api/v1/orders", {"symbol": "BTC-PERP", "side": "buy", "qty": "0.01"},
         "price"),
        ("POST", "/api/v1/orders", {"symbol": "BTC-PERP", "side": "buy", "qty": "0.01",
                                    "price": "1", "colour": "red"}, "colour"),
        ("POST", "/api/v1/orders", {"symbol": "DOGE-PERP", "side": "buy", "qty": "1",
                                    "price": "1"}, "symbol"),
        ("POST", "/api/v1/orders", {"symbol": "BTC-PERP", "side": "buy", "qty": "0.0001",
                                    "price": "49000"}, "qty"),
        ("POST", "/api/v1/orders", {"symbol": "BTC-PERP", "side": "buy", "qty": "0.01",
                                    "price": "49000.05"}, "price"),
        ("PATCH", PROFILE, {"max_position_notional": {"BTC-PERP": "abc"}},
         "max_position_notional.BTC-PERP"),
        ("PATCH", PROFILE, {"max_position_notional": {"XRP-PERP": "1"}},
         "max_position_notional.XRP-PERP"),
        ("PATCH", PROFILE, {"opted_in": "maybe"}, "opted_in"),
        ("PATCH", PROFILE, {}, "max_position_notional"),
    ]  # fmt: skip
    for method, path, body, field in cases:
        status, err, _ = await api.signed(b, method, path, body)
        assert status == 400, (body, err)
        assert set(err) == {"code", "message"}
        assert field in err["message"], (field, err)
    status, err, _ = await api.signed(b, "POST", "/api/v1/orders", raw="{not json")
    assert (status, err["code"]) == (400, "invalid_json")
    status, err, _ = await api.signed(b, "GET", "/api/v1/assignments?limit=0")
    assert status == 400 and "limit" in err["message"]
    status, err, _ = await api.signed(b, "GET", "/api/v1/assignments?from_seq=x")
    assert status == 400 and "from_seq" in err["message"]
    status, err, _ = await api.signed(b, "GET", "/api/v1/orders?status=closed")
    assert status == 400 and "status" in err["message"]


async def test_refused_by_engine_state_is_409(api: Api) -> None:
    await api.set_index()
    b = await api.register_blp(collateral="100")
    status, err, _ = await api.signed(
        b, "POST", "/api/v1/orders",
        {"symbol": "BTC-PERP", "side": "buy", "qty": "10", "price": "50000"},
    )  # fmt: skip
    assert (status, err["code"]) == (409, "insufficient_margin")


async def test_admin_token_required(api: Api) -> None:
    status, body = await api.admin("GET", "/stats", token=None)
    assert (status, body["code"]) == (401, "missing_admin_token")
    status, body = await api.admin("GET", "/stats", token="not-the-token")
    assert (status, body["code"]) == (401, "invalid_admin_token")
    status, body = await api.admin("POST", "/blps", {"minute_rate": "1"}, token=None)
    assert status == 401


async def test_admin_bad_bodies_name_the_field(api: Api) -> None:
    status, body = await api.admin("POST", "/blps", {"minute_rate": "100000"})
    assert status == 400 and "hour_rate" in body["message"]
    status, body = await api.admin(
        "POST", "/blps",
        {"minute_rate": "1", "hour_rate": "300000", "max_position_notional": {}},
    )  # fmt: skip
    assert status == 400 and "minute_rate" in body["message"]
    status, body = await api.admin("POST", "/index", {"symbol": "BTC-PERP", "price": "-1"})
    assert status == 400 and "price" in body["message"]
    status, body = await api.admin("POST", "/clock/advance", {})
    assert status == 400 and "ms" in body["message"]


async def test_rate_limit_gives_429_with_retry_after() -> None:
    eng = await start_engine(
        port=0, clock="manual", config=test_config(rate_limit={"per_second": 1, "burst": 3})
    )
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(eng, session)
            b = await api.register_blp()
            statuses = []
            for _ in range(4):
                status, body, resp = await api.signed(b, "GET", PROFILE)
                statuses.append(status)
            assert statuses == [200, 200, 200, 429]
            assert body["code"] == "rate_limited"
            assert int(resp.headers["Retry-After"]) >= 1
    finally:
        await eng.stop()


async def test_unknown_route_is_a_json_404(api: Api) -> None:
    b = await api.register_blp()
    status, body, _ = await api.signed(b, "GET", "/api/v1/nothing-here")
    assert status == 404 and body["code"] == "not_found"
    status, body = await api.admin("GET", "/nothing-here")
    assert status == 404 and body["code"] == "not_found"


async def test_stream_auth_failures_close_4001(api: Api) -> None:
    b = await api.register_blp()
    ts = next_ts()
    bad = [
        {"op": "auth", "key": b.key, "timestamp": ts, "signature": sign_stream("0" * 64, ts)},
        {"op": "auth", "key": "blp_nobody", "timestamp": ts, "signature": "00"},
        {"op": "auth", "key": b.key, "timestamp": ts - 60_000,
         "signature": sign_stream(b.secret, ts - 60_000)},
        {"op": "subscribe", "from_seq": 0},
    ]  # fmt: skip
    codes = []
    for msg in bad:
        s = await Stream.open(api, b, auth=False)
        await s.send(msg)
        err = await s.recv()
        assert err["op"] == "error", err
        codes.append(err["code"])
        code, _ = await s.until_closed()
        assert code == 4001
    assert codes == ["invalid_signature", "invalid_api_key", "stale_timestamp", "auth_required"]
    # a replayed stream auth
    s1 = await Stream.open(api, b, auth=False)
    ts = next_ts()
    auth = {"op": "auth", "key": b.key, "timestamp": ts, "signature": sign_stream(b.secret, ts)}
    await s1.send(auth)
    assert (await s1.recv())["ok"] is True
    s2 = await Stream.open(api, b, auth=False)
    await s2.send(auth)
    err = await s2.recv()
    assert err["code"] == "replayed_request"
    assert (await s2.until_closed())[0] == 4001
    await s1.close()


async def test_stream_bad_message_closes_4002(api: Api) -> None:
    b = await api.register_blp()
    s = await Stream.open(api, b, from_seq=None)
    await s.send({"op": "dance"})
    err = await s.recv()
    assert err["op"] == "error" and "dance" in err["message"]
    assert (await s.until_closed())[0] == 4002
    s = await Stream.open(api, b, from_seq=None)
    await s.ws.send_str("not json")
    assert (await s.until_closed())[0] == 4002
    s = await Stream.open(api, b, from_seq=None)
    await s.send({"op": "subscribe", "from_seq": -1})
    code, msgs = await s.until_closed()
    assert code == 4002 and "from_seq" in msgs[0]["message"]
