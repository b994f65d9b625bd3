"""`ClientStreamProtocol` on its own: hand-made message sequences in, actions out. No sockets,
no tasks, no sleeps; time is an argument."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from blp_client import models as m
from blp_client.auth import sign_stream
from blp_client.errors import AuthError, StreamError
from blp_client.stream_protocol import (
    ClientAction,
    ClientStreamProtocol,
    Close,
    Connected,
    Deliver,
    Fail,
    FetchPage,
    Reconnect,
    Send,
    State,
    StreamSettings,
)

SETTINGS = StreamSettings(
    url="ws://127.0.0.1:1/api/v1/stream",
    key="blp_k",
    secret="s3cret",
    heartbeat_interval=5.0,
    heartbeat_timeout=15.0,
    handshake_timeout=10.0,
    reconnect_base=0.5,
    reconnect_max=4.0,
    history_page=1000,
)


class Top(random.Random):
    """uniform(a, b) → b: each backoff delay is its ceiling, so delays are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


def new(from_seq: int = 0, **kw: Any) -> ClientStreamProtocol:
    settings = kw.pop("settings", SETTINGS)
    return ClientStreamProtocol(settings, from_seq, rng=Top(), **kw)


def event(seq: int, type_: str = "profile") -> str:
    data: dict[str, Any] = {
        "account_id": 3, "minute_rate": "1", "hour_rate": "1",
        "max_position_notional": {}, "opted_in": True, "reason": "registered",
    }  # fmt: skip
    return json.dumps(
        {"op": "event", "seq": seq, "id": f"ev-{seq}", "type": type_, "ts": 1, "data": data}
    )


def subscribed(from_seq: int, last_seq: int, log_id: str | None = "log-a") -> str:
    msg = {"op": "subscribed", "from_seq": from_seq, "last_seq": last_seq, "log_id": log_id}
    return json.dumps(msg)


def error(code: str, message: str = "no") -> str:
    return json.dumps({"op": "error", "code": code, "message": message})


AUTH_OK = '{"op":"auth","ok":true}'


def sent(actions: list[ClientAction]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def seqs(actions: list[ClientAction]) -> list[int]:
    return [a.event.seq for a in actions if isinstance(a, Deliver)]


def streaming(p: ClientStreamProtocol, last_seq: int, *, ts: int = 1000) -> None:
    """Connect, authenticate and subscribe `p` (from its last seq)."""
    p.connection_made(ts, now=0.0)
    p.receive(AUTH_OK)
    p.receive(subscribed(p.last_seq, last_seq))
    assert p.state is State.STREAMING


def test_auth_then_subscribe_from_the_last_seq() -> None:
    p = new(from_seq=7)
    [auth] = sent(p.connection_made(1700000000000, now=0.0))
    assert auth == {
        "op": "auth", "key": "blp_k", "timestamp": 1700000000000,
        "signature": sign_stream("s3cret", 1700000000000),
    }  # fmt: skip
    assert sent(p.receive(AUTH_OK)) == [{"op": "subscribe", "from_seq": 7}]
    out = p.receive(subscribed(7, 9))
    assert out == [Connected("log-a", 7, 9)]
    assert p.state is State.STREAMING and p.log_id == "log-a"
    assert p.stats["connects"] == 1


def test_replay_then_live_in_order_and_pings_answered() -> None:
    p = new()
    streaming(p, last_seq=2)
    assert seqs(p.receive(event(1))) == [1]
    assert seqs(p.receive(event(2))) == [2]  # the end of the replay: live from here
    assert sent(p.receive('{"op":"ping","ts":42}')) == [{"op": "pong", "ts": 42}]
    assert p.receive('{"op":"pong","ts":1}') == []
    assert seqs(p.receive(event(3, "profile"))) == [3]
    assert p.last_seq == 3


@pytest.mark.parametrize("code", ["invalid_signature", "invalid_api_key"])
def test_a_refused_key_or_signature_fails_at_once(code: str) -> None:
    p = new()
    p.connection_made(1, now=0.0)
    [fail] = p.receive(error(code, "refused"))
    assert isinstance(fail, Fail) and isinstance(fail.error, AuthError)
    assert fail.error.code == code
    assert p.state is State.FAILED and p.stats["reconnects"] == 0


@pytest.mark.parametrize("code", ["auth_timeout", "stale_timestamp", "replayed_request"])
def test_a_transient_auth_refusal_reconnects_with_backoff(code: str) -> None:
    p = new(from_seq=4)
    p.connection_made(1, now=0.0)
    [again] = p.receive(error(code))
    assert again == Reconnect("auth_" + code, 0.5)
    assert p.stats["reconnects"] == 1
    # the close 4001 that follows the error belongs to a connection already given up
    assert p.connection_lost(4001, "authentication failed") == []
    p.connection_made(2, now=1.0)  # a fresh timestamp and signature
    [again] = p.receive(error(code))
    assert again == Reconnect("auth_" + code, 1.0)  # doubled
    [auth] = sent(p.connection_made(3, now=2.0))
    assert auth["timestamp"] == 3
    p.receive(AUTH_OK)
    p.receive(subscribed(4, 4))
    assert p.state is State.STREAMING


def test_a_malformed_auth_refused_by_the_server_is_fatal() -> None:
    p = new()
    p.connection_made(1, now=0.0)
    [fail] = p.receive(error("bad_request", "invalid auth: timestamp: Field required"))
    assert isinstance(fail, Fail) and isinstance(fail.error, StreamError)
    assert fail.error.code == "bad_stream_request" and p.stats["reconnects"] == 0


def test_a_4001_close_without_an_error_is_fatal() -> None:
    p = new()
    p.connection_made(1, now=0.0)
    [fail] = p.connection_lost(4001, "authentication failed")
    assert isinstance(fail, Fail) and isinstance(fail.error, AuthError)


def test_a_gap_is_fetched_from_the_history_and_filled_in_order() -> None:
    settings = StreamSettings(url="ws://x", key="k", secret="s", history_page=2)
    p = new(settings=settings)
    streaming(p, last_seq=0)
    assert seqs(p.receive(event(1))) == [1]
    out = p.receive(event(6))  # 2..5 missing
    assert out == [FetchPage(1, 2)]
    assert p.stats["gaps"] == 1
    page = m.EventPage.model_validate_json(
        f'{{"events":[{event(2)},{event(3)}],"next_from_seq":3,"last_seq":6}}'
    )
    out = p.page_received(page)
    assert seqs(out) == [2, 3] and out[-1] == FetchPage(3, 2)
    page = m.EventPage.model_validate_json(
        f'{{"events":[{event(4)},{event(5)}],"next_from_seq":5,"last_seq":6}}'
    )
    assert seqs(p.page_received(page)) == [4, 5, 6]  # the held 6 follows
    assert p.stats["gap_events_filled"] == 4 and p.last_seq == 6
    assert seqs(p.receive(event(7))) == [7]


def test_a_gap_the_history_cannot_fill_resubscribes() -> None:
    p = new()
    streaming(p, last_seq=0)
    p.receive(event(1))
    assert p.receive(event(4)) == [FetchPage(1, 2)]
    page = m.EventPage.model_validate_json(
        f'{{"events":[{event(2)}],"next_from_seq":null,"last_seq":4}}'
    )
    out = p.page_received(page)
    assert seqs(out) == [2]
    assert out[-1] == Reconnect("gap_unfilled", 0.5)
    streaming(p, last_seq=4)  # from seq 2
    # ... and a fetch that fails resubscribes too
    assert p.receive(event(5)) == [FetchPage(2, 2)]
    assert p.page_failed("connection_failed: boom") == [Reconnect("gap_fill_failed", 1.0)]
    assert p.last_seq == 2


def test_the_resubscription_starts_after_the_last_delivered_seq() -> None:
    p = new()
    streaming(p, last_seq=3)
    p.receive(event(1))
    p.receive(event(2))
    assert isinstance(p.connection_lost(4008, "slow consumer")[0], Reconnect)
    p.connection_made(2, now=1.0)
    assert sent(p.receive(AUTH_OK)) == [{"op": "subscribe", "from_seq": 2}]
    assert p.receive(subscribed(2, 3)) == [Connected("log-a", 2, 3)]
    assert seqs(p.receive(event(3))) == [3]


def test_duplicates_are_dropped_and_counted() -> None:
    p = new()
    streaming(p, last_seq=2)
    assert seqs(p.receive(event(1))) == [1]
    assert p.receive(event(1)) == []
    assert seqs(p.receive(event(2))) == [2]
    assert p.receive(event(2)) == [] and p.receive(event(1)) == []
    assert p.stats["duplicates"] == 3


def test_an_unknown_event_type_skips_its_seq() -> None:
    p = new()
    streaming(p, last_seq=3)
    p.receive(event(1))
    assert p.receive(event(2, "rebate")) == []  # a type of a later protocol version
    assert seqs(p.receive(event(3))) == [3]
    assert p.stats["gaps"] == 0


def test_heartbeat_pings_then_silence_reconnects_with_backoff() -> None:
    p = new()
    streaming(p, last_seq=0)
    assert p.timer(now=4.0, silent_for=4.0, wall_ms=99) == []
    assert sent(p.timer(now=5.0, silent_for=5.0, wall_ms=100)) == [{"op": "ping", "ts": 100}]
    assert p.timer(now=6.0, silent_for=6.0, wall_ms=101) == []  # next ping at 10
    # a consumer busy with an event is not silence: the glue reports 0 while not waiting
    assert p.timer(now=9.0, silent_for=0.0, wall_ms=102) == []
    assert p.timer(now=16.0, silent_for=15.5, wall_ms=103) == [Close("heartbeat_timeout")]
    assert p.stats["silent"] == 1
    assert p.receive(event(1)) == []  # in flight on the connection we dropped
    assert p.connection_lost(None, "closed") == [Reconnect("heartbeat_timeout", 0.5)]
    assert p.last_seq == 0
    p.connection_made(2, now=20.0)
    assert p.connection_lost(None, "reset") == [Reconnect("transport_error", 1.0)]
    p.connect_failed("ClientConnectorError: refused")
    assert p.stats["reconnects"] == 3
    streaming(p, last_seq=2)
    assert p.receive(event(1)) == [Deliver(p_event(1))]  # delivering resets the backoff
    assert p.connection_lost(1001, "engine shutting down") == [Reconnect("closed", 0.5)]


def p_event(seq: int) -> m.Event:
    return m.EVENT_ADAPTER.validate_json(event(seq))


def test_the_backoff_is_capped() -> None:
    p = new()
    delays = [p.connect_failed("refused")[0] for _ in range(6)]
    assert [d.delay for d in delays if isinstance(d, Reconnect)] == [0.5, 1, 2, 4, 4, 4]


def test_a_handshake_that_takes_too_long_is_dropped() -> None:
    p = new()
    p.connection_made(1, now=100.0)
    assert p.timer(now=105.0, silent_for=5.0, wall_ms=1) == []
    p.receive(AUTH_OK)  # subscribing now
    assert p.timer(now=110.5, silent_for=5.0, wall_ms=1) == [Close("handshake_timeout")]
    assert p.receive(subscribed(0, 5)) == []  # too late
    assert p.connection_lost(1000, "") == [Reconnect("handshake_timeout", 0.5)]


def test_a_different_log_fails() -> None:
    p = new(from_seq=5, log_id="log-a")
    p.connection_made(1, now=0.0)
    p.receive(AUTH_OK)
    [fail] = p.receive(subscribed(5, 9, log_id="log-b"))
    assert isinstance(fail, Fail) and isinstance(fail.error, StreamError)
    assert fail.error.code == "log_changed"
    # the first log seen is the one a later connection must match
    p = new()
    streaming(p, last_seq=1)
    p.receive(event(1))
    p.connection_lost(1001)
    p.connection_made(2, now=1.0)
    p.receive(AUTH_OK)
    [fail] = p.receive(subscribed(1, 3, log_id="log-new"))
    assert isinstance(fail, Fail) and fail.error.code == "log_changed"


def test_a_server_behind_our_seq_fails() -> None:
    p = new(from_seq=10)
    p.connection_made(1, now=0.0)
    p.receive(AUTH_OK)
    [fail] = p.receive(subscribed(10, 3))
    assert isinstance(fail, Fail) and fail.error.code == "server_behind"


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(4002, "bad_stream_request"), (1009, "too_big"), (4008, None), (4010, None), (1000, None)],
)
def test_close_codes(code: int, outcome: str | None) -> None:
    p = new()
    streaming(p, last_seq=0)
    [action] = p.connection_lost(code, "why")
    if outcome is None:
        assert action == Reconnect("closed", 0.5)
    else:
        assert isinstance(action, Fail) and isinstance(action.error, StreamError)
        assert action.error.code == outcome


def test_a_refused_upgrade_fails_but_an_unavailable_one_retries() -> None:
    p = new()
    [fail] = p.connect_failed("HTTP 404", status=404)
    assert isinstance(fail, Fail) and fail.error.code == "handshake_refused"
    p = new()
    assert p.connect_failed("HTTP 503", status=503) == [Reconnect("handshake", 0.5)]


def test_malformed_or_unexpected_messages_reconnect() -> None:
    p = new()
    streaming(p, last_seq=0)
    assert p.receive("not json") == [Reconnect("malformed_message", 0.5)]
    p.connection_made(2, now=0.0)
    assert p.receive(event(1)) == [Reconnect("unexpected_message", 1.0)]  # before auth
    p.connection_made(3, now=0.0)
    p.receive(AUTH_OK)
    [fail] = p.receive(error("invalid_request", "from_seq: bad"))  # the subscribe refused
    assert isinstance(fail, Fail) and fail.error.code == "invalid_request"


def test_a_server_error_while_streaming_is_only_logged() -> None:
    p = new()
    streaming(p, last_seq=0)
    assert p.receive(error("already_subscribed")) == []
    assert p.state is State.STREAMING
