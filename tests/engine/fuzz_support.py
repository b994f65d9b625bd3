"""Shared parts of the fuzz suites: an engine served from its own event loop in a thread (so
blocking clients — schemathesis, hypothesis' synchronous examples — can call it), and the
hypothesis strategies for what a client may send: WebSocket stream messages and admin bodies.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import strategies as st

from blp_client.engine.config import EngineConfig
from blp_client.engine.server import RunningEngine, start_engine

T = TypeVar("T")

MAX_MESSAGE = 1 << 16  # the engine's default max_message_bytes (1009 above it)
BAD_DECIMALS = ["1e400", "1" * 32, " 1 ", "1_000", "+0.001", "\uff11", "1\n", "NaN", "-0.1e2"]
GOOD_DECIMALS = ["0", "1", "0.001", "50000", "-5", "123456789.123456789"]


class ThreadedEngine:
    """A real engine on 127.0.0.1 whose event loop runs in a daemon thread; `run(coro)` runs a
    coroutine there and waits for it (bounded)."""

    def __init__(self, config: EngineConfig, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="engine", daemon=True)
        self.thread.start()
        self.engine: RunningEngine = self.run(
            start_engine(port=0, clock="manual", config=config, **kwargs)
        )

    @property
    def url(self) -> str:
        return self.engine.url

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def stop(self) -> None:
        try:
            self.run(self.engine.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


# ---- JSON values, scalars first: what a decimal, an integer or a name field may receive -----

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 2**64, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(BAD_DECIMALS + GOOD_DECIMALS),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


# raw texts no JSON parser should be handed unchecked: deep nesting, non-finite numbers,
# lone surrogates, truncations
hostile_texts = st.one_of(
    st.integers(min_value=33, max_value=5_000).map(deep_json),
    st.integers(min_value=33, max_value=2_000).map(lambda d: '{"op":' + deep_json(d) + "}"),
    st.sampled_from(["", "{", "nul", '{"op":NaN}', '{"op":"ping","ts":Infinity}', '"\\ud800"']),
    st.text(max_size=40),
)


def _object(keys: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of `keys` (each with its own values) and maybe a stray key."""
    return st.fixed_dictionaries({}, optional={**keys, "extra": json_values})


# ---- WebSocket messages, client -> engine ---------------------------------------------------

_ops = st.sampled_from(["auth", "subscribe", "ping", "pong", "ack", "unsubscribe", "", "AUTH"])
ws_objects = st.one_of(
    _object(
        {
            "op": st.one_of(_ops, json_values),
            "key": json_values,
            "timestamp": json_values,
            "signature": st.one_of(st.text(max_size=70), json_values),
            "from_seq": json_values,
            "ts": json_values,
            "seq": json_values,
        }
    ),
    st.builds(
        lambda op, extra: {"op": op, **extra},
        _ops,
        st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    ),
)
oversized = st.just(json.dumps({"op": "ping", "ts": 1, "pad": "x" * MAX_MESSAGE}))
ws_frames = st.one_of(
    ws_objects.map(json.dumps),
    json_values.map(json.dumps),  # lists, strings, numbers: not an object
    hostile_texts,
    oversized,
)
ws_messages = st.lists(ws_frames, min_size=1, max_size=4)


# ---- admin bodies ---------------------------------------------------------------------------

_decimal = st.one_of(st.sampled_from(BAD_DECIMALS + GOOD_DECIMALS), json_values)
_symbol = st.one_of(st.sampled_from(["BTC-PERP", "ETH-PERP", "NOPE", ""]), json_values)
_count = st.one_of(st.sampled_from([0, 1, 2, -1, 10**6, "1", 1.5, True]), st.none())

ADMIN_BODIES: dict[tuple[str, str], st.SearchStrategy[dict[str, Any]]] = {
    ("POST", "/admin/v1/index"): _object({"symbol": _symbol, "price": _decimal}),
    ("POST", "/admin/v1/accounts/{account}/deposit"): _object({"amount": _decimal}),
    ("POST", "/admin/v1/accounts"): _object(
        {
            "kind": st.one_of(st.sampled_from(["trader", "market_maker", "blp"]), json_values),
            "collateral": _decimal,
            "count": _count,
            "counterparty_id": json_values,
            "positions": st.lists(
                _object({"symbol": _symbol, "qty": _decimal, "price": _decimal}), max_size=2
            ),
        }
    ),
    ("POST", "/admin/v1/blps"): _object(
        {
            "account_id": json_values,
            "collateral": _decimal,
            "minute_rate": _decimal,
            "hour_rate": _decimal,
            "max_position_notional": st.one_of(
                st.dictionaries(_symbol.filter(lambda s: isinstance(s, str)), _decimal, max_size=2),
                json_values,
            ),
            "name": json_values,
        }
    ),
    ("POST", "/admin/v1/clock/advance"): _object(
        {
            "ms": st.one_of(st.sampled_from([0, -1, 2**63, 10**30, "5"]), json_values),
            "to_ms": json_values,
        }
    ),
    ("POST", "/admin/v1/liquidations/force"): _object(
        {
            "symbol": _symbol,
            "count": _count,
            "qty": _decimal,
            "side": st.one_of(st.sampled_from(["long", "short", "alternate"]), json_values),
        }
    ),
    ("POST", "/admin/v1/venue/keys"): _object(
        {
            "account_id": json_values,
            "collateral": _decimal,
            "api_key": json_values,
            "api_secret": json_values,
        }
    ),
    ("PUT", "/admin/v1/venue/faults"): _object(
        {
            "latency_ms": json_values,
            "burst_status": st.one_of(st.sampled_from([429, 418, 200, 999]), json_values),
            "stall_ms": json_values,
            "lost_response_rate": json_values,
            "partial_fill_rate": json_values,
            "lost_mode": st.one_of(st.sampled_from(["drop", "stall"]), json_values),
        }
    ),
    ("POST", "/admin/v1/venue/faults/burst"): _object({"length": _count}),
    ("PUT", "/admin/v1/faults/stream"): _object(
        {"assignment_price_bps": _decimal, "assignments": _count}
    ),
    ("PUT", "/admin/v1/venue/limits"): _object(
        {
            "enabled": json_values,
            "request_weight_per_minute": _count,
            "orders_per_10s": _count,
            "per": st.one_of(st.sampled_from(["ip", "key"]), json_values),
        }
    ),
}


def admin_payloads() -> st.SearchStrategy[bytes]:
    """A body as sent: a JSON encoding of a generated value (or a hostile text), as UTF-8
    bytes, sometimes not UTF-8 at all."""
    return st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        hostile_texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=16),
    )
