"""The admin API under `/admin/v1`, guarded by the `X-ADMIN-TOKEN` header: accounts (and the
orders they placed), BLP registration (and each BLP's log summary), index prices, the manual
clock, scenarios (status, resume, the live timeline point and report), forced liquidations,
counters, and the test-only stream fault (`faults.StreamFault`: tampered assignment prices)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import models as m
from ..errors import Conflict, ValidationError
from .http import json_response, parse_body, path_int, query_int, read_text
from .service import EngineService
from .simulate import to_json
from .stream import SERVICE_KEY
from .wire import account_model, market_model


def _svc(request: web.Request) -> EngineService:
    return request.app[SERVICE_KEY]


async def get_clock(request: web.Request) -> web.Response:
    svc = _svc(request)
    return json_response(m.Clock(now_ms=svc.now_ms(), clock=svc.clock.mode))


async def advance_clock(request: web.Request) -> web.Response:
    svc = _svc(request)
    req = parse_body(m.Advance, await read_text(request))
    if svc.clock.mode != "manual":
        raise Conflict("the engine runs on the real clock: start it with --clock manual",
                       "clock_not_manual")  # fmt: skip
    svc.advance_manual(req)
    return json_response(m.Clock(now_ms=svc.now_ms(), clock=svc.clock.mode))


async def create_accounts(request: web.Request) -> web.Response:
    svc = _svc(request)
    req = parse_body(m.CreateAccounts, await read_text(request))
    ids = svc.create_accounts(req)
    return json_response(m.AccountIds(account_ids=ids))


async def get_account(request: web.Request) -> web.Response:
    svc = _svc(request)
    return json_response(account_model(svc.exchange, path_int(request, "account_id")))


async def account_orders(request: web.Request) -> web.Response:
    svc = _svc(request)
    aid = path_int(request, "account_id")
    status = request.query.get("status", "all")
    if status not in ("open", "all"):
        raise ValidationError(f"status: must be 'open' or 'all', got {status!r}")
    limit = query_int(request, "limit", 1000, 0, 100_000)
    return json_response(svc.account_orders(aid, status, limit))


async def deposit(request: web.Request) -> web.Response:
    svc = _svc(request)
    aid = path_int(request, "account_id")
    req = parse_body(m.Deposit, await read_text(request))
    svc.exchange.deposit(aid, req.amount)
    svc.settle()
    return json_response(account_model(svc.exchange, aid))


async def register_blp(request: web.Request) -> web.Response:
    svc = _svc(request)
    req = parse_body(m.RegisterBLP, await read_text(request))
    rec = svc.register_blp(req)
    return json_response(
        m.Credentials(
            account_id=rec.account_id, api_key=rec.api_key, api_secret=rec.api_secret,
            name=rec.name,
        )
    )  # fmt: skip


async def list_blps(request: web.Request) -> web.Response:
    return json_response(m.CredentialsList(blps=_svc(request).credentials()))


async def get_blp(request: web.Request) -> web.Response:
    return json_response(_svc(request).blp_summary(path_int(request, "account_id")))


async def set_index(request: web.Request) -> web.Response:
    svc = _svc(request)
    req = parse_body(m.SetIndex, await read_text(request))
    if req.symbol not in svc.exchange.instruments:
        raise ValidationError(f"symbol: unknown symbol {req.symbol!r}", "unknown_symbol")
    svc.set_index(req)
    return json_response(market_model(svc.exchange, req.symbol))


async def start_scenario(request: web.Request) -> web.Response:
    svc = _svc(request)
    req = parse_body(m.ScenarioStart, await read_text(request))
    return json_response(svc.start_scenario(req))


async def get_scenario(request: web.Request) -> web.Response:
    return json_response(_svc(request).scenario_status())


async def stop_scenario(request: web.Request) -> web.Response:
    return json_response(_svc(request).stop_scenario())


async def resume_scenario(request: web.Request) -> web.Response:
    return json_response(_svc(request).resume_scenario())


def _plain_json(data: Any) -> web.Response:
    """A report dict as JSON (decimals as strings, as `blp simulate --json` writes them)."""
    return web.Response(text=to_json(data), content_type="application/json")


async def scenario_sample(request: web.Request) -> web.Response:
    return _plain_json(_svc(request).scenario_sample())


async def scenario_report(request: web.Request) -> web.Response:
    return _plain_json(_svc(request).scenario_report())


async def stats(request: web.Request) -> web.Response:
    return json_response(_svc(request).stats())


async def force_liquidations(request: web.Request) -> web.Response:
    svc = _svc(request)
    req = parse_body(m.ForceLiquidations, await read_text(request))
    return json_response(svc.force_liquidations(req))


async def get_stream_fault(request: web.Request) -> web.Response:
    return json_response(_svc(request).stream_fault_state())


async def put_stream_fault(request: web.Request) -> web.Response:
    svc = _svc(request)
    req = parse_body(m.StreamFaults, await read_text(request))
    return json_response(svc.set_stream_fault(req))


def add_admin_routes(app: web.Application, prefix: str = "/admin/v1") -> None:
    app.router.add_get(f"{prefix}/clock", get_clock)
    app.router.add_post(f"{prefix}/clock/advance", advance_clock)
    app.router.add_post(f"{prefix}/accounts", create_accounts)
    app.router.add_get(f"{prefix}/accounts/{{account_id}}", get_account)
    app.router.add_get(f"{prefix}/accounts/{{account_id}}/orders", account_orders)
    app.router.add_post(f"{prefix}/accounts/{{account_id}}/deposit", deposit)
    app.router.add_post(f"{prefix}/blps", register_blp)
    app.router.add_get(f"{prefix}/blps", list_blps)
    app.router.add_get(f"{prefix}/blps/{{account_id}}", get_blp)
    app.router.add_post(f"{prefix}/index", set_index)
    app.router.add_post(f"{prefix}/scenario", start_scenario)
    app.router.add_get(f"{prefix}/scenario", get_scenario)
    app.router.add_delete(f"{prefix}/scenario", stop_scenario)
    app.router.add_post(f"{prefix}/scenario/resume", resume_scenario)
    app.router.add_get(f"{prefix}/scenario/sample", scenario_sample)
    app.router.add_get(f"{prefix}/scenario/report", scenario_report)
    app.router.add_get(f"{prefix}/stats", stats)
    app.router.add_post(f"{prefix}/liquidations/force", force_liquidations)
    app.router.add_get(f"{prefix}/faults/stream", get_stream_fault)
    app.router.add_put(f"{prefix}/faults/stream", put_stream_fault)
