"""`blp demo`: the whole product on one machine, with no configuration.

The engine runs in a child process of its own (`python -m blp_client.demo_engine`), as a remote
exchange would: on 127.0.0.1 (ephemeral port, real clock sped up so one engine hour of a crash
takes about a minute) with the BLP program, several thousand leveraged accounts, two simulated
BLPs and the Binance-compatible venue, its Binance rate limits on. This process registers our
BLP and a venue key through the engine's admin API and runs the bot (`run_bot`), hedging every
assignment with `ImmediateHedge` through the unmodified ccxt `binanceusdm` class (its own
throttle on) pointed at that venue. Everything the demo knows of the engine comes over HTTP: the
admin API (scenario status, timeline points, the live report, accounts, orders, the BLP's log)
and the venue's public `exchangeInfo`. Meanwhile a second child simulates the same market with
and without BLPs, for the clawback figures. Both children exit when their stdin (a pipe from
this process) closes, so neither outlives the demo. The result is one JSON-able dict
(`run_demo`); `demo_view` renders it for people.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from .bot.config import BotConfig
from .bot.daemon import Bot, BotOptions, run_bot
from .bot.daemon_io import configure_logging
from .demo_sim import (
    ENV_KEYS,
    OUR_BLP,
    OUR_NAME,
    SCENARIO_SECONDS,
    SYMBOLS,
    VENUE_COLLATERAL,
    bot_config,
)
from .engine.admin_client import AdminError, admin_request
from .vocabulary import ZERO

D = Decimal
ENGINE_READY_S = 120.0  # the engine child builds the market (5,000 accounts: a few seconds)
CHILD_GRACE_S = 10.0  # a child's clean stop after its stdin closed, before SIGTERM
LIQUIDATION_KINDS = ("liquidation_started", "taken_over")


class DemoError(RuntimeError):
    """The demo could not run (the message says what failed; the log tail follows it)."""


@dataclass(frozen=True)
class DemoOptions:
    accounts: int = 5000
    seconds: float = 75.0
    """Wall-clock length of the live crash (the engine hour is sped up to fit)."""
    seed: int = 1
    drop: float = 0.20
    status_port: int | None = None
    settle_timeout_s: float = 20.0
    sample_s: float = 1.0

    def __post_init__(self) -> None:
        positive = {
            "accounts": self.accounts,
            "seconds": self.seconds,
            "settle_timeout_s": self.settle_timeout_s,
            "sample_s": self.sample_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"DemoOptions.{name} must be > 0, got {value!r}")
        if not 0 < self.drop < 1:
            raise ValueError(f"DemoOptions.drop must be between 0 and 1, got {self.drop!r}")

    @property
    def speed(self) -> float:
        return SCENARIO_SECONDS / self.seconds


# ---- the child processes -------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    """The environment of a child: this package first on its path (a source checkout runs)."""
    root = str(Path(__file__).resolve().parent.parent)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
    }


async def _end_child(proc: asyncio.subprocess.Process, grace_s: float = CHILD_GRACE_S) -> None:
    """Stop a child and reap it: close its stdin (end of file: it stops by itself), then
    SIGTERM, then SIGKILL. Nothing is left running when this returns."""
    if proc.stdin is not None and not proc.stdin.is_closing():
        proc.stdin.close()
    for step in (None, "terminate", "kill"):
        if proc.returncode is not None:
            return
        if step is not None:
            with contextlib.suppress(ProcessLookupError):
                getattr(proc, step)()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace_s if step is None else 5.0)
    await proc.wait()


@dataclass(frozen=True)
class EngineProcess:
    """The engine child as its startup line describes it."""

    url: str
    admin_token: str
    port: int
    pid: int


@contextlib.asynccontextmanager
async def engine_process(
    opts: DemoOptions, tmp: Path, log_file: Path
) -> AsyncIterator[EngineProcess]:
    """`python -m blp_client.demo_engine` for `opts`, logging to `log_file` (stderr too, so a
    crash's traceback lands there), stopped when the block ends however it ends."""
    with log_file.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "blp_client.demo_engine",
            "--accounts", str(opts.accounts), "--seed", str(opts.seed),
            "--drop", str(opts.drop), "--speed", repr(opts.speed),
            "--data-dir", str(tmp / "engine"), "--log-file", str(log_file),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            env=_child_env(),
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), ENGINE_READY_S)
        except TimeoutError:
            raise DemoError(f"the engine was not ready within {ENGINE_READY_S:.0f} s") from None
        if not line:
            raise DemoError(f"the engine exited before it was ready (exit {await proc.wait()})")
        try:
            info = json.loads(line)
            ready = EngineProcess(
                info["url"], info["admin_token"], int(info["port"]), int(info["pid"])
            )
        except (ValueError, KeyError, TypeError) as e:
            raise DemoError(f"the engine's startup line is not understood: {line[:300]!r}") from e
        yield ready
    finally:
        await _end_child(proc)


async def _simulate_in_child(opts: DemoOptions) -> dict[str, Any]:
    """`simulate_compare` in a child process (the other core), its result pickled back."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "blp_client.demo_sim",
        str(opts.accounts),
        str(opts.seed),
        str(opts.drop),
        stdin=asyncio.subprocess.PIPE,  # held open: the child exits when it closes
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_child_env(),
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        out, err = await asyncio.gather(proc.stdout.read(), proc.stderr.read())
        await proc.wait()
    finally:
        await _end_child(proc, grace_s=5.0)
    if proc.returncode != 0:
        raise DemoError(f"the simulated comparison failed: {err.decode()[-2000:]}")
    if not out:
        raise DemoError("the simulated comparison printed nothing")
    result: dict[str, Any] = pickle.loads(out)  # our own child's output
    return result


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8").splitlines()[-n:])
    except OSError:
        return ""


# ---- the engine over HTTP ------------------------------------------------------------------


class EngineClient:
    """What the demo asks the engine: its admin API and the venue's public endpoints."""

    def __init__(self, session: aiohttp.ClientSession, engine: EngineProcess) -> None:
        self.session, self.url, self.token = session, engine.url, engine.admin_token

    async def get(self, path: str) -> Any:
        return await admin_request(self.session, self.url, self.token, "GET", path)

    async def post(self, path: str, body: Any = None) -> Any:
        return await admin_request(self.session, self.url, self.token, "POST", path, body)

    async def delete(self, path: str) -> Any:
        return await admin_request(self.session, self.url, self.token, "DELETE", path)

    async def venue_limits(self) -> bool:
        """Whether the venue announces Binance's rate limits (`exchangeInfo.rateLimits`), which
        it enforces unless the engine was started with them off."""
        async with self.session.get(f"{self.url}/fapi/v1/exchangeInfo") as r:
            if r.status != 200:
                raise DemoError(f"venue exchangeInfo: HTTP {r.status}: {await r.text()}")
            info = await r.json()
        return bool(info.get("rateLimits"))


# ---- the live run --------------------------------------------------------------------------


@dataclass
class Tracker:
    """What the demo follows while it runs: peaks, series for the report, live snapshots."""

    started: float
    max_net: dict[str, Decimal]
    max_net_notional: Decimal = ZERO
    max_use: tuple[Decimal, Decimal] = (ZERO, ZERO)

    def net(self, bot: Bot, marks: Mapping[str, Decimal]) -> None:
        inv = bot.journal.inventory()
        total = ZERO
        for s in SYMBOLS:
            n = inv.net(s, in_flight=False)
            if abs(n) > abs(self.max_net.get(s, ZERO)):
                self.max_net[s] = n
            total += abs(n) * marks.get(s, ZERO)
        self.max_net_notional = max(self.max_net_notional, total)

    def use(self, status: dict[str, Any]) -> None:
        cap = status.get("capacity") or {}
        if cap:
            self.max_use = (
                max(self.max_use[0], D(cap["use_minute"])),
                max(self.max_use[1], D(cap["use_hour"])),
            )


Snapshot = dict[str, Any]


async def run_demo(
    opts: DemoOptions,
    on_tick: Callable[[Snapshot], None] | None = None,
) -> dict[str, Any]:
    """Run the demo; `on_tick` gets a snapshot about once a second. Returns the result (see
    `demo_view.summary` for its keys). Ctrl-C ends the live part early, with a report."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="blp-demo-") as tmp_name:
        tmp = Path(tmp_name)
        log_file = tmp / "demo.log"  # every component's JSON log lines, not the terminal's
        log_stream = log_file.open("a", encoding="utf-8")
        configure_logging("info", log_stream)
        sim = asyncio.create_task(_simulate_in_child(opts))
        abort = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, abort.set)
        try:
            async with engine_process(opts, tmp, log_file) as engine:
                print(f"engine: {engine.url} (pid {engine.pid})", file=sys.stderr, flush=True)
                live = await _live(engine, opts, tmp, abort, on_tick)
            live["simulated"] = await sim
        except aiohttp.ClientError as e:
            msg = f"the engine stopped answering: {type(e).__name__}: {e}"
            raise DemoError(f"{msg}\n--- last log lines ---\n{_tail(log_file)}") from e
        except (DemoError, AdminError) as e:  # an admin call the demo makes was refused
            raise DemoError(f"{e}\n--- last log lines ---\n{_tail(log_file)}") from e
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
            if not sim.done():
                sim.cancel()
                with contextlib.suppress(asyncio.CancelledError, DemoError):
                    await sim
            structlog.reset_defaults()  # the log file goes with the temporary directory
            log_stream.close()
        live["aborted"] = abort.is_set()
        return live


async def _live(
    engine: EngineProcess,
    opts: DemoOptions,
    tmp: Path,
    abort: asyncio.Event,
    on_tick: Callable[[Snapshot], None] | None,
) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        eng = EngineClient(session, engine)
        stats = await eng.get("/stats")
        if stats.get("pid") != engine.pid:
            raise DemoError(f"{engine.url} is served by pid {stats.get('pid')}, not {engine.pid}")
        ours = await eng.post(
            "/blps",
            {
                "name": OUR_NAME,
                "collateral": str(OUR_BLP.collateral),
                "minute_rate": str(OUR_BLP.minute_rate),
                "hour_rate": str(OUR_BLP.hour_rate),
                "max_position_notional": {s: str(OUR_BLP.threshold) for s in SYMBOLS},
            },
        )
        venue = await eng.post("/venue/keys", {"collateral": str(VENUE_COLLATERAL)})
        our_id, venue_id = int(ours["account_id"]), int(venue["account_id"])
        venue_limits = await eng.venue_limits()
        env = dict(
            zip(
                ENV_KEYS,
                (ours["api_key"], ours["api_secret"], venue["api_key"], venue["api_secret"]),
                strict=True,
            )
        )
        config = bot_config(engine.url, tmp / "bot.sqlite", opts.status_port)
        run = await _run_bot(eng, config, env, our_id, opts, abort, on_tick)
        # the engine's side, after the bot stopped
        hedges = await eng.get(f"/accounts/{venue_id}/orders?limit=0")
        flips = await eng.get(f"/accounts/{our_id}/orders?limit=0")
        blp = await eng.get(f"/blps/{our_id}")
        accounts = [await eng.get(f"/accounts/{a}") for a in (our_id, venue_id)]
        live_report = await eng.get("/scenario/report")
        status = await eng.get("/scenario")
    final: dict[str, Any] = run.pop("final_status")
    real_net = {s: ZERO for s in SYMBOLS}
    for acct in accounts:
        for p in acct["positions"]:
            if p["symbol"] in real_net:
                real_net[p["symbol"]] += D(p["qty"])
    assignments = int(blp["events"].get("assignment", 0))
    sent = int(hedges["count"]) + int(flips["count"])
    margin_kinds = {e.get("kind") for e in final.get("margin_events", [])}
    program = final.get("program") or {}
    in_program = program.get("in_program_fraction")
    return {
        **run,
        "final_status": final,
        "engine_seconds": round(status["engine_seconds"]),
        "engine_pid": engine.pid,
        "demo_pid": os.getpid(),
        "real_net": real_net,
        "hedge_orders": hedges["count"],
        "exchange_orders": flips["count"],
        "duplicate_client_ids": hedges["duplicate_client_order_ids"],
        "live_report": live_report,
        "engine_assignments": assignments,
        "venue_limits": venue_limits,
        "ccxt_throttle": ccxt_throttle(config),
        "orders_per_assignment": sent / assignments if assignments else None,
        "in_program_fraction": (
            float(in_program) if in_program is not None else run["in_program_sampled"]
        ),
        "blp_liquidated": bool(margin_kinds & set(LIQUIDATION_KINDS))
        or bool(blp["liquidated"])
        or accounts[0]["liquidation_state"] != "none",
    }


def ccxt_throttle(config: BotConfig) -> bool:
    """Whether every enabled venue client of the bot had ccxt's throttle on."""
    venues = [v for v in config.venues.values() if v.enabled]
    return bool(venues) and all(v.rate_limit for v in venues)


async def _run_bot(
    eng: EngineClient,
    config: BotConfig,
    env: dict[str, str],
    our_id: int,
    opts: DemoOptions,
    abort: asyncio.Event,
    on_tick: Callable[[Snapshot], None] | None,
) -> dict[str, Any]:
    """The bot through the crash, then until it has caught up; the bot stopped at the end."""
    stop = asyncio.Event()
    started: asyncio.Future[Bot] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_bot(
            config,
            stop=stop,
            env=env,
            on_start=started.set_result,
            options=BotOptions(market_refresh_ms=250, monitor_ms=500, reconcile_ms=1000),
        )
    )
    try:
        await asyncio.wait({task, started}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            raise DemoError("the bot did not start within 30 s")
        bot = started.result()
        if bot.status_page is not None:
            print(f"live status page: {bot.status_page.url}", file=sys.stderr, flush=True)
        lots = await _lots(bot)
        await eng.post("/scenario/resume")
        tracker = Tracker(time.monotonic(), {})
        first = await eng.get("/scenario/sample")
        timeline: list[dict[str, Any]] = [first]
        marks = {s: D(v) for s, v in first["mark"].items()}
        series: list[dict[str, Any]] = []
        headroom: list[tuple[float, bool | None]] = []  # (engine s, in the program) in the crash
        scenario: dict[str, Any] = await eng.get("/scenario")

        async def tick(phase: str) -> None:
            nonlocal marks
            st = bot.status()
            tracker.use(st)
            t = float(scenario["engine_seconds"])
            point = await eng.get("/scenario/sample")
            timeline.append(point)
            marks = {s: D(v) for s, v in point["mark"].items()}
            if phase == "crash":
                headroom.append((t, in_program(st, SYMBOLS)))
            series.append(
                {
                    "t": t,
                    "net": st["net_exposure"],
                    "threshold": st["threshold"],
                    "pnl": st["pnl"]["total"],
                }
            )
            if on_tick is not None:
                on_tick(
                    {
                        "phase": phase,
                        "t": t,
                        "seconds": SCENARIO_SECONDS,
                        "wall": time.monotonic() - tracker.started,
                        "speed": opts.speed,
                        "status": st,
                        "index": point["index"],
                        "max_net": tracker.max_net,
                    }
                )

        async def follow(until: Callable[[], Awaitable[bool]], phase: str, limit: float) -> bool:
            nonlocal scenario
            deadline, next_tick = time.monotonic() + limit, 0.0
            while True:
                scenario = await eng.get("/scenario")
                if await until():
                    return True
                if task.done():
                    raise DemoError("the bot stopped unexpectedly")
                if abort.is_set() or time.monotonic() > deadline:
                    return False
                tracker.net(bot, marks)
                if time.monotonic() >= next_tick:
                    await tick(phase)
                    next_tick = time.monotonic() + opts.sample_s
                await asyncio.sleep(0.1)

        async def crash_over() -> bool:
            return bool(scenario["done"])

        async def caught_up() -> bool:
            last_seq = int((await eng.get(f"/blps/{our_id}"))["last_seq"])
            return _caught_up(bot, last_seq, lots)

        await follow(crash_over, "crash", opts.seconds * 3 + 60)
        crash_end = min(float(scenario["engine_seconds"]), float(SCENARIO_SECONDS))
        await eng.delete("/scenario")  # (already stopped when done; else cut short here)
        settled = await follow(caught_up, "settling", opts.settle_timeout_s)
        await tick("done")
    finally:
        stop.set()
        if not started.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return {
        "final_status": bot.final_status or {},
        "settled": settled,
        "wall_seconds": round(time.monotonic() - tracker.started, 1),
        "speed": opts.speed,
        "options": opts,
        "timeline": timeline,
        "series": series,
        "max_net": tracker.max_net,
        "max_net_notional": tracker.max_net_notional,
        "max_use": tracker.max_use,
        "in_program_sampled": time_in_program(headroom, crash_end),
    }


async def _lots(bot: Bot) -> dict[str, Decimal]:
    """Each hedged contract's lot on the exchange (from the BLP API's markets)."""
    markets = await bot.client.markets()
    return {mk.symbol: mk.lot for mk in markets if mk.symbol in SYMBOLS}


def in_program(status: Mapping[str, Any], symbols: Iterable[str]) -> bool | None:
    """Whether the status shows threshold headroom > 0 on every contract (None: no profile
    read yet)."""
    head = (status.get("capacity") or {}).get("threshold_headroom")
    if not head:
        return None
    return all(D(str(head.get(s, "0"))) > 0 for s in symbols)


def time_in_program(samples: list[tuple[float, bool | None]], end: float) -> float | None:
    """The engine-time-weighted share of [first sample, `end`] in the program: each sample's
    state holds until the next one (or `end`); unknown stretches (None) are left out."""
    inside = total = 0.0
    for i, (t, ok) in enumerate(samples):
        nxt = samples[i + 1][0] if i + 1 < len(samples) else end
        span = max(0.0, min(nxt, end) - t)
        if ok is None:
            continue
        total += span
        inside += span if ok else 0.0
    return inside / total if total > 0 else None


def _caught_up(bot: Bot, last_seq: int, lots: Mapping[str, Decimal]) -> bool:
    """Every event processed, nothing open or pending, and hedged within a lot."""
    j = bot.journal
    if j.last_seq < last_seq or j.open_orders() or j.pending_actions():
        return False
    inv = j.inventory()
    return all(abs(inv.net(s)) <= lots[s] for s in SYMBOLS)


def main_sync(
    opts: DemoOptions,
    on_tick: Callable[[Snapshot], None] | None = None,
) -> dict[str, Any]:
    """`run_demo` in a fresh event loop (the CLI's entry)."""
    if sys.platform == "win32":  # pragma: no cover
        asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())  # type: ignore[attr-defined,unused-ignore]
    return asyncio.run(run_demo(opts, on_tick))


__all__ = ["DemoError", "DemoOptions", "main_sync", "run_demo"]
