"""The daemon's I/O helpers: building venues from the config (`--paper` wraps each in a
`PaperVenue`), venue margin summaries, logging. The market-data cache the view is built from,
`MarketData`, lives in `blp_client.bot.market_data` (re-exported here).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TextIO

import structlog

from blp_client.bot.config import BotConfig
from blp_client.bot.exchange_venue import ExchangeVenue
from blp_client.bot.market_data import MarketData as MarketData
from blp_client.bot.metrics import BotMetrics
from blp_client.bot.strategy import EXCHANGE, VenueMargin
from blp_client.bot.venues import CcxtVenue, PaperConfig, PaperVenue, Venue
from blp_client.client import BLPClient
from blp_client.vocabulary import ZERO

log = structlog.get_logger("blp_client.bot.daemon")


async def build_venues(
    config: BotConfig,
    client: BLPClient,
    *,
    paper: bool,
    env: Mapping[str, str] | None,
    metrics: BotMetrics,
) -> dict[str, Venue]:
    """Every enabled venue of the config plus the exchange itself; each a PaperVenue over
    the real one when `paper` (the real one is then only read: markets and books)."""
    fee_taker = fee_maker = ZERO
    try:
        prof = await client.profile()
        fee_taker, fee_maker = prof.fee_tier.taker, prof.fee_tier.maker
    except Exception as e:  # the reconcile/monitor loops will show the engine's health
        log.warning("profile_fetch_failed", error=str(e)[:200])
    venues: dict[str, Venue] = {EXCHANGE: ExchangeVenue(client, fee_taker, fee_maker)}
    for name, vc in sorted(config.venues.items()):
        if not vc.enabled:
            continue

        async def counted_sleep(seconds: float, _name: str = name) -> None:
            metrics.venue_retries.inc(venue=_name, what="backoff")
            await asyncio.sleep(seconds)

        venues[name] = CcxtVenue.from_venue_config(
            name, vc, env, public_only=paper, sleep=counted_sleep
        )
    if paper:
        venues = {n: PaperVenue(v, paper_config(config, n, i), name=n) for i, (n, v) in
                  enumerate(sorted(venues.items()))}  # fmt: skip
    return venues


def paper_config(config: BotConfig, name: str, index: int) -> PaperConfig:
    """The paper venue `name` as `[paper]` configures it; each venue its own seeded stream
    of latency and partial-fill draws."""
    p = config.paper
    return PaperConfig(
        initial_balance=p.initial_balance,
        latency_ms=p.latency_ms,
        latency_jitter_ms=p.latency_jitter_ms,
        partial_fill_probability=p.partial_fill_probability,
        partial_fill_ratio=p.partial_fill_ratio,
        seed=p.seed + index,
        # the BLP's exchange position comes from real assignments, not from this paper
        # account: reduce-only flips there could only be refused
        ignore_reduce_only=name == EXCHANGE,
    )


async def venue_margins(
    venues: Mapping[str, Venue], last: Mapping[str, VenueMargin]
) -> dict[str, VenueMargin]:
    """Each hedge venue's equity, position notional and maintenance margin (a venue whose
    fetch fails keeps its last value, so one bad request does not look like a recovery)."""
    out: dict[str, VenueMargin] = dict(last)
    for name, v in venues.items():
        if name == EXCHANGE:
            continue
        try:
            m = await v.margin()
        except Exception as e:
            log.info("venue_margin_failed", venue=name, error=f"{type(e).__name__}: {e}"[:200])
            continue
        out[name] = VenueMargin(name, m.equity, m.notional, m.maintenance_margin)
    return out


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """structlog JSON lines on `stream`, stderr by default (one object per event, ISO
    timestamps)."""
    lvl = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def crash_hook_from_env(env: Mapping[str, str] | None) -> Callable[[str], None] | None:
    """For crash tests: `BLP_BOT_CRASH_AT=point:n` SIGKILLs this process the n-th time the
    journal or executor passes `point` (e.g. after_commit, before_send, after_send)."""
    spec = (os.environ if env is None else env).get("BLP_BOT_CRASH_AT")
    if not spec:
        return None
    point, _, nth = spec.partition(":")
    left = [int(nth or 1)]

    def hook(at: str) -> None:
        if at == point:
            left[0] -= 1
            if left[0] <= 0:
                log.warning("crash_hook", point=at)
                os.kill(os.getpid(), signal.SIGKILL)

    return hook


def as_str(value: Any) -> Any:
    """Decimals (nested) as strings for JSON."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): as_str(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_str(v) for v in value]
    return value
