"""Soak bench (`make bench` calls `run()` through bench/run.py): does a daemon that runs for
weeks keep its memory and its journal bounded?

- the engine runs as its own process (`blp engine --venue-api binance --data-dir ...`: the
  event log on disk, as in production), with one BLP and a market maker's resting ladder;
- the bot runs as its own process too (`blp bot -c bot.toml`: ImmediateHedge, journal with a
  retention, risk monitor on) against the venue through the unmodified ccxt `binanceusdm`,
  ccxt's throttle off and the venue's limits off (unthrottled, as in the issue's soak);
- the driver forces liquidations of alternating sides through the admin API (net 0 over the
  run), in batches of `BATCH` of one side, the next batch once the bot has journaled the last
  and has no order open (read from its journal file with a read-only connection).

Reported: each process's RSS (`/proc/<pid>/status` VmRSS) after the warm-up and at the end,
and its growth between; the journal's logical size (pages × page size, WAL included) per
assignment over the measured part. Run alone: `python -m bench.soak` (`--quick`: a small run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Engine, admin, engine_toml, until
from bench.hedge import SYM, _quote, _venue_client

ASSIGNMENTS, WARMUP = 20_000, 4_000
QUICK_ASSIGNMENTS, QUICK_WARMUP = 600, 200
BATCH = 5
RETAIN_ASSIGNMENTS = 2_000  # the bot's journal retention in this run
TARGET_RSS_MB = 10.0
LOT = Decimal("0.001")
KEY, SECRET = "bench-soak-blp-key", "bench-soak-blp-secret-0000000001"

ENGINE_TOML = engine_toml(SYM, [("soak", KEY, SECRET)], rate_limit=True)


def bot_toml(url: str, journal: Path, retain: int) -> str:
    return f"""
journal = "{journal}"
metrics_port = false
log_level = "error"
from_seq = 0

[journal_retention]
retain_assignments = {retain}
every_s = 2

[engine]
url = "{url}"
api_key_env = "SOAK_BLP_KEY"
api_secret_env = "SOAK_BLP_SECRET"
symbols = ["{SYM}"]

[venues.binance]
ccxt_id = "binanceusdm"
api_key_env = "SOAK_VENUE_KEY"
api_secret_env = "SOAK_VENUE_SECRET"
rate_limit = false
options = {{ local_url = "{url}" }}

[strategy]
class = "immediate_hedge"
params = {{ venues = ["binance"] }}

[risk]
max_orders = 100000
max_order_notional = "100000000"
"""


def rss_bytes(pid: int) -> int:
    """Resident set size of a live process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class JournalProbe:
    """The bot's journal read from outside (read-only; WAL lets it read while the bot
    writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None and self.path.exists():
            with contextlib.suppress(sqlite3.Error):
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        return self._db

    def last_seq(self) -> int:
        db = self._conn()
        if db is None:
            return 0
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        except sqlite3.Error:
            return 0
        return 0 if row is None else int(json.loads(row[0]))

    def net(self) -> Decimal:
        db = self._conn()
        assert db is not None
        rows = db.execute("SELECT position FROM inventory WHERE symbol = ?", (SYM,)).fetchall()
        return sum((Decimal(r[0]) for r in rows), Decimal(0))

    def open_orders(self) -> int:
        db = self._conn()
        assert db is not None
        return int(
            db.execute(
                "SELECT COUNT(*) FROM orders WHERE state IN ('pending','sent','unknown','acked')"
            ).fetchone()[0]
        )

    def size(self) -> int:
        """Logical bytes of the database (committed pages, those still in the WAL too)."""
        db = self._conn()
        assert db is not None
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * db.execute("PRAGMA page_size").fetchone()[0])

    def counts(self) -> dict[str, int]:
        """Orders by state and fills by venue, as journaled (what compaction kept)."""
        db = self._conn()
        assert db is not None
        out = {
            f"orders_{s}": int(n)
            for s, n in db.execute("SELECT state, COUNT(*) FROM orders GROUP BY state")
        }
        out.update(
            {
                f"fills_{v}": int(n)
                for v, n in db.execute("SELECT venue, COUNT(*) FROM fills GROUP BY venue")
            }
        )
        out["events"] = int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        return out

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


async def _drive(
    session: aiohttp.ClientSession,
    url: str,
    probe: JournalProbe,
    bot: asyncio.subprocess.Process,
    count: int,
    last_seq: int,
) -> tuple[int, int]:
    """Force `count` liquidations in batches of alternating sides, each batch hedged before
    the next; returns (assignments, the BLP's last seq)."""
    assigned, k = 0, 0
    while assigned < count:
        n = min(BATCH, count - assigned)
        body = {"symbol": SYM, "count": n, "side": "long" if k % 2 == 0 else "short"}
        k += 1
        r = await admin(session, url, "POST", "/liquidations/force", body)
        assigned += int(r["assignments"])
        last_seq += int(r["events_logged"])

        def hedged(target: int = last_seq) -> bool:
            return probe.last_seq() >= target and probe.open_orders() == 0

        await until(hedged, 60, "the bot to hedge the batch", bot, every=0.01)
    return assigned, last_seq


async def _settled(probe: JournalProbe, last_seq: int, bot: asyncio.subprocess.Process) -> None:
    """Every event journaled, no order open and the net within a lot."""
    await until(
        lambda: probe.last_seq() >= last_seq and probe.open_orders() == 0
        and abs(probe.net()) <= LOT,
        60, "the bot to hedge everything", bot, every=0.01,
    )  # fmt: skip


async def start_bot(toml: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "blp_client.cli", "bot", "-c", str(toml),
        env={**os.environ, **env}, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def run(
    assignments: int = ASSIGNMENTS, warmup: int = WARMUP, retain: int = RETAIN_ASSIGNMENTS
) -> dict[str, Any]:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="blp-bench-soak-") as name:
        tmp = Path(name)
        cfg = tmp / "engine.toml"
        cfg.write_text(ENGINE_TOML)
        engine = await Engine.start(
            "--config", str(cfg), "--venue-api", "binance", "--no-venue-limits",
            "--data-dir", str(tmp / "engine"),
        )  # fmt: skip
        makers: Any = None
        bot: asyncio.subprocess.Process | None = None
        probe = JournalProbe(tmp / "bot.sqlite")
        try:
            async with aiohttp.ClientSession() as session:
                makers, _ = await _venue_client(session, engine.url, "1000000000")
                await _quote(makers)
                keys = await admin(
                    session, engine.url, "POST", "/venue/keys", {"collateral": "100000000"}
                )
                toml = tmp / "bot.toml"
                toml.write_text(bot_toml(engine.url, probe.path, retain))
                env = {
                    "SOAK_BLP_KEY": KEY,
                    "SOAK_BLP_SECRET": SECRET,
                    "SOAK_VENUE_KEY": keys["api_key"],
                    "SOAK_VENUE_SECRET": keys["api_secret"],
                }
                blps = await admin(session, engine.url, "GET", "/blps")
                aid = blps["blps"][0]["account_id"]
                last = int((await admin(session, engine.url, "GET", f"/blps/{aid}"))["last_seq"])
                bot = await start_bot(toml, env)
                await until(
                    lambda: probe.last_seq() >= last, 60, "the bot to start", bot, every=0.01
                )
                engine_pid = engine.proc.pid
                done, last = await _drive(session, engine.url, probe, bot, warmup, last)
                await _settled(probe, last, bot)
                rss0 = {"bot": rss_bytes(bot.pid), "engine": rss_bytes(engine_pid)}
                size0, t_measured = probe.size(), time.perf_counter()
                n, last = await _drive(session, engine.url, probe, bot, assignments - warmup, last)
                await _settled(probe, last, bot)
                rss1 = {"bot": rss_bytes(bot.pid), "engine": rss_bytes(engine_pid)}
                size1, measured_s = probe.size(), time.perf_counter() - t_measured
                kept = probe.counts()
                done += n
        finally:
            probe.close()
            if bot is not None and bot.returncode is None:
                bot.terminate()
                try:
                    await asyncio.wait_for(bot.wait(), 20)
                except TimeoutError:
                    bot.kill()
                    await bot.wait()
            if makers is not None:
                await makers.close()
            await engine.stop()
    mb = 1 << 20
    growth = {k: round((rss1[k] - rss0[k]) / mb, 2) for k in rss0}
    per = {k: round((rss1[k] - rss0[k]) / max(1, n), 1) for k in rss0}
    journal_per = round((size1 - size0) / max(1, n), 1)
    wall_s = round(time.perf_counter() - t0, 1)
    return {
        "assignments": done,
        "warmup": warmup,
        "measured": n,
        "measured_s": round(measured_s, 1),
        "wall_s": wall_s,
        "rate_per_s": round(n / measured_s, 1) if measured_s else None,
        "retain_assignments": retain,
        "rss_mb_after_warmup": {k: round(v / mb, 1) for k, v in rss0.items()},
        "rss_mb_end": {k: round(v / mb, 1) for k, v in rss1.items()},
        "rss_growth_mb": growth,
        "rss_growth_bytes_per_assignment": per,
        "journal_bytes": {"after_warmup": size0, "end": size1},
        "journal_bytes_per_assignment": journal_per,
        "journal_rows_at_end": kept,
        "target_rss_growth_mb": TARGET_RSS_MB,
        "rows": [
            [
                f"Soak: {done:,} assignments (alternating sides, all hedged, net 0; "
                f"{n:,} measured after a {warmup:,} warm-up, {n / measured_s:.0f}/s; "
                f"{wall_s:.0f} s in all): "
                "RSS growth, bot / engine (separate processes)",
                f"bot {growth['bot']} MB, engine {growth['engine']} MB "
                f"({per['bot']} / {per['engine']} B per assignment)",
                f"≤ {TARGET_RSS_MB:g} MB each",
            ],
            [
                f"Soak: bot journal growth per assignment after warm-up "
                f"(`journal_retention.retain_assignments = {retain}`)",
                f"{journal_per} B ({size1 / mb:.1f} MB at the end)",
                "bounded (≈ 0 once the retention is full)",
            ],
        ],
    }


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    args = (QUICK_ASSIGNMENTS, QUICK_WARMUP) if quick else (ASSIGNMENTS, WARMUP)
    print(json.dumps(asyncio.run(run(*args)), indent=2, default=str))
