"""From task results to the plan's answer: one row per commitment, and the recommendation.

Exact: P&L and drawdown are summed and ranked as Decimals. The 5th percentile is the
nearest-rank one (the ⌈0.05·n⌉-th smallest P&L: with fewer than 20 markets, the worst).
The recommended commitment has the highest mean P&L among those never liquidated in any
market and whose worst drawdown stays within the user's limit; ties go to the first in grid
order. Everything is built in task order, so the document is the same bytes for any backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from .runner import TaskResult
from .tasks import Commitment, Market, Task, plain

CENT = Decimal("0.01")


def percentile(values: Sequence[Decimal], q: float) -> Decimal:
    """Nearest-rank percentile (`q` in (0, 1]) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def commitment_row(c: Commitment, results: Sequence[TaskResult]) -> dict[str, Any]:
    pnl = [Decimal(str(r["pnl"])) for r in results]
    drawdowns = [Decimal(str(r["max_drawdown"])) for r in results]
    liquidated = sum(1 for r in results if r["liquidated"])
    in_program = sum((Decimal(str(r["in_program_fraction"])) for r in results), Decimal(0))
    in_program /= len(results)
    return {
        "commitment": c.label,
        "minute_rate": c.minute_rate,
        "hour_rate": c.hour_rate,
        "threshold": c.threshold,
        "collateral": c.collateral,
        "strategy": dict(c.strategy),
        "markets": len(results),
        "mean_pnl": (sum(pnl, Decimal(0)) / len(pnl)).quantize(CENT),
        "p5_pnl": percentile(pnl, 0.05),
        "worst_pnl": min(pnl),
        "worst_drawdown": max(drawdowns),
        "liquidated_markets": liquidated,
        "p_liquidated": (Decimal(liquidated) / len(results)).quantize(Decimal("0.0001")),
        "in_program_fraction": in_program.quantize(Decimal("0.0001")),
        "mean_assignments": (
            Decimal(sum(int(r["assignments"]) for r in results)) / len(results)
        ).quantize(Decimal("0.1")),
    }


def frontier(rows: Sequence[Mapping[str, Any]]) -> list[bool]:
    """Which rows are on the efficient edge: never liquidated, and no other such row has a
    mean P&L at least as high with a worst drawdown at most as deep (one of them strictly)."""
    safe = [i for i, r in enumerate(rows) if not r["liquidated_markets"]]

    def beats(j: int, i: int) -> bool:
        a, b = rows[j], rows[i]
        at_least = a["mean_pnl"] >= b["mean_pnl"] and a["worst_drawdown"] <= b["worst_drawdown"]
        strictly = a["mean_pnl"] > b["mean_pnl"] or a["worst_drawdown"] < b["worst_drawdown"]
        return bool(at_least and strictly)

    return [i in safe and not any(beats(j, i) for j in safe) for i in range(len(rows))]


def recommend(rows: Sequence[dict[str, Any]], max_drawdown: Decimal | None) -> int | None:
    """The index of the recommended row, or None when no commitment qualifies."""
    best: int | None = None
    for i, row in enumerate(rows):
        if row["liquidated_markets"]:
            continue
        if max_drawdown is not None and row["worst_drawdown"] > max_drawdown:
            continue
        if best is None or row["mean_pnl"] > rows[best]["mean_pnl"]:
            best = i
    return best


def summarize(
    tasks: Sequence[Task],
    results: Sequence[TaskResult],
    *,
    runner: str,
    plan_seed: int,
    max_drawdown: Decimal | None,
) -> dict[str, Any]:
    """The plan's JSON document: its inputs, one row per commitment, the recommendation, and
    every task's result."""
    by_commitment: dict[int, list[TaskResult]] = {}
    commitments: dict[int, Commitment] = {}
    markets: dict[int, Market] = {}
    for t, r in zip(tasks, results, strict=True):
        by_commitment.setdefault(t.commitment_index, []).append(r)
        commitments[t.commitment_index] = t.commitment
        markets[t.market_index] = t.market
    rows = [commitment_row(commitments[i], by_commitment[i]) for i in sorted(commitments)]
    for row, edge in zip(rows, frontier(rows), strict=True):
        row["on_frontier"] = edge
    best = recommend(rows, max_drawdown)
    return {
        "runner": runner,
        "seed": plan_seed,
        "accounts": tasks[0].accounts if tasks else 0,
        "seconds": tasks[0].seconds if tasks else 0,
        "max_drawdown": max_drawdown,
        "tasks": len(tasks),
        "markets": [plain(asdict(markets[i])) for i in sorted(markets)],
        "commitments": rows,
        "recommended": None if best is None else {"index": best, **rows[best]},
        "results": [
            {"task": t.index, "commitment": t.commitment_index, "market": t.market_index, **r}
            for t, r in zip(tasks, results, strict=True)
        ],
    }


TABLE_COLUMNS = (
    ("commitment", "Commitment"),
    ("mean_pnl", "Mean P&L"),
    ("p5_pnl", "P5 P&L"),
    ("worst_pnl", "Worst P&L"),
    ("worst_drawdown", "Worst DD"),
    ("p_liquidated", "P(liq)"),
    ("in_program_fraction", "In program"),
)


def cell(key: str, v: Any) -> str:
    if key in ("p_liquidated", "in_program_fraction"):
        return f"{float(v):.0%}"
    if isinstance(v, Decimal):
        return f"{v:,.0f}"
    return str(v)


def table(doc: Mapping[str, Any]) -> str:
    """The fixed-width table `blp plan` prints, with the recommendation under it."""
    best = doc["recommended"]
    rows = [[label for _, label in TABLE_COLUMNS]]
    for i, row in enumerate(doc["commitments"]):
        mark = "* " if best is not None and best["index"] == i else "  "
        rows.append([mark + cell(k, row[k]) if k == "commitment" else cell(k, row[k])
                     for k, _ in TABLE_COLUMNS])  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append(
            "  ".join(
                [
                    r[0].ljust(widths[0]),
                    *(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)),
                ]
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(recommendation_text(doc))
    return "\n".join(lines)


def recommendation_text(doc: Mapping[str, Any]) -> str:
    best, limit = doc["recommended"], doc["max_drawdown"]
    within = f" and a worst drawdown within {limit:,.0f} USDT" if limit is not None else ""
    if best is None:
        return f"No commitment qualifies: none has no liquidation in any market{within}."
    text = (
        f"Recommended (*): {best['commitment']}: mean P&L {best['mean_pnl']:,.2f} USDT over"
        f" {best['markets']} market{'s' if best['markets'] != 1 else ''}, never liquidated{within}."
    )
    if best["mean_pnl"] < 0:
        text += " It still loses on average: the flow costs more than it earns in these markets."
    return text


__all__ = ["frontier", "percentile", "recommend", "summarize", "table"]
