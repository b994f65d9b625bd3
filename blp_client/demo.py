"""`blp demo`: the whole product on one machine, with no configuration.

In this process: the engine on 127.0.0.1 (ephemeral port, real clock sped up so one engine hour
of a crash takes about a minute) with the BLP program, several thousand leveraged accounts, two
simulated BLPs, the Binance-compatible venue; our BLP registered through the admin API; and the
bot (`run_bot`) hedging every assignment with `ImmediateHedge` through the unmodified ccxt
`binanceusdm` class pointed at that venue. Meanwhile a second process simulates the same market
with and without BLPs, for the clawback figures. The result is one JSON-able dict
(`run_demo`); `demo_view` renders it for people.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import structlog

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
    engine_config,
    install_scenario,
    sim_config,
    start_moving,
)
from .engine.admin_client import AdminError, admin_request
from .engine.core import Exchange
from .engine.market import Scenario
from .engine.server import RunningEngine, start_engine
from .engine.simulate import report as sim_report
from .engine.simulate import sample
from .vocabulary import ZERO

D = Decimal


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


# ---- the live run --------------------------------------------------------------------------


@dataclass
class Tracker:
    """What the demo follows while it runs: peaks, series for the report, live snapshots."""

    started: float
    max_net: dict[str, Decimal]
    max_net_notional: Decimal = ZERO
    max_use: tuple[Decimal, Decimal] = (ZERO, ZERO)

    def net(self, bot: Bot, marks: dict[str, Decimal]) -> None:
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
            engine = await start_engine(
                port=0,
                config=engine_config(),
                venue_api="binance",
                data_dir=tmp / "engine",
                speed=opts.speed,
            )
            try:
                live = await _live(engine, opts, tmp, abort, on_tick)
            finally:
                await engine.stop()
            live["simulated"] = await sim
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


async def _simulate_in_child(opts: DemoOptions) -> dict[str, Any]:
    """`simulate_compare` in a child process (the other core), its result pickled back."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "blp_client.demo_sim",
        str(opts.accounts),
        str(opts.seed),
        str(opts.drop),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
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


async def _live(
    engine: RunningEngine,
    opts: DemoOptions,
    tmp: Path,
    abort: asyncio.Event,
    on_tick: Callable[[Snapshot], None] | None,
) -> dict[str, Any]:
    svc, x = engine.service, engine.service.exchange
    sc = install_scenario(engine, seed=opts.seed, accounts=opts.accounts, drop=opts.drop)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def admin(path: str, body: dict[str, Any]) -> dict[str, Any]:
            data: dict[str, Any] = await admin_request(
                session, engine.url, engine.admin_token, "POST", path, body
            )
            return data

        ours = await admin(
            "/blps",
            {
                "name": OUR_NAME,
                "collateral": str(OUR_BLP.collateral),
                "minute_rate": str(OUR_BLP.minute_rate),
                "hour_rate": str(OUR_BLP.hour_rate),
                "max_position_notional": {s: str(OUR_BLP.threshold) for s in SYMBOLS},
            },
        )
        venue = await admin("/venue/keys", {"collateral": str(VENUE_COLLATERAL)})
    blp_key, our_id, venue_id = ours["api_key"], int(ours["account_id"]), int(venue["account_id"])
    sc.blps[OUR_NAME] = our_id  # in the live report's BLP table
    env = dict(
        zip(
            ENV_KEYS,
            (blp_key, ours["api_secret"], venue["api_key"], venue["api_secret"]),
            strict=True,
        )
    )
    config = bot_config(engine.url, tmp / "bot.sqlite", opts.status_port)
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
        start_moving(engine)
        tracker = Tracker(time.monotonic(), {})
        timeline: list[dict[str, Any]] = [sample(x, sc)]
        series: list[dict[str, Any]] = []

        def tick(phase: str) -> None:
            st = bot.status()
            tracker.use(st)
            t = engine_seconds(x, sc)
            timeline.append(sample(x, sc))
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
                        "index": dict(x.index),
                        "max_net": tracker.max_net,
                    }
                )

        async def follow(until: Callable[[], bool], phase: str, limit: float) -> bool:
            deadline, next_tick = time.monotonic() + limit, 0.0
            while not until():
                if task.done():
                    raise DemoError("the bot stopped unexpectedly")
                if abort.is_set() or time.monotonic() > deadline:
                    return False
                tracker.net(bot, dict(x.marks))
                if time.monotonic() >= next_tick:
                    tick(phase)
                    next_tick = time.monotonic() + opts.sample_s
                await asyncio.sleep(0.1)
            return True

        run = svc.scenario
        assert run is not None
        await follow(lambda: run.done, "crash", opts.seconds * 3 + 60)
        run.running = False
        settled = await follow(
            lambda: _caught_up(bot, svc.last_seq(blp_key), x), "settling", opts.settle_timeout_s
        )
        tick("done")
    finally:
        stop.set()
        if not started.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    final = bot.final_status or {}
    hedges = [o for o in x.orders.values() if o.account_id == venue_id]
    venue_cids = [o.client_order_id for o in hedges if o.client_order_id]
    real_net = {s: x.account(our_id).qty(s) + x.account(venue_id).qty(s) for s in SYMBOLS}
    return {
        "final_status": final,
        "settled": settled,
        "engine_seconds": round(engine_seconds(x, sc)),
        "wall_seconds": round(time.monotonic() - tracker.started, 1),
        "speed": opts.speed,
        "options": opts,
        "timeline": timeline,
        "series": series,
        "max_net": tracker.max_net,
        "max_net_notional": tracker.max_net_notional,
        "max_use": tracker.max_use,
        "real_net": real_net,
        "hedge_orders": len(hedges),
        "duplicate_client_ids": len(venue_cids) - len(set(venue_cids)),
        "live_report": sim_report(x, sc, sim_config(opts.accounts, opts.seed, opts.drop)),
        "engine_assignments": len(svc.log.read_type(blp_key, "assignment", 0, 10_000_000)),
    }


def engine_seconds(x: Exchange, sc: Scenario) -> float:
    """Engine seconds since the crash started moving."""
    return (x.now_ms - sc.start_ms) / 1000


def _caught_up(bot: Bot, last_seq: int, x: Exchange) -> bool:
    """Every event processed, nothing open or pending, and hedged within a lot."""
    j = bot.journal
    if j.last_seq < last_seq or j.open_orders() or j.pending_actions():
        return False
    inv = j.inventory()
    return all(abs(inv.net(s)) <= x.instruments[s].lot for s in SYMBOLS)


def main_sync(
    opts: DemoOptions,
    on_tick: Callable[[Snapshot], None] | None = None,
) -> dict[str, Any]:
    """`run_demo` in a fresh event loop (the CLI's entry)."""
    if sys.platform == "win32":  # pragma: no cover
        asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())  # type: ignore[attr-defined,unused-ignore]
    return asyncio.run(run_demo(opts, on_tick))


__all__ = ["DemoError", "DemoOptions", "main_sync", "run_demo"]
