"""The status page's HTTP side against a real bot: a real engine (e2e harness) and the bot
daemon in this event loop, its `status()` served by `start_status_page` on 127.0.0.1.

/status.json is exactly `status()`, /events pushes it as it changes, every answer carries the
strict CSP, unknown paths and writes answer JSON errors, the socket is bound to 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from blp_client.bot.config import load_config
from blp_client.bot.daemon import Bot, BotOptions
from blp_client.bot.statuspage import CSP, StatusPage, start_status_page

from .e2e_harness import Stack, wait_for


@contextlib.asynccontextmanager
async def running_bot(stack: Stack, name: str = "page") -> AsyncIterator[Bot]:
    """The bot daemon in this event loop (ImmediateHedge through ccxt to the local venue)."""
    config = load_config(stack.write_config(name))
    bot = Bot(
        config,
        env=stack.bot_env(),
        options=BotOptions(market_refresh_ms=100, monitor_ms=1000, reconcile_ms=500),
    )
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture
async def bot(stack: Stack) -> AsyncIterator[Bot]:
    async with running_bot(stack) as b:
        yield b


@pytest.fixture
async def page(bot: Bot) -> AsyncIterator[StatusPage]:
    p = await start_status_page(bot.status, interval_s=0.1)
    try:
        yield p
    finally:
        await p.stop()


async def get(url: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, dict(r.headers), await r.read()


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str, str]]:
    """(id, event, data) of each server-sent event on an open /events response."""
    ev_id = event = ""
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if data:
                yield ev_id, event, "\n".join(data)
            ev_id, event, data = "", "", []
        elif line.startswith("id: "):
            ev_id = line[4:]
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


async def test_status_json_is_the_bots_status(stack: Stack, bot: Bot, page: StatusPage) -> None:
    assert await stack.force(6, qty="0.01") > 0
    stack.requote()

    async def hedged() -> bool:
        st = bot.status()
        return bool(st["assignments"]["count"]) and not st["orders"]["open"]

    await wait_for(hedged, 30, "the bot to take and hedge assignments")
    await wait_for(lambda: _settled(bot), 10, "the bot's status to settle")

    code, headers, body = await get(page.url + "status.json")
    assert code == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == json.loads(json.dumps(bot.status()))
    st = json.loads(body)
    assert st["assignments"]["count"] > 0 and st["recent_assignments"]
    assert headers["Content-Security-Policy"] == CSP
    assert headers["Cache-Control"] == "no-store"


async def _settled(bot: Bot) -> bool:
    """Two status() calls 100 ms apart agree (no order in flight, market data quiet)."""
    a = json.dumps(bot.status(), sort_keys=True)
    await asyncio.sleep(0.1)
    return a == json.dumps(bot.status(), sort_keys=True)


async def test_events_stream_live_updates(stack: Stack, bot: Bot, page: StatusPage) -> None:
    seen: list[dict[str, Any]] = []
    ids: list[int] = []
    async with aiohttp.ClientSession() as s, s.get(page.url + "events") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/event-stream"
        assert r.headers["Content-Security-Policy"] == CSP
        forced = False
        async with asyncio.timeout(30):
            async for ev_id, event, data in sse_events(r):
                assert event == "status"
                ids.append(int(ev_id))
                seen.append(json.loads(data))
                if not forced:  # the first snapshot is the bot before any flow
                    assert seen[0]["running"] is True and seen[0]["assignments"]["count"] == 0
                    assert await stack.force(5, qty="0.01") > 0
                    stack.requote()
                    forced = True
                if seen[-1]["assignments"]["count"] >= 5 and not seen[-1]["orders"]["open"]:
                    break
    assert ids == sorted(set(ids)), "event ids go up"
    assert len(seen) >= 2
    assert seen[-1]["last_seq"] > seen[0]["last_seq"]
    assert seen[-1]["recent_assignments"][-1]["hedges"], "the last assignment was hedged"


async def test_page_and_assets_are_local_with_csp(page: StatusPage) -> None:
    code, headers, body = await get(page.url)
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    html = body.decode()
    assert "://" not in html, "no absolute URL: everything comes from this server"
    for asset, ctype in (
        ("status.js", "text/javascript"),
        ("status.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ):
        assert f"/static/{asset}" in html
        code, headers, body = await get(page.url + "static/" + asset)
        assert code == 200 and headers["Content-Type"].startswith(ctype), asset
        assert headers["Content-Security-Policy"] == CSP
        assert b"https://" not in body and b"@import" not in body, asset
    assert "'unsafe-inline'" not in CSP and "default-src 'none'" in CSP


async def test_unknown_paths_and_writes_answer_json(page: StatusPage) -> None:
    for path in ("nope", "static/nope.js", "static/../statuspage.py", "status"):
        code, headers, body = await get(page.url + path)
        assert code == 404, path
        assert headers["Content-Type"].startswith("application/json")
        assert headers["Content-Security-Policy"] == CSP
        assert json.loads(body)["error"] == "not found"
    async with aiohttp.ClientSession() as s:
        async with asyncio.timeout(5), s.head(page.url + "events") as r:
            assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"
        for method in ("POST", "PUT", "DELETE"):
            async with s.request(method, page.url + "status.json") as r:
                assert r.status == 405
                assert (await r.json())["error"].startswith("read-only")


async def test_binds_loopback_only(page: StatusPage) -> None:
    assert page.url.startswith("http://127.0.0.1:") and page.host == "127.0.0.1"
    addrs = page.runner.addresses
    assert [a[0] for a in addrs] == ["127.0.0.1"]
    # the port is not reachable on this machine's other addresses
    for ip in own_addresses() - {"127.0.0.1"}:
        with pytest.raises(OSError), socket.create_connection((ip, page.port), timeout=1):
            pass


def own_addresses() -> set[str]:
    """This machine's IPv4 addresses: its hostname's and the one a route out would use."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        found |= {
            str(a[4][0]) for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        }
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.connect(("10.255.255.255", 1))  # picks a source address, sends nothing
        found.add(str(u.getsockname()[0]))
    return found


class Evolving:
    """A status provider that changes every call (and fails when told to)."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def __call__(self) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("journal closed")
        self.calls += 1
        return {"last_seq": self.calls, "running": True}


async def test_failing_provider_and_stop_with_open_stream() -> None:
    provider = Evolving()
    p = await start_status_page(provider, interval_s=0.05)
    async with aiohttp.ClientSession() as s, s.get(p.url + "events") as r:
        first = await anext(sse_events(r))
        assert json.loads(first[2])["running"] is True
        provider.fail = True
        code, _, body = await get(p.url + "status.json")
        assert code == 503 and "journal closed" in json.loads(body)["error"]
        provider.fail = False
        code, _, _ = await get(p.url + "status.json")
        assert code == 200
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await p.stop()  # an open /events stream does not hold up the stop
        assert loop.time() - t0 < 1.5
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(p.url)


async def test_rejects_bad_interval() -> None:
    with pytest.raises(ValueError):
        await start_status_page(Evolving(), interval_s=0)
