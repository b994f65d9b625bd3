"""The engine's entry points and configuration: real clock and scenario speed, `serve`,
engine.toml validation, BLPs from the config."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest
from server_helpers import Api, BLPCreds, Stream

from blp_client import models as m
from blp_client.engine.config import ConfigError, load_config
from blp_client.engine.server import serve, start_engine


async def _until(cond: object, timeout: float = 10.0) -> None:
    """Await a condition (polled on the event loop) with a deadline."""
    async with asyncio.timeout(timeout):
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_real_clock_runs_the_scenario_at_speed() -> None:
    eng = await start_engine(
        port=0, clock="real", speed=20.0, scenario="calm", scenario_accounts=20
    )
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(eng, session)
            c0 = m.Clock.model_validate(await api.admin_ok("GET", "/clock"))
            assert c0.clock == "real"
            status = m.ScenarioStatus.model_validate(await api.admin_ok("GET", "/scenario"))
            assert status.running and status.name == "calm"
            svc = eng.service
            # 20x: ten engine seconds pass in about half a wall second
            await _until(lambda: svc.now_ms() >= c0.now_ms + 10_000)
            await _until(lambda: svc.scenario is not None and svc.scenario.next_step_ms
                         > c0.now_ms + 10_000)  # fmt: skip
            status, err = await api.admin("POST", "/clock/advance", {"ms": 1000})
            assert (status, err["code"]) == (409, "clock_not_manual")
    finally:
        await eng.stop()


async def test_serve_prints_url_and_token_and_stops_on_cancel(
    capsys: pytest.CaptureFixture[str],
) -> None:
    task = asyncio.create_task(serve(port=0, clock="manual", admin_token="tok-12345678"))
    out = ""

    def printed() -> bool:
        nonlocal out
        out += capsys.readouterr().out
        return "admin token" in out

    await _until(printed)
    url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", out)
    assert url is not None and "admin token: tok-12345678" in out
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url.group(1) + "/admin/v1/clock", headers={"X-ADMIN-TOKEN": "tok-12345678"}
        ) as r,
    ):
        assert r.status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    p = tmp_path / "engine.toml"
    p.write_text("[stream]\nsend_buffer = 0\n[rate_limit]\nper_secnd = 5\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "stream.send_buffer" in msg and "rate_limit.per_secnd" in msg
    p.write_text('instruments = ["BTC-PERP", "XRP-PERP"]\n')
    with pytest.raises(ConfigError, match="XRP-PERP"):
        load_config(p)
    p.write_text("this is = not toml =")
    with pytest.raises(ConfigError, match=r"engine\.toml"):
        load_config(p)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


async def test_config_file_blps_index_and_admin_token(tmp_path: Path) -> None:
    p = tmp_path / "engine.toml"
    p.write_text(
        """
admin_token = "admin-from-config"
insurance_fund = "250000"
[index]
BTC-PERP = "42000"
[program]
taker_fee = 0.0001
[[blps]]
name = "desk"
api_key = "blp_fixed_key_1"
api_secret = "fixed-secret-0123456789"
collateral = "500000"
minute_rate = "100000"
hour_rate = "300000"
max_position_notional = { BTC-PERP = "1000000" }
"""
    )
    eng = await start_engine(port=0, clock="manual", config_path=p)
    try:
        assert eng.admin_token == "admin-from-config"
        async with aiohttp.ClientSession() as session:
            api = Api(eng, session)
            stats = m.EngineStats.model_validate(await api.admin_ok("GET", "/stats"))
            assert stats.insurance_fund == 250000
            desk = BLPCreds(0, "blp_fixed_key_1", "fixed-secret-0123456789")
            prof = m.Profile.model_validate(await api.ok(desk, "GET", "/api/v1/blp/profile"))
            assert str(prof.fee_tier.taker) == "0.0001"
            mk = m.Market.model_validate(await api.ok(desk, "GET", "/api/v1/markets/BTC-PERP"))
            assert mk.index_price == 42000
            s = await Stream.open(api, desk, 0)
            [ev] = await s.events(1)
            assert ev["type"] == "profile" and ev["data"]["reason"] == "registered"
            await s.close()
    finally:
        await eng.stop()


def test_openapi_lists_exactly_the_served_routes() -> None:
    """docs/openapi.yaml and the app's router agree on every (method, path)."""
    from blp_client.engine.server import build_app
    from blp_client.engine.service import EngineService

    spec = (Path(__file__).parents[2] / "docs" / "openapi.yaml").read_text().splitlines()
    documented: set[tuple[str, str]] = set()
    path = None
    for line in spec:
        if re.match(r"^  /", line):
            path = line.strip().rstrip(":")
        elif path and (mm := re.match(r"^    (get|post|patch|delete|put):", line)):
            documented.add((mm.group(1).upper(), path))
        elif not line.startswith("  "):
            path = None
    svc = EngineService(clock="manual")
    try:
        app = build_app(svc)
        served = {
            (r.method, re.sub(r"\{(\w+)\}", "{}", r.resource.canonical))
            for r in app.router.routes()
            if r.resource is not None and r.method != "HEAD"
        }
    finally:
        svc.close()
    documented = {(m_, re.sub(r"\{(\w+)\}", "{}", p)) for m_, p in documented}
    served.discard(("GET", "/api/v1/stream"))  # the WebSocket: docs/protocol.md
    assert documented == served
