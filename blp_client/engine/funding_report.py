"""The funding part of a simulation report: what funding moved between traders, BLPs, the
house's market makers and the insurance fund, the rates it ran at, and whether the interval
was shortened (a scenario shorter than 8 h sees no Binance funding time unless it is).

A hook for other engine-time runs (the backtest): `funding_config(interval_s)` builds the
core's config, `funding_section(x, ...)` the report section from the exchange's statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .core import Exchange
from .core.funding import EIGHT_HOURS_MS, FundingConfig
from .core.num import ZERO, money

KINDS = ("trader", "blp", "market_maker", "insurance_fund")


def funding_config(interval_s: int | None) -> FundingConfig:
    """Binance's funding, its interval shortened to `interval_s` when given."""
    if interval_s is None:
        return FundingConfig()
    return FundingConfig(interval_ms=interval_s * 1000)


def funding_section(x: Exchange, seconds: int, blps_by_name: Mapping[str, int]) -> dict[str, Any]:
    cfg = x.config.funding
    f = x.stats.funding
    interval_s = cfg.interval_ms // 1000
    note = None
    if not cfg.enabled:
        note = "funding off"
    elif cfg.shortened:
        note = (
            f"funding every {interval_s} s instead of Binance's 8 h: each interval pays a full "
            "interval's rate (interest scaled to it), so funding is larger than in 8 h markets"
        )
    elif seconds * 1000 < EIGHT_HOURS_MS:
        note = "no funding time inside a run shorter than 8 h (shorten the interval to see it)"
    return {
        "enabled": cfg.enabled,
        "interval_s": interval_s,
        "shortened": cfg.enabled and cfg.shortened,
        "note": note,
        "settlements": f.times,
        "received": {k: money(f.net.get(k, ZERO)) for k in KINDS},  # net, < 0: paid
        "paid_gross": {k: money(f.paid.get(k, ZERO)) for k in KINDS},
        "received_gross": {k: money(f.received.get(k, ZERO)) for k in KINDS},
        "residue_to_fund": money(f.residue),
        "rates": {
            s: {"min": lo, "max": hi, "last": last} for s, (lo, hi, last) in sorted(f.rates.items())
        },
        "blps": {name: money(x.stats.blp(aid).funding) for name, aid in blps_by_name.items()},
    }


def net_total(section: Mapping[str, Any]) -> Decimal:
    """Σ net funding over the kinds plus the residue the fund took: exactly 0."""
    return sum((Decimal(v) for v in section["received"].values()), ZERO) + Decimal(
        section["residue_to_fund"]
    )
