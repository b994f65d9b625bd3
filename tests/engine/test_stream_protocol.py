"""`ServerStreamProtocol` on its own: hand-made client messages, time and feed events in,
actions out. No sockets, no tasks, no sleeps; the clocks are injected."""

from __future__ import annotations

import json
from typing import Any

import pytest

from blp_client.engine.stream_protocol import (
    MAX_JSON_DEPTH,
    Authenticate,
    Close,
    Pause,
    Resume,
    Send,
    ServerState,
    ServerStreamProtocol,
    StartFeed,
    json_depth_exceeds,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.ms = 1_700_000_000_000

    def __call__(self) -> float:
        return self.now

    def wall(self) -> int:
        return self.ms


def new(clock: Clock | None = None, **kw: Any) -> tuple[ServerStreamProtocol, Clock]:
    c = clock or Clock()
    opts: dict[str, Any] = {
        "ping_interval_s": 10.0, "idle_timeout_s": 60.0, "auth_timeout_s": 5.0,
        "send_window_bytes": 4000,
    }  # fmt: skip
    opts.update(kw)
    return ServerStreamProtocol(clock=c, wall_ms=c.wall, **opts), c


def sent(actions: Any) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def closes(actions: Any) -> list[Close]:
    return [a for a in actions if isinstance(a, Close)]


AUTH = json.dumps({"op": "auth", "key": "blp_k", "timestamp": 1, "signature": "ab"})


def subscribed(p: ServerStreamProtocol, from_seq: int = 0) -> None:
    assert p.receive(AUTH) == [Authenticate("blp_k", 1, "ab")]
    assert sent(p.auth_accepted("blp_k")) == [{"op": "auth", "ok": True}]
    assert p.receive(json.dumps({"op": "subscribe", "from_seq": from_seq})) == [StartFeed(from_seq)]
    [sub] = sent(p.feed_started(from_seq, 7, "log-a"))
    assert sub == {"op": "subscribed", "from_seq": from_seq, "last_seq": 7, "log_id": "log-a"}


def test_auth_subscribe_then_events() -> None:
    p, _ = new()
    subscribed(p, 3)
    assert p.state is ServerState.SUBSCRIBED and p.key == "blp_k"
    assert p.event_sent(300) == ()
    assert p.sent_events == 1 and p.sent_bytes == 300


def test_auth_refused_closes_4001_with_the_code() -> None:
    p, _ = new()
    p.receive(AUTH)
    out = p.auth_refused("invalid_signature", "signature does not match the request")
    assert sent(out) == [
        {"op": "error", "code": "invalid_signature",
         "message": "signature does not match the request"}
    ]  # fmt: skip
    assert closes(out) == [Close(4001, "signature does not match the request")]
    assert p.state is ServerState.CLOSED
    assert p.receive('{"op":"ping","ts":1}') == []  # nothing more once closed


def test_the_first_message_must_be_auth() -> None:
    p, _ = new()
    out = p.receive('{"op":"subscribe","from_seq":0}')
    assert sent(out)[0]["code"] == "auth_required" and closes(out)[0].code == 4001


def test_no_auth_in_time_closes_4001_auth_timeout() -> None:
    p, c = new()
    c.now += 4.9
    assert p.timer() == []
    c.now += 0.2
    out = p.timer()
    assert sent(out) == [
        {"op": "error", "code": "auth_timeout", "message": "send the auth op first"}
    ]
    assert closes(out) == [Close(4001, "auth not sent in time")]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "message is not JSON"),
        ("[1, 2]", "message is a JSON list, not an object"),
        ('"op"', "message is a JSON str, not an object"),
        ('{"op":"dance"}', "unknown op 'dance'"),
        ("[" * 10_000 + "]" * 10_000, f"message is nested deeper than {MAX_JSON_DEPTH} levels"),
        ('{"op":"ping","ts":' + "[" * 5000 + "]" * 5000 + "}", "nested deeper"),
        ('{"op":"auth","key":"k"}', "invalid auth: timestamp: Field required"),
    ],
)
def test_malformed_messages_close_4002_with_an_error(text: str, why: str) -> None:
    p, _ = new()
    out = p.receive(text)
    [err] = sent(out)
    assert err["op"] == "error" and err["code"] == "bad_request" and why in err["message"]
    [close] = closes(out)
    assert close.code == 4002 and why[:40] in close.reason


def test_malformed_after_auth_too_and_binary_frames() -> None:
    p, _ = new()
    subscribed(p)
    out = p.receive('{"op":"subscribe","from_seq":-1}')
    assert sent(out)[0]["message"].startswith("invalid subscribe: from_seq")
    assert closes(out)[0].code == 4002
    p, _ = new()
    subscribed(p)
    assert closes(p.receive_binary())[0].code == 4002


def test_a_second_subscribe_is_an_error_not_a_close() -> None:
    p, _ = new()
    subscribed(p)
    out = p.receive('{"op":"subscribe","from_seq":0}')
    assert sent(out)[0]["code"] == "already_subscribed" and closes(out) == []


def test_an_oversized_frame_closes_1009_with_a_reason() -> None:
    p, _ = new()
    subscribed(p)
    [close] = p.frame_refused(1009, "Message size 70000 exceeds limit 65536")
    assert close.code == 1009 and close.reason == "message too big"


def test_pings_both_ways_and_idle() -> None:
    p, c = new()
    subscribed(p)
    assert sent(p.receive('{"op":"ping","ts":12345}')) == [{"op": "pong", "ts": 12345}]
    c.now += 10
    [ping] = sent(p.timer())
    assert ping == {"op": "ping", "ts": c.ms}
    c.now += 5
    assert p.timer() == []
    c.now += 56  # 61 s after the client was last heard
    assert p.timer() == [Close(4010, "idle: nothing heard from the client")]


def test_the_send_window_pauses_until_pongs_confirm() -> None:
    p, _ = new()  # window 4000 bytes: a probe ping every 1000
    subscribed(p)
    assert p.event_sent(600) == ()
    [probe] = sent(p.event_sent(600))  # 1200 written: a probe
    assert probe["op"] == "ping"
    for _ in range(4):
        p.event_sent(600)  # 3600: one more probe on the way (at 2400)
    out = p.event_sent(600)  # 4200 written, none confirmed: pause (with a probe at the edge)
    assert [type(a) for a in out] == [Send, Pause] and p.paused
    pings = [json.loads(a.text)["ts"] for a in out if isinstance(a, Send)]
    # a pong for the first probe confirms 1200: 3000 unconfirmed, under the window: resume
    assert p.receive(json.dumps({"op": "pong", "ts": probe["ts"]})) == [Resume()]
    assert p.confirmed_bytes == 1200 and not p.paused
    # a pong for the last probe confirms everything written before it
    assert p.receive(json.dumps({"op": "pong", "ts": pings[-1]})) == []
    assert p.confirmed_bytes == 4200
    assert p.receive('{"op":"pong","ts":1}') == []  # an unknown or old ts changes nothing
    assert p.confirmed_bytes == 4200


def test_a_client_that_never_answers_stays_paused_until_overflow() -> None:
    p, _ = new()
    subscribed(p)
    paused_at = None
    for i in range(100):
        if any(isinstance(a, Pause) for a in p.event_sent(500)):
            paused_at = i + 1
            break
    assert paused_at == 8  # 4000 bytes: the window
    assert p.overflow() == [Close(4008, "slow consumer, resume from your last seq")]
    assert p.state is ServerState.CLOSED


def test_probe_pings_have_strictly_increasing_ts() -> None:
    p, _ = new(send_window_bytes=4096)
    subscribed(p)
    tss = []
    for _ in range(40):
        tss += [json.loads(a.text)["ts"] for a in p.event_sent(1024) if isinstance(a, Send)]
        if p.paused:
            assert p.receive(json.dumps({"op": "pong", "ts": tss[-1]})) == [Resume()]
    assert len(tss) >= 10 and tss == sorted(set(tss))  # same wall ms, still distinct


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("{}", False),
        ("[" * 32 + "]" * 32, False),
        ("[" * 33 + "]" * 33, True),
        ('{"a":"' + "[" * 100 + '"}', False),  # inside a string
        ('{"a":"\\"' + "[" * 100 + '"}', False),  # an escaped quote does not end it
        ("[" * 40, True),  # malformed, and deep already
    ],
)
def test_json_depth(text: str, deep: bool) -> None:
    assert json_depth_exceeds(text, 32) is deep
