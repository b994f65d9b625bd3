"""End-to-end harness: a real engine (BLP API + Binance facade) on 127.0.0.1 in the test's
event loop, and the bot daemon as a subprocess (`python -m blp_client.cli bot -c ...`) that
trades through the real ccxt `binanceusdm` class. Nothing of ours is mocked; every wait polls
a condition with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import aiohttp

from blp_client.engine.admin_client import admin_request
from blp_client.engine.config import (
    BLPSection,
    EngineConfig,
    FundingSection,
    ProgramSection,
    RateLimitSection,
)
from blp_client.engine.server import RunningEngine, start_engine

D = Decimal
ROOT = Path(__file__).resolve().parents[2]
SYM = "BTC-PERP"
LOT = D("0.001")
KEY, SECRET = "e2e-blp-key-0001", "e2e-blp-secret-000000000001"
INDEX = D(50_000)


async def wait_for(
    cond: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `cond` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await cond():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    engine: RunningEngine
    session: aiohttp.ClientSession
    tmp: Path
    venue_account: int = 0
    venue_key: str = ""
    venue_secret: str = ""
    blp_account: int = 0
    daemons: list[Daemon] = field(default_factory=list)
    venue_url: str | None = None  # a separate venue engine (default: this engine's facade)

    @property
    def url(self) -> str:
        return self.engine.url

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        token = self.engine.admin_token
        return await admin_request(self.session, self.url, token, method, path, body)

    def requote(self, depth: int = 40, size: str = "2", mid: Decimal = INDEX) -> None:
        """Fresh market-maker ladders around `mid`, the index by default (hedges consume
        them)."""
        svc = self.engine.service
        bids = [(mid - 5 * (i + 1), D(size)) for i in range(depth)]
        asks = [(mid + 5 * (i + 1), D(size)) for i in range(depth)]
        svc.exchange.replace_quotes(svc.house, SYM, bids, asks)
        svc.settle()

    async def force(self, count: int, qty: str = "0.01", side: str = "alternate") -> int:
        r = await self.admin(
            "POST", "/liquidations/force", {"symbol": SYM, "count": count, "qty": qty, "side": side}
        )
        return int(r["assignments"])

    def blp_last_seq(self) -> int:
        return self.engine.service.last_seq(KEY)

    def engine_assignment_seqs(self) -> list[int]:
        rows = self.engine.service.log.read_type(KEY, "assignment", 0, 1_000_000)
        return [seq for seq, _ in rows]

    def position(self, account_id: int) -> Decimal:
        acct = self.engine.service.exchange.account(account_id)
        p = acct.positions.get(SYM)
        return p.qty if p is not None else D(0)

    def venue_orders(self) -> list[Any]:
        return [
            o
            for o in self.engine.service.exchange.orders.values()
            if o.account_id == self.venue_account
        ]

    async def venue_requests(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = await self.admin("GET", "/venue/requests")
        return data

    def write_config(
        self,
        name: str,
        *,
        strategy: str = "immediate_hedge",
        params: dict[str, Any] | None = None,
        risk: dict[str, Any] | None = None,
        paper: bool | dict[str, Any] = False,
        execution: dict[str, Any] | None = None,
        top: dict[str, Any] | None = None,
        engine: dict[str, Any] | None = None,
        symbols: list[str] | None = None,
    ) -> Path:
        """A bot config for this stack; `top` and `engine` add or override keys of the root
        and the [engine] table."""
        params = params if params is not None else {"venues": ["binance"], "retry_ms": 300}
        risk = {
            "max_orders": 10_000,
            "max_net_exposure_notional": "100000000",
            "max_order_notional": "100000000",
            "max_venue_position_notional": "100000000",
            **(risk or {}),
        }
        port = free_port()

        def toml(v: Any) -> str:
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, int | float):
                return str(v)
            if isinstance(v, list):
                return "[" + ", ".join(toml(x) for x in v) + "]"
            if isinstance(v, dict):
                return "{ " + ", ".join(f'"{k}" = {toml(x)}' for k, x in v.items()) + " }"
            return json.dumps(str(v))

        root = {
            "journal": f"{name}.sqlite",
            "metrics_port": port,
            "from_seq": 0,
            "paper": paper,
            "log_level": "info",
            **(top or {}),
        }
        eng = {
            "url": self.url,
            "api_key_env": "E2E_BLP_KEY",
            "api_secret_env": "E2E_BLP_SECRET",
            "symbols": symbols or [SYM],
            **(engine or {}),
        }
        lines = [
            *(f"{k} = {toml(v)}" for k, v in root.items()),
            "[engine]",
            *(f"{k} = {toml(v)}" for k, v in eng.items()),
            "[venues.binance]",
            'ccxt_id = "binanceusdm"',
            'api_key_env = "E2E_VENUE_KEY"',
            'api_secret_env = "E2E_VENUE_SECRET"',
            # ccxt's default throttle (and the venue's Binance limits): as a desk runs it
            f"options = {toml({'local_url': self.venue_url or self.url, 'timeout': 3000})}",
            "[strategy]",
            f"class = {toml(strategy)}",
            f"params = {toml(params)}",
            "[risk]",
            *(f"{k} = {toml(v)}" for k, v in risk.items()),
            "[execution]",
            *(f"{k} = {toml(v)}" for k, v in (execution or {}).items()),
        ]
        path = self.tmp / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def bot_env(self) -> dict[str, str]:
        """The environment variables `write_config`'s config names for its keys."""
        return {
            "E2E_BLP_KEY": KEY,
            "E2E_BLP_SECRET": SECRET,
            "E2E_VENUE_KEY": self.venue_key,
            "E2E_VENUE_SECRET": self.venue_secret,
        }

    def daemon(self, config: Path, *, paper: bool = False) -> Daemon:
        d = Daemon(self, config, paper)
        self.daemons.append(d)
        return d


@dataclass
class Daemon:
    """The bot as a subprocess; its JSON logs go to `<config>.log` (appended across runs)."""

    stack: Stack
    config: Path
    paper: bool
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.config.with_suffix(".log")

    @property
    def journal_path(self) -> Path:
        return self.config.with_suffix(".sqlite")

    @property
    def metrics_url(self) -> str:
        for line in self.config.read_text().splitlines():
            if line.startswith("metrics_port"):
                return f"http://127.0.0.1:{line.split('=')[1].strip()}"
        raise AssertionError("no metrics_port")

    async def start(self, **extra_env: str) -> None:
        env = {
            **os.environ,
            **extra_env,
            **self.stack.bot_env(),
            "PYTHONPATH": str(ROOT),
        }
        args = [sys.executable, "-m", "blp_client.cli", "bot", "-c", str(self.config)]
        if self.paper:
            args.append("--paper")
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            *args, cwd=str(ROOT), env=env, stdout=log, stderr=log
        )
        log.close()
        self.starts += 1

    async def ready(self, timeout: float = 30.0) -> None:
        """Until the daemon answers /status (it reconciled and reads the stream)."""

        async def up() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.tail()}")
            try:
                st = await self.status()
            except (aiohttp.ClientError, OSError):
                return False
            return bool(st.get("running"))

        await wait_for(up, timeout, "the daemon to start")

    async def status(self) -> dict[str, Any]:
        async with self.stack.session.get(self.metrics_url + "/status") as r:
            data: dict[str, Any] = await r.json()
            return data

    async def metrics(self) -> str:
        async with self.stack.session.get(self.metrics_url + "/metrics") as r:
            return await r.text()

    async def kill(self) -> int:
        """SIGKILL the daemon; its exit code (-SIGKILL unless it had already exited)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        return await self.proc.wait()

    async def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(self.proc.wait(), timeout)
        return rc

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-n:])
        except OSError:
            return ""

    def log_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def journal(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(f"file:{self.journal_path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()


async def start_stack(
    tmp: Path,
    *,
    collateral: str = "1000000",
    threshold: str = "100000000",
    venue_collateral: str = "10000000",
    funding: FundingSection | None = None,
    others: dict[str, Decimal] | None = None,
    clock: Literal["real", "manual"] = "real",
) -> Stack:
    """`others`: more contracts (symbol -> index price) the BLP has the same threshold on.
    `clock="manual"`: engine time moves only by `POST /admin/v1/clock/advance` (the venue
    facade signs on the wall clock either way)."""
    others = others or {}
    cfg = engine_config(collateral, threshold, others, funding)
    engine = await start_engine(
        port=0, config=cfg, venue_api="binance", data_dir=tmp / "engine", clock=clock
    )
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    stack = Stack(engine, session, tmp)
    stack.requote()
    keys = await stack.admin("POST", "/venue/keys", {"collateral": venue_collateral})
    stack.venue_account = int(keys["account_id"])
    stack.venue_key, stack.venue_secret = keys["api_key"], keys["api_secret"]
    stack.blp_account = engine.service.blps[KEY].account_id
    return stack


def engine_config(
    collateral: str = "1000000",
    threshold: str = "100000000",
    others: dict[str, Decimal] | None = None,
    funding: FundingSection | None = None,
) -> EngineConfig:
    """The e2e engine: BTC-PERP (and `others`), one BLP "bot" with the e2e key."""
    others = others or {}
    return EngineConfig(
        instruments=[SYM, *others],
        index={SYM: INDEX, **others},
        program=ProgramSection(min_minute_rate=D(0), min_hour_rate=D(0)),
        rate_limit=RateLimitSection(per_second=2000.0, burst=5000),
        funding=funding or FundingSection(),
        blps=[
            BLPSection(
                name="bot",
                api_key=KEY,
                api_secret=SECRET,
                collateral=D(collateral),
                minute_rate=D(1_000_000_000),
                hour_rate=D(10_000_000_000),
                max_position_notional={s: D(threshold) for s in [SYM, *others]},
            )
        ],
    )


@contextlib.asynccontextmanager
async def running_stack(tmp: Path, **kwargs: Any) -> AsyncIterator[Stack]:
    """`start_stack(tmp, **kwargs)`, stopped on exit (the `stack` fixtures)."""
    stack = await start_stack(tmp, **kwargs)
    try:
        yield stack
    finally:
        await stop_stack(stack)


async def stop_stack(stack: Stack) -> None:
    for d in stack.daemons:
        if d.proc is not None and d.proc.returncode is None:
            d.proc.send_signal(signal.SIGKILL)
            await d.proc.wait()
    await stack.session.close()
    await stack.engine.stop()


async def caught_up(stack: Stack, d: Daemon, *, flat: bool = True) -> bool:
    """The daemon processed every event, has nothing open and (if `flat`) is hedged."""
    try:
        st = await d.status()
    except (aiohttp.ClientError, OSError):
        return False
    if st["last_seq"] < stack.blp_last_seq() or st["orders"]["open"] or st["pending_actions"]:
        return False
    if not flat:
        return True
    net = D(st["net_exposure"].get(SYM, "0"))
    return abs(net) <= LOT


def check_guarantees(stack: Stack, d: Daemon) -> None:
    """What every e2e run must end with: each assignment journaled once, real positions
    (exchange account + venue account) net within one lot, no client id twice at the venue."""
    seqs = stack.engine_assignment_seqs()
    assert seqs, "the flow produced no assignments"
    journaled = [r[0] for r in d.journal("SELECT seq FROM events WHERE kind = 'assignment'")]
    assert sorted(journaled) == seqs
    assert len(set(journaled)) == len(journaled)
    real_net = stack.position(stack.blp_account) + stack.position(stack.venue_account)
    assert abs(real_net) <= LOT, f"real net exposure {real_net}"
    cids = [o.client_order_id for o in stack.venue_orders()]
    assert len(cids) == len(set(cids)), "a client order id reached the venue twice"
    ours = {r[0] for r in d.journal("SELECT client_order_id FROM orders")}
    assert set(cids) <= ours, "an order at the venue is not in the journal"
    venue_pos = d.journal("SELECT position FROM inventory WHERE venue = 'binance'")
    assert [D(r[0]) for r in venue_pos] in ([], [stack.position(stack.venue_account)])
