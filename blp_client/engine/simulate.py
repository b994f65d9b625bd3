"""Run a market scenario through the engine end to end and report what the waterfall did.

The report is plain JSON (decimals as strings, no timings, fixed key order), so one seed gives a
byte-identical report on any machine. `compare` runs the same seed with and without BLPs: the
program is judged on how much ADL and socialised loss it saves.
"""

from __future__ import annotations

import dataclasses
import gc
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .core import Exchange, ExchangeConfig
from .core.num import ZERO, money
from .funding_report import funding_config, funding_section
from .market import DEFAULT_BLPS, BLPSpec, Scenario, build_scenario
from .presets import PRESETS

Progress = Callable[[int, int], None]  # (seconds done, seconds total)
DEFAULT_INSURANCE_FUND = ExchangeConfig.insurance_fund
MAX_INSURANCE_FUND = Decimal("1e12")


def check_insurance_fund(value: Decimal) -> Decimal:
    """A fund size in [0, 1e12] USDT, or ValueError naming `insurance_fund`."""
    if not value.is_finite() or not ZERO <= value <= MAX_INSURANCE_FUND:
        raise ValueError(f"insurance_fund: must be between 0 and {MAX_INSURANCE_FUND:,.0f} USDT")
    return value


@dataclass(frozen=True)
class SimulationConfig:
    scenario: str = "crash"
    accounts: int = 5000
    seed: int = 1
    seconds: int = 3600
    drop: float = 0.20
    blp: bool = True
    csv_path: str | None = None
    sample_every_s: int = 10  # timeline resolution for charts
    funding_interval_s: int | None = None  # None: Binance's 8 h; shorter for short scenarios
    perp_discount_bps: float = 0.0  # makers quote the perp up to this far below a falling index
    # the exchange's insurance fund at the start: small enough, and a crash's bankruptcies
    # exhaust it, so the shortfall is socialised (clawed back from winners)
    insurance_fund: Decimal = DEFAULT_INSURANCE_FUND


@dataclass
class SimulationResult:
    report: dict[str, Any]
    timeline: list[dict[str, Any]] = field(default_factory=list)


def run(
    cfg: SimulationConfig,
    progress: Progress | None = None,
    *,
    blps: Sequence[BLPSpec] | None = None,
) -> SimulationResult:
    """One scenario, one engine, one report. Deterministic for `cfg` (and `blps`: the BLPs to
    open; by default `DEFAULT_BLPS` when `cfg.blp`, none otherwise)."""
    if blps is None:
        blps = DEFAULT_BLPS if cfg.blp else ()
    with collector_paused():
        return _run(cfg, blps, progress)


def _run(
    cfg: SimulationConfig, blps: Sequence[BLPSpec], progress: Progress | None
) -> SimulationResult:
    x = Exchange(
        ExchangeConfig(
            insurance_fund=check_insurance_fund(cfg.insurance_fund),
            funding=funding_config(cfg.funding_interval_s),
        )
    )
    scenario = build_scenario(
        cfg.scenario,
        x,
        seed=cfg.seed,
        accounts=cfg.accounts,
        blps=blps,
        seconds=cfg.seconds,
        drop=cfg.drop,
        csv_path=cfg.csv_path,
        perp_discount_bps=cfg.perp_discount_bps,
    )
    x.drain_events()
    timeline = [sample(x, scenario)]
    for t in range(1, cfg.seconds + 1):
        now = scenario.start_ms + t * 1000
        scenario.step(now)
        x.advance(now)
        x.events.clear()  # the simulation reads counters, not the event stream
        if t % cfg.sample_every_s == 0 or t == cfg.seconds:
            timeline.append(sample(x, scenario))
        if progress is not None:
            progress(t, cfg.seconds)
    return SimulationResult(report(x, scenario, cfg), timeline)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause automatic garbage collection for a run (as `timeit` does). The engine makes almost
    no reference cycles, but with 100k accounts each of its ~15 full collections walks about a
    million live objects to free nothing (~0.7 s of a 100k-account crash). Switched back on
    afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def compare(cfg: SimulationConfig, progress: Progress | None = None) -> dict[str, Any]:
    """The same market with and without the BLP program."""
    return {name: result.report for name, result in compare_runs(cfg, progress).items()}


def compare_runs(
    cfg: SimulationConfig,
    progress: Progress | None = None,
    *,
    blps: Sequence[BLPSpec] | None = None,
) -> dict[str, SimulationResult]:
    """`compare` with the timelines: {"with_blp": result, "without_blp": result}; `blps` are
    the BLPs of the first run (`DEFAULT_BLPS` by default)."""
    total = 2 * cfg.seconds

    def first(done: int, _: int) -> None:
        if progress:
            progress(done, total)

    def second(done: int, _: int) -> None:
        if progress:
            progress(cfg.seconds + done, total)

    with_blp = run(dataclasses.replace(cfg, blp=True), first, blps=blps)
    without = run(dataclasses.replace(cfg, blp=False), second)
    return {"with_blp": with_blp, "without_blp": without}


def fund_equity(x: Exchange) -> Decimal:
    """The insurance fund's cash plus what its held positions are worth at mark."""
    return money(x.margin(x.insurance_fund.id).equity)


def scenario_drop(scenario: str, drop: float) -> str:
    """The crash depth a report shows: a preset's own (`--drop` does not apply to it)."""
    return str(round(PRESETS[scenario].drop, 4) if scenario in PRESETS else drop)


def report(
    x: Exchange,
    scenario: Scenario,
    cfg: SimulationConfig,
    blps_by_name: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The run's report; its BLP table lists `blps_by_name` (default: the scenario's BLPs)."""
    s = x.stats
    blps: dict[str, Any] = {}
    for name, aid in (scenario.blps if blps_by_name is None else blps_by_name).items():
        b = s.blp(aid)
        snap = x.margin(aid)
        acct = x.account(aid)
        blps[name] = {
            "assignments": b.assignments,
            "assigned_notional": money(b.assigned_notional),
            "favorable_notional": money(b.favorable_notional),
            "toxic_notional": money(b.toxic_notional),
            "discount_value": money(b.discount_value),
            "liquidated": b.liquidated,
            "equity_end": money(snap.equity),
            "positions_end": {
                sym: pos.qty for sym, pos in sorted(acct.positions.items()) if pos.qty
            },
        }
    out: dict[str, Any] = {
        "scenario": cfg.scenario,
        "seed": cfg.seed,
        "accounts": cfg.accounts,
        "seconds": cfg.seconds,
        "drop": scenario_drop(cfg.scenario, cfg.drop),
        "blp_program": cfg.blp,
        "liquidations": s.liquidations,
        "returned_to_trader": s.returned,
        "takeovers": s.takeovers,
        "book_reduced_notional": money(s.book_reduced_notional),
        "takeover_notional": money(s.takeover_notional),
        "blp_assigned_notional": money(s.blp_assigned_notional),
        "blp_favorable_notional": money(s.blp_favorable_notional),
        "blp_toxic_notional": money(s.blp_toxic_notional),
        "insurance_kept_notional": money(s.insurance_kept_notional),
        "insurance_fund_start": money(s.insurance_fund_start),
        "insurance_fund_end": fund_equity(x),
        "adl_count": s.adl_count,
        "adl_notional": money(s.adl_notional),
        "socialized_loss": money(s.socialized_loss),
        "socialized_events": s.socialized_events,
        "clawback_rate": s.max_clawback_rate,
        "adl_plus_socialized": money(s.adl_notional + s.socialized_loss),
        "blp_liquidations": s.blp_liquidations,
        "blps": blps,
        "final_index": {sym: x.index[sym] for sym in sorted(x.index)},
    }
    funding = funding_section(
        x, cfg.seconds, scenario.blps if blps_by_name is None else blps_by_name
    )
    out["funding_to_traders"] = funding["received"]["trader"]
    out["funding_to_blps"] = funding["received"]["blp"]
    out["funding_to_fund"] = money(
        funding["received"]["insurance_fund"] + funding["residue_to_fund"]
    )
    out["funding"] = funding
    return out


def sample(x: Exchange, scenario: Scenario) -> dict[str, Any]:
    """One point of a timeline (engine seconds since the start, prices, cumulative counters):
    what `report.charts` reads."""
    s = x.stats
    return {
        "t": (x.now_ms - scenario.start_ms) // 1000,
        "index": {sym: x.index[sym] for sym in sorted(x.index)},
        "mark": {sym: x.marks[sym] for sym in sorted(x.marks)},
        "liquidations": s.liquidations,
        "blp_assigned_notional": s.blp_assigned_notional,
        "insurance_fund": x.insurance_fund.cash,
        "adl_notional": s.adl_notional,
        "socialized_loss": s.socialized_loss,
    }


def _default(o: object) -> str:
    if isinstance(o, Decimal):
        return format(o.normalize(), "f")
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json(data: Any) -> str:
    """Canonical JSON: decimals as plain strings, key order as built, two-space indent."""
    return json.dumps(data, default=_default, indent=2) + "\n"


COMPARE_ROWS = (
    ("liquidations", "Liquidations"),
    ("book_reduced_notional", "Book-reduced notional"),
    ("takeover_notional", "Taken over (notional)"),
    ("blp_assigned_notional", "Assigned to BLPs"),
    ("blp_favorable_notional", "  favorable"),
    ("blp_toxic_notional", "  toxic"),
    ("insurance_kept_notional", "Kept by insurance fund"),
    ("insurance_fund_end", "Insurance fund at end"),
    ("adl_count", "ADL events"),
    ("adl_notional", "ADL notional"),
    ("socialized_loss", "Socialised loss"),
    ("clawback_rate", "Max clawback rate"),
    ("adl_plus_socialized", "ADL + socialised loss"),
    ("blp_liquidations", "BLPs liquidated"),
)
FUNDING_ROWS = (
    ("funding_to_traders", "Funding to traders (net)"),
    ("funding_to_blps", "Funding to BLPs (net)"),
    ("funding_to_fund", "Funding to the fund (net)"),
)  # shown when a run had a funding time


def _fmt(v: Any) -> str:
    if isinstance(v, Decimal):
        if v == v.to_integral():
            return f"{int(v):,}"
        return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.4f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def table(reports: dict[str, dict[str, Any]]) -> str:
    """A fixed-width table of the headline figures, one column per report."""
    names = list(reports)
    rows = [["", *names]]
    funded = any(r.get("funding", {}).get("settlements") for r in reports.values())
    for key, label in COMPARE_ROWS + (FUNDING_ROWS if funded else ()):
        rows.append([label, *(_fmt(reports[n].get(key, "")) for n in names)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        right = [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        cells = [r[0].ljust(widths[0]), *right]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compare_text(result: dict[str, Any]) -> str:
    """What `blp simulate --compare` prints: the table and the ADL + socialised loss saved."""
    table_text = table({"with BLPs": result["with_blp"], "without BLPs": result["without_blp"]})
    return (
        f"{table_text}\n\nADL + socialised loss avoided by the program: {saving(result):,.2f} USDT"
        + funding_note(result["with_blp"])
    )


def funding_note(report: Mapping[str, Any]) -> str:
    """A line under the table when the funding interval was shortened."""
    funding = report.get("funding", {})
    return f"\nFunding: {funding['note']}" if funding.get("shortened") else ""


def saving(result: dict[str, Any]) -> Decimal:
    """ADL notional + socialised loss avoided by the program (positive = the program helped)."""
    return Decimal(result["without_blp"]["adl_plus_socialized"]) - Decimal(
        result["with_blp"]["adl_plus_socialized"]
    )
