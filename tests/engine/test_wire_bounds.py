"""Issue 12, the wire hardened: every input path (BLP API, admin API, venue) is bounded before it
does work, no client input gives a 5xx, and replay protection survives a restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from server_helpers import Api, next_ts, running_api, test_config

from blp_client.auth import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signed_headers
from blp_client.engine.binance.auth import sign as binance_sign
from blp_client.engine.server import start_engine

ORDERS = "/api/v1/orders"
BAD_DECIMALS = ["1e400", "1" * 32, " 1 ", "1_000", "+0.001", "\uff11", "1\n", "NaN", "-0.1e2"]


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with running_api(venue_api="binance") as a:
        yield a


async def _raw(
    api: Api, method: str, path: str, data: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    async with api.session.request(method, api.url + path, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_deep_json_is_a_400_not_a_recursion_error(api: Api) -> None:
    b = await api.register_blp()
    deep = "[" * 10_000 + "]" * 10_000
    status, body, _ = await api.signed(b, "POST", ORDERS, raw=deep)
    assert (status, body["code"]) == (400, "invalid_json"), body
    status, body = await _raw(
        api, "POST", "/admin/v1/index", deep.encode(), {"X-ADMIN-TOKEN": api.engine.admin_token}
    )
    assert (status, body["code"]) == (400, "invalid_json"), body
    nested = '{"symbol": "BTC-PERP", "price": "1", "x": ' + "[" * 40 + "]" * 40 + "}"
    status, body = await _raw(
        api, "POST", "/admin/v1/index", nested.encode(), {"X-ADMIN-TOKEN": api.engine.admin_token}
    )
    assert (status, body["code"]) == (400, "invalid_json"), body


async def test_bad_charset_and_utf8_are_400(api: Api) -> None:
    b = await api.register_blp()
    for ctype, data in [
        ("application/json; charset=foo", b'{"opted_in": true}'),
        ("application/json", b'{"opted_in": "\xff\xfe"}'),
    ]:
        text = data.decode("latin-1")
        ts = next_ts()
        h = signed_headers(b.key, b.secret, "PATCH", "/api/v1/blp/profile", text, ts)
        h["Content-Type"] = ctype
        status, body = await _raw(api, "PATCH", "/api/v1/blp/profile", data, h)
        assert (status, body["code"]) == (400, "invalid_body"), (ctype, body)
        h = {"X-ADMIN-TOKEN": api.engine.admin_token, "Content-Type": ctype}
        status, body = await _raw(api, "POST", "/admin/v1/index", data, h)
        assert (status, body["code"]) == (400, "invalid_body"), (ctype, body)


async def test_strict_decimals_name_the_field(api: Api) -> None:
    b = await api.register_blp()
    await api.set_index()
    for bad in BAD_DECIMALS:
        order = {"symbol": "BTC-PERP", "side": "buy", "qty": "0.001", "price": bad}
        status, body, _ = await api.signed(b, "POST", ORDERS, order)
        assert status == 400 and "price" in body["message"], (bad, body)
        status, body = await api.admin("POST", "/index", {"symbol": "BTC-PERP", "price": bad})
        assert status == 400 and "price" in body["message"], (bad, body)
        aid = b.account_id
        status, body = await api.admin("POST", f"/accounts/{aid}/deposit", {"amount": bad})
        assert status == 400 and "amount" in body["message"], (bad, body)
    huge = {"max_position_notional": {"BTC-PERP": "1" * 32}}
    status, body, _ = await api.signed(b, "PATCH", "/api/v1/blp/profile", huge)
    assert status == 400 and "max_position_notional" in body["message"], body
    # good ones still pass
    status, body = await api.admin("POST", "/index", {"symbol": "BTC-PERP", "price": "50000.5"})
    assert status == 200, body


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/assignments"])
@pytest.mark.parametrize("value", [str(2**63), "9" * 40, "\uff11", " 1", "1_0"])
async def test_query_integers_are_bounded(api: Api, path: str, value: str) -> None:
    b = await api.register_blp()
    status, body, _ = await api.signed(b, "GET", f"{path}?from_seq={quote(value)}")
    assert (status, body["code"]) == (400, "invalid_request"), body


@pytest.mark.parametrize("sig", ["\u00e9" * 64, "g" * 64, "ab", "a" * 65])
async def test_malformed_signature_is_401(api: Api, sig: str) -> None:
    b = await api.register_blp()
    h = {HEADER_KEY: b.key, HEADER_TIMESTAMP: str(next_ts()), HEADER_SIGNATURE: sig}
    async with api.session.get(api.url + "/api/v1/blp/profile", headers=h) as r:
        assert r.status == 401
        assert (await r.json())["code"] == "invalid_signature"


async def _venue_key(api: Api) -> tuple[str, str]:
    data = await api.admin_ok("POST", "/venue/keys", {"collateral": "50000"})
    return data["api_key"], data["api_secret"]


async def test_venue_decimals_and_signatures(api: Api) -> None:
    key, secret = await _venue_key(api)
    for bad in [*BAD_DECIMALS, "-1"]:
        now = str(api.engine.service.now_ms())
        params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                  "quantity": "0.001", "price": bad, "timestamp": now}  # fmt: skip
        q = urlencode(params)
        q += "&signature=" + binance_sign(secret, q)
        async with api.session.post(
            f"{api.url}/fapi/v1/order?{q}", headers={"X-MBX-APIKEY": key}
        ) as r:
            body = await r.json()
            assert r.status == 400, (bad, body)
            assert body["code"] == -1100 and "'price'" in body["msg"], (bad, body)
    q = f"timestamp={api.engine.service.now_ms()}&signature=" + "\u00e9" * 64
    async with api.session.get(
        f"{api.url}/fapi/v2/account?{q}", headers={"X-MBX-APIKEY": key}
    ) as r:
        assert r.status < 500
        assert (await r.json())["code"] == -1022
    async with api.session.post(
        f"{api.url}/fapi/v1/order",
        data=b"symbol=\xff",
        headers={"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"},
    ) as r:
        assert r.status == 400
        assert (await r.json())["code"] == -1100


async def test_an_unexpected_error_is_a_generic_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom() -> None:
        raise RuntimeError("secret detail /etc/passwd")

    monkeypatch.setattr(api.engine.service, "stats", boom)
    status, body = await api.admin("GET", "/stats")
    assert status == 500
    assert body["code"] == "internal_error" and len(body["error_id"]) == 16
    assert "secret detail" not in json.dumps(body)


async def test_a_replay_across_a_restart_is_refused(tmp_path: Path) -> None:
    cfg = test_config()
    eng = await start_engine(port=0, clock="manual", config=cfg, data_dir=tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(eng, session)
            b = await api.register_blp()
            await api.set_index()
            body = json.dumps({"symbol": "BTC-PERP", "side": "buy", "qty": "0.001",
                               "price": "40000", "client_order_id": "once"})  # fmt: skip
            h = signed_headers(b.key, b.secret, "POST", ORDERS, body, next_ts())
            async with session.post(eng.url + ORDERS, data=body.encode(), headers=h) as r:
                assert r.status == 200, await r.text()
    finally:
        await eng.stop()
    eng = await start_engine(port=0, clock="manual", config=cfg, data_dir=tmp_path)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(eng.url + ORDERS, data=body.encode(), headers=h) as r,
        ):
            assert r.status == 401
            assert (await r.json())["code"] == "replayed_request"
    finally:
        await eng.stop()


async def test_venue_admin_bounds(api: Api) -> None:
    h = {"X-ADMIN-TOKEN": api.engine.admin_token}
    deep = ("[" * 10_000 + "]" * 10_000).encode()
    status, body = await _raw(api, "POST", "/admin/v1/venue/keys", deep, h)
    assert status == 400, body
    for bad in ["1e400", "1" * 32, "1_000", "\uff11"]:
        status, body = await api.admin("POST", "/venue/keys", {"collateral": bad})
        assert status == 400 and "collateral" in body["message"], (bad, body)
