"""Property tests for the local Binance USDⓈ-M venue mounted on a real engine (127.0.0.1):
every route of its table with hostile parameters, signed or not, and hostile control messages
on its market streams.

Properties: no 5xx (an error is Binance's `{"code": <int>, "msg": <str>}` with a 4xx), and a
market-stream connection answers every message (a result or Binance's error) and keeps serving.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from fuzz_support import BAD_DECIMALS, GOOD_DECIMALS, ThreadedEngine, deep_json, json_values
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from server_helpers import test_config

from blp_client.auth import HEADER_ADMIN_TOKEN
from blp_client.engine.binance import API_KEY_HEADER
from blp_client.engine.binance.auth import sign

TIMEOUT = 10.0
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Venue:
    engine: ThreadedEngine
    api_key: str
    api_secret: str
    routes: list[tuple[str, str]]

    def send(self, method: str, path_query: str, headers: dict[str, str]) -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            async with (
                aiohttp.ClientSession() as s,
                s.request(method, self.engine.url + path_query, headers=headers) as r,
            ):
                text = await r.text()
                return r.status, json.loads(text) if text else None

        return self.engine.run(go())


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    engine = ThreadedEngine(test_config(), venue_api="binance", venue_limits=False)
    try:
        admin = {HEADER_ADMIN_TOKEN: engine.engine.admin_token}

        async def setup() -> dict[str, Any]:
            async with aiohttp.ClientSession() as s:
                r = await s.post(
                    engine.url + "/admin/v1/index",
                    json={"symbol": "BTC-PERP", "price": "50000"},
                    headers=admin,
                )
                assert r.status == 200, await r.text()
                r = await s.post(
                    engine.url + "/admin/v1/venue/keys",
                    json={"collateral": "100000"},
                    headers=admin,
                )
                assert r.status == 200, await r.text()
                keys: dict[str, Any] = await r.json()
                return keys

        keys = engine.run(setup())
        app = engine.engine.runner.app  # the routes as mounted
        routes = sorted(
            {(r.method, r.resource.canonical) for r in app.router.routes()
             if r.resource is not None and r.resource.canonical.startswith("/fapi/")}
        )  # fmt: skip
        assert len(routes) >= 25, routes
        yield Venue(engine, keys["api_key"], keys["api_secret"], routes)
    finally:
        engine.stop()


# ---- REST -----------------------------------------------------------------------------------

PARAMS = [
    "symbol", "side", "type", "quantity", "price", "timeInForce", "orderId",
    "origClientOrderId", "newClientOrderId", "limit", "startTime", "endTime", "fromId",
    "leverage", "reduceOnly", "recvWindow", "positionSide", "closePosition", "stopPrice",
]  # fmt: skip
WORDS = ["BTCUSDT", "ETHUSDT", "btcusdt", "BUY", "SELL", "LIMIT", "MARKET", "GTC", "IOC", "FOK",
         "GTX", "BOTH", "LONG", "true", "false", "0", "-1", "5", "1000", "99999999999999999999",
         "9" * 40, "", " ", "0x10", "\uff11"]  # fmt: skip
_values = st.one_of(
    st.sampled_from([*WORDS, *BAD_DECIMALS, *GOOD_DECIMALS]),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.just(deep_json(200)),
)


@st.composite
def venue_calls(
    draw: st.DrawFn, routes: list[tuple[str, str]]
) -> tuple[str, str, dict[str, str], bool]:
    method, path = draw(st.sampled_from(routes))
    params = draw(st.dictionaries(st.sampled_from(PARAMS), _values, max_size=6))
    if draw(st.integers(0, 3)):  # mostly a real symbol, so the handlers' own checks run
        params["symbol"] = draw(st.sampled_from(["BTCUSDT", "ETHUSDT"]))
    return method, path, params, draw(st.booleans())


def _query(venue: Venue, params: dict[str, str], signed: bool) -> tuple[str, dict[str, str]]:
    if not signed:
        return "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items()), {}
    params = {**params, "timestamp": str(int(time.time() * 1000))}
    text = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
    return text + "&signature=" + sign(venue.api_secret, text), {API_KEY_HEADER: venue.api_key}


@FUZZ
@given(data=st.data())
def test_no_route_answers_5xx_whatever_the_parameters(venue: Venue, data: st.DataObject) -> None:
    method, path, params, signed = data.draw(venue_calls(venue.routes))
    query, headers = _query(venue, params, signed)
    status, body = venue.send(method, f"{path}?{query}" if query else path, headers)
    assert status < 500, (method, path, params, signed, status, body)
    if status != 200:
        assert isinstance(body, dict) and isinstance(body.get("code"), int), body
        assert isinstance(body.get("msg"), str), body


# ---- market streams -------------------------------------------------------------------------

_methods = st.sampled_from(
    ["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY", "X", ""]
)
_stream_names = st.one_of(
    st.sampled_from(
        [
            "btcusdt@depth",
            "btcusdt@bookTicker",
            "ethusdt@depth5@100ms",
            "nope@depth",
            "btcusdt@ticker",
            "combined",
        ]
    ),
    st.text(max_size=20),
)
control_messages = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "method": st.one_of(_methods, json_values),
            "params": st.one_of(
                st.lists(st.one_of(_stream_names, json_values), max_size=4), json_values
            ),
            "id": st.one_of(st.integers(min_value=-5, max_value=2**65), json_values),
        },
    ).map(json.dumps),
    json_values.map(json.dumps),
    st.integers(min_value=33, max_value=30_000).map(deep_json),
    st.text(max_size=30),
)


async def _control(venue: Venue, messages: list[str]) -> list[Any]:
    url = "ws" + venue.engine.url.removeprefix("http") + "/public/ws"
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        answers = []
        for text in [*messages, json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4242})]:
            await ws.send_str(text)
            while True:  # pushes of what got subscribed may come first
                msg = await ws.receive(timeout=TIMEOUT)
                assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, text[:80])
                answer = json.loads(msg.data)
                if "result" in answer or "error" in answer:
                    answers.append(answer)
                    break
        return answers


@FUZZ
@given(messages=st.lists(control_messages, min_size=1, max_size=4))
@example(messages=[deep_json(20_000)])  # was a RecursionError: the connection dropped
def test_market_streams_answer_every_message_and_keep_serving(
    venue: Venue, messages: list[str]
) -> None:
    answers = venue.engine.run(_control(venue, messages))
    assert len(answers) == len(messages) + 1
    assert answers[-1]["id"] == 4242 and isinstance(answers[-1]["result"], list), answers[-1]
