"""Crash-burst bench (`make bench` calls `run()` through bench/run.py): a burst of 150
assignments within one second on one contract, hedged by the daemon as a desk runs it — the
venue's Binance limits on, ccxt's default throttle on.

- the engine runs as its own process (`blp engine --venue-api binance`, venue limits on by
  default), with one BLP, a market maker's resting ladder on the venue;
- the bot runs in this process (`run_bot`, ImmediateHedge, journal, risk monitor on) against
  the venue through the unmodified ccxt `binanceusdm`, throttle at ccxt's default;
- the driver forces 150 liquidations within one second (15 admin calls of 10, 66 ms apart).

Reported: hedge orders the bot sent for the burst, the time from the last assignment (its
engine timestamp) until the bot's net exposure (fills recorded) is within one lot, the risk
assessment staleness p99 during the burst, and what the venue's budget allowed (used weight,
429s). Run alone: `python -m bench.burst`.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from bench.common import Engine, admin, engine_toml, until
from bench.hedge import SYM, _quantiles, _quote, _venue_client
from blp_client.bot.config import BotConfig
from blp_client.bot.daemon import Bot, BotOptions, run_bot
from blp_client.bot.execution import wall_ms

BURST, BATCH = 150, 10
LOT = Decimal("0.001")
TARGET_ORDERS, TARGET_MS, TARGET_STALENESS_MS = 10, 300, 1000
KEY, SECRET = "bench-burst-blp-key", "bench-burst-blp-secret-000000001"

ENGINE_TOML = engine_toml(SYM, [("bench", KEY, SECRET)], collateral="10000000", limit="1000000000")


def bot_config(url: str, journal: Path) -> BotConfig:
    return BotConfig.model_validate(
        {
            "engine": {
                "url": url,
                "api_key_env": "BURST_BLP_KEY",
                "api_secret_env": "BURST_BLP_SECRET",
                "symbols": [SYM],
            },
            "venues": {
                "binance": {
                    "ccxt_id": "binanceusdm",
                    "api_key_env": "BURST_VENUE_KEY",
                    "api_secret_env": "BURST_VENUE_SECRET",
                    "options": {"local_url": url},
                }
            },
            "strategy": {"class": "immediate_hedge", "params": {"venues": ["binance"]}},
            "risk": {"max_orders": 1000, "max_order_notional": "100000000"},
            "journal": str(journal),
            "metrics_port": None,
            "from_seq": 0,
        }
    )


async def _burst(session: aiohttp.ClientSession, url: str) -> int:
    loop = asyncio.get_running_loop()
    start, assigned = loop.time(), 0
    for i in range(BURST // BATCH):
        await asyncio.sleep(max(0.0, start + i / (BURST // BATCH) - loop.time()))
        body = {"symbol": SYM, "count": BATCH, "qty": "0.01", "side": "long"}
        r = await admin(session, url, "POST", "/liquidations/force", body)
        assigned += int(r["assignments"])
    return assigned


async def _flat_after(bot: Bot, assigned: int, timeout: float = 30) -> tuple[float, int]:
    """Wall ms when every assignment is journaled and net exposure (positions) is within a
    lot, and the engine ts of the last assignment."""
    j = bot.journal
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inv = j.inventory()
        if j.last_seq >= assigned and abs(inv.net(SYM, in_flight=False)) <= LOT:
            done = time.time() * 1000
            last_ts = j._db.execute(
                "SELECT MAX(ts) FROM events WHERE kind = 'assignment'"
            ).fetchone()[0]
            return done, int(last_ts)
        await asyncio.sleep(0.002)
    raise RuntimeError("the burst was not hedged within 30 s")


async def run() -> dict[str, Any]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    with tempfile.TemporaryDirectory(prefix="blp-bench-burst-") as name:
        tmp = Path(name)
        cfg = tmp / "engine.toml"
        cfg.write_text(ENGINE_TOML)
        engine = await Engine.start("--config", str(cfg), "--venue-api", "binance")
        makers: Any = None
        try:
            async with aiohttp.ClientSession() as session:
                makers, _ = await _venue_client(session, engine.url, "1000000000")
                await _quote(makers)
                keys = await admin(
                    session, engine.url, "POST", "/venue/keys", {"collateral": "100000000"}
                )
                env = {
                    "BURST_BLP_KEY": KEY,
                    "BURST_BLP_SECRET": SECRET,
                    "BURST_VENUE_KEY": keys["api_key"],
                    "BURST_VENUE_SECRET": keys["api_secret"],
                }
                started: asyncio.Future[Bot] = asyncio.get_running_loop().create_future()
                stop = asyncio.Event()
                task = asyncio.create_task(
                    run_bot(
                        bot_config(engine.url, tmp / "bot.sqlite"),
                        stop=stop,
                        env=env,
                        on_start=started.set_result,
                        options=BotOptions(),
                    )
                )
                await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
                bot = started.result()
                assert bot.executor is not None
                await asyncio.sleep(1.0)  # market data and first readings in
                # the start-up catch-up of venue funding payments (Binance income, 30 weight
                # on the control lane) is done: the burst meets a bot in its steady state
                funding = bot.funding
                await until(lambda: funding is None or funding.rounds > 0, 30, "funding reads")
                # ... and paid for: a margin reading newer than it (ccxt's throttle makes the
                # control lane's next request wait the read's cost, 1.5 s)
                caught_up, readings = wall_ms(), bot.core.readings
                await until(
                    lambda: min(readings.margins_ms.values(), default=0) > caught_up,
                    30,
                    "a margin reading after them",
                )
                sends0, stale0 = bot.executor.sends, len(bot.metrics.staleness.recent)
                assigned = await _burst(session, engine.url)
                done_ms, last_ts = await _flat_after(bot, assigned)
                orders = bot.executor.sends - sends0
                staleness = bot.metrics.staleness.recent[stale0:]
                try:
                    limits = await admin(session, engine.url, "GET", "/venue/limits")
                except Exception as e:  # an engine without the limits endpoint
                    limits = {"error": str(e)}
                stop.set()
                await task
        finally:
            if makers is not None:
                await makers.close()
            await engine.stop()
    flat_ms = round(done_ms - last_ts, 1)
    stale = _quantiles(staleness) if staleness else {"p99": None, "n": 0}
    served = limits.get("served", {})
    used = sum(c.get("used_weight_1m", 0) for c in limits.get("clients", {}).values())
    cfg = limits.get("config", {})
    budget = (
        f"the IP used {used} of {cfg.get('request_weight_per_minute', '?')} weight that minute "
        f"and the venue answered {served.get('429', '?')} × 429, {served.get('418', '?')} × 418; "
        "ccxt's order lane allows an order (cost 4) per 200 ms, 5 a second"
    )
    return {
        "assignments": assigned,
        "orders": orders,
        "flat_after_last_ms": flat_ms,
        "staleness_ms": stale,
        "venue_limits": limits,
        "budget": budget,
        "targets": {
            "orders": TARGET_ORDERS,
            "ms": TARGET_MS,
            "staleness_p99_ms": TARGET_STALENESS_MS,
        },
        "rows": [
            [
                f"Crash burst: {assigned} assignments in 1 s, one contract, venue limits and "
                "ccxt's default throttle on: hedge orders / last assignment → net within a lot",
                f"{orders} orders, {flat_ms} ms ({budget})",
                f"≤ {TARGET_ORDERS} orders, ≤ {TARGET_MS} ms",
            ],
            [
                "Risk-assessment staleness during the burst (oldest input's age), p99",
                f"{stale['p99']} ms ({stale['n']} assessments)",
                f"≤ {TARGET_STALENESS_MS} ms",
            ],
        ],
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run()), indent=2, default=str))
