"""Hedge latency bench (`make bench` calls `run()` through bench/run.py).

Assignment emitted → hedge order acknowledged, at 100 assignments/s, through the bot and
through a bare baseline in the same run, against the same engine:

- the engine runs as its own process (`blp engine --venue-api binance`, as in production the
  exchange and the venue are not inside the bot's process), with one BLP and a market maker
  resting GTC quotes on the venue;
- a driver emits one assignment every 10 ms on an absolute schedule through the admin API
  (`POST /admin/v1/liquidations/force`, one lot of BTC-PERP each);
- emitted = the assignment's `ts` (the engine's wall-clock ms when it ran the waterfall and
  published the event); acknowledged = when the venue's answer to the hedge order is back in
  the hedging process (`time.time()`, same machine clock);
- baseline: `BLPClient.assignments()` + one ccxt `create_order` (market, own client id) per
  assignment, each sent as its own task; bot: the daemon in this process (`run_bot`,
  ImmediateHedge, journal, risk gate, executor) with the unmodified ccxt `binanceusdm` pointed
  at the facade; its venue's `place_order` is wrapped only to note the time it returns.
  Each side has its own BLP and venue account, and only the running phase's BLP is opted in,
  so the bot's journal (one for both of its rounds) always matches its accounts.
  This bench measures the raw path: the engine runs with `--no-venue-limits` and both sides
  turn ccxt's client-side throttle off (`rate_limit = false`); `bench/burst.py` measures the
  bot under the venue's limits and ccxt's default throttle. A queued hedge that the bot netted
  into a later order counts to that order's acknowledgement.

Reported: p50/p99 of each and the bot/baseline ratio (target ≤ 1.3). Run alone:
`python -m bench.hedge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from bench.common import Engine, admin, engine_toml, until
from blp_client.bot.config import BotConfig
from blp_client.bot.daemon import Bot, run_bot
from blp_client.bot.venues import local_binance
from blp_client.client import BLPClient

RATE = 100  # assignments per second
SECONDS = 8.0  # measured emission time per phase
WARMUP = 1.0  # emitted first, not measured
ROUNDS = 2  # baseline, bot, baseline, bot: drift shows up in both
TARGET_RATIO = 1.3
KEY, SECRET = "bench-hedge-blp-key", "bench-hedge-blp-secret-000000001"  # the baseline's BLP
BOT_KEY, BOT_SECRET = "bench-hedge-bot-key", "bench-hedge-bot-secret-000000001"  # the bot's
SYM, VSYM = "BTC-PERP", "BTC/USDT:USDT"
ENV = {"BENCH_BLP_KEY": BOT_KEY, "BENCH_BLP_SECRET": BOT_SECRET}

ENGINE_TOML = engine_toml(
    SYM, [("bench-bare", KEY, SECRET), ("bench-bot", BOT_KEY, BOT_SECRET)], rate_limit=True
)


def _quantiles(samples: Sequence[float]) -> dict[str, float]:
    data = sorted(samples)

    def q(p: float) -> float:
        return round(data[min(len(data), max(1, math.ceil(p * len(data)))) - 1], 2)

    return {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": round(data[-1], 2), "n": len(data)}


async def _venue_client(session: aiohttp.ClientSession, url: str, collateral: str) -> Any:
    keys = await admin(session, url, "POST", "/venue/keys", {"collateral": collateral})
    ex = local_binance(url, keys["api_key"], keys["api_secret"], rate_limit=False)
    await ex.load_markets()
    return ex, keys


async def _quote(ex: Any) -> None:
    """A market maker's resting ladder, deep enough for every hedge of the run."""
    for i in range(20):
        await ex.create_order(
            VSYM, "limit", "buy", 5, 50_000 - 5 * (i + 1), params={"timeInForce": "GTC"}
        )
        await ex.create_order(
            VSYM, "limit", "sell", 5, 50_000 + 5 * (i + 1), params={"timeInForce": "GTC"}
        )


async def _last_seq(url: str, key: str = KEY, secret: str = SECRET) -> int:
    async with BLPClient(url, key, secret) as c:
        return (await c.assignment_history(0, 1)).last_seq


async def _take_the_flow(url: str, bot: bool) -> None:
    """Only the phase's own BLP is opted in, so each side hedges its own flow on its own
    accounts: the bot's journal (one for both of its rounds) always holds what its exchange
    and venue accounts hold, and its position check finds nothing to correct."""
    for key, secret, mine in ((KEY, SECRET, not bot), (BOT_KEY, BOT_SECRET, bot)):
        async with BLPClient(url, key, secret) as c:
            await c.update_profile(opted_in=mine)


async def _emit(session: aiohttp.ClientSession, url: str, seconds: float) -> int:
    """One forced liquidation (→ one assignment) every 1/RATE s; returns how many."""
    loop = asyncio.get_running_loop()
    start, n, assigned = loop.time(), 0, 0
    while n < seconds * RATE:
        await asyncio.sleep(max(0.0, start + n / RATE - loop.time()))
        r = await admin(
            session, url, "POST", "/liquidations/force", {"symbol": SYM, "count": 1, "side": "long"}
        )
        assigned += int(r["assignments"])
        n += 1
    return assigned


def _measured(lat: dict[int, float], first_seq: int) -> list[float]:
    """Latencies of assignments after the warm-up."""
    skip = int(WARMUP * RATE)
    return [v for s, v in sorted(lat.items()) if s > first_seq + skip]


async def baseline(session: aiohttp.ClientSession, url: str, ex: Any) -> list[float]:
    """Stream read with BLPClient + one ccxt create_order per assignment."""
    await _take_the_flow(url, bot=False)
    from_seq = await _last_seq(url)
    lat: dict[int, float] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def hedge(seq: int, ts: int, side: str, qty: float) -> None:
        await ex.create_order(VSYM, "market", side, qty, params={"newClientOrderId": f"b{seq}"})
        lat[seq] = time.time() * 1000 - ts

    async def read() -> None:
        async with BLPClient(url, KEY, SECRET) as c:
            async for a in c.assignments(from_seq):
                t = asyncio.create_task(
                    hedge(a.seq, a.ts, "sell" if a.side == "buy" else "buy", float(a.qty))
                )
                tasks.add(t)
                t.add_done_callback(tasks.discard)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.5)  # subscribed
    emitted = await _emit(session, url, SECONDS + WARMUP)
    await until(lambda: len(lat) >= emitted, 30, "the baseline's hedges")
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    return _measured(lat, from_seq)


async def through_bot(
    session: aiohttp.ClientSession, url: str, venue_keys: dict[str, str], tmp: Path, round_no: int
) -> tuple[list[float], dict[str, Any]]:
    """The same flow hedged by the daemon (ImmediateHedge through ccxt), on its own BLP and
    venue account, one journal across rounds (each round resumes where the last stopped)."""
    await _take_the_flow(url, bot=True)
    from_seq = await _last_seq(url, BOT_KEY, BOT_SECRET)
    env = {
        **ENV,
        "BENCH_VENUE_KEY": venue_keys["api_key"],
        "BENCH_VENUE_SECRET": venue_keys["api_secret"],
    }
    journal = tmp / "bot.sqlite"
    config = BotConfig.model_validate(
        {
            "engine": {
                "url": url,
                "api_key_env": "BENCH_BLP_KEY",
                "api_secret_env": "BENCH_BLP_SECRET",
                "symbols": [SYM],
            },
            "venues": {
                "binance": {
                    "ccxt_id": "binanceusdm",
                    "api_key_env": "BENCH_VENUE_KEY",
                    "api_secret_env": "BENCH_VENUE_SECRET",
                    "options": {"local_url": url},
                    "rate_limit": False,
                }
            },
            "strategy": {"class": "immediate_hedge", "params": {"venues": ["binance"]}},
            "risk": {
                "max_orders": 10_000,
                "max_order_notional": "1000000000",
                "max_net_exposure_notional": "1000000000",
                "max_venue_position_notional": "1000000000",
                "monitor": False,
            },
            "journal": str(journal),
            "metrics_port": None,
            "from_seq": from_seq,
        }
    )
    acks: dict[str, float] = {}
    started: asyncio.Future[Bot] = asyncio.get_running_loop().create_future()

    def on_start(bot: Bot) -> None:
        assert bot.executor is not None
        venue = bot.executor.venues["binance"]
        place: Callable[[Any], Awaitable[Any]] = venue.place_order

        async def timed(req: Any) -> Any:
            out = await place(req)
            acks.setdefault(req.client_order_id, time.time() * 1000)
            return out

        setattr(venue, "place_order", timed)  # noqa: B010 - observe only, behaviour unchanged
        started.set_result(bot)

    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(config, stop=stop, env=env, on_start=on_start))
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    bot = started.result()
    emitted = await _emit(session, url, SECONDS + WARMUP)
    await until(lambda: len(acks) >= emitted, 30, "the bot's hedges")
    stop.set()
    await task
    own = bot.final_status["hedge_latency_ms"] if bot.final_status else {}
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        ts = dict(db.execute("SELECT seq, ts FROM events WHERE kind = 'assignment'").fetchall())
        orders = db.execute("SELECT client_order_id, decision FROM orders").fetchall()
        netted = dict(db.execute("SELECT client_order_id, into_order FROM netted").fetchall())
    finally:
        db.close()
    lat: dict[int, float] = {}
    for cid, decision in orders:
        covering = netted.get(cid, cid)  # a queued order joined into a netted one: its ack
        if covering in acks and decision.isdigit() and int(decision) in ts:
            seq = int(decision)
            lat[seq] = min(lat.get(seq, math.inf), acks[covering] - ts[seq])
    return _measured(lat, from_seq), own


async def run() -> dict[str, Any]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    with tempfile.TemporaryDirectory(prefix="blp-bench-hedge-") as name:
        tmp = Path(name)
        cfg = tmp / "engine.toml"
        cfg.write_text(ENGINE_TOML)
        engine = await Engine.start(
            "--config", str(cfg), "--venue-api", "binance", "--no-venue-limits"
        )
        makers: Any = None
        hedger: Any = None
        try:
            async with aiohttp.ClientSession() as session:
                makers, _ = await _venue_client(session, engine.url, "1000000000")
                await _quote(makers)
                hedger, _ = await _venue_client(session, engine.url, "100000000")
                bot_venue, keys = await _venue_client(session, engine.url, "100000000")
                await bot_venue.close()  # the bot opens its own client with these keys
                bare: list[float] = []
                bot: list[float] = []
                own: dict[str, Any] = {}
                for r in range(ROUNDS):
                    bare += await baseline(session, engine.url, hedger)
                    lat, own = await through_bot(session, engine.url, keys, tmp, r)
                    bot += lat
        finally:
            for ex in (makers, hedger):
                if ex is not None:
                    await ex.close()
            await engine.stop()
    b, t = _quantiles(bare), _quantiles(bot)
    r50, r99 = round(t["p50"] / b["p50"], 2), round(t["p99"] / b["p99"], 2)
    return {
        "rate": RATE,
        "seconds_per_phase": SECONDS,
        "rounds": ROUNDS,
        "baseline_ms": b,
        "bot_ms": t,
        "ratio_p50": r50,
        "ratio_p99": r99,
        "bot_own_metric_ms": {"p50": own.get("p50"), "p99": own.get("p99")},
        "target_ratio": TARGET_RATIO,
        "rows": [
            [
                f"Assignment → hedge acknowledged, bare baseline (stream + one ccxt "
                f"`create_order`), {RATE}/s",
                f"p50 {b['p50']} ms, p99 {b['p99']} ms",
                "reference",
            ],
            [
                f"Assignment → hedge acknowledged through the bot (ImmediateHedge, journal, "
                f"risk gate, ccxt), {RATE}/s",
                f"p50 {t['p50']} ms, p99 {t['p99']} ms (×{r50} / ×{r99} of baseline)",
                f"≤ {TARGET_RATIO}× baseline",
            ],
        ],
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run()), indent=2))
