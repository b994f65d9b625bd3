"""A small Prometheus registry (counters, gauges, histograms) in the text exposition format,
served by aiohttp at `/metrics`.

Hand-written so the bot needs no extra dependency; it implements only what the daemon uses:
float values, optional labels, cumulative histogram buckets.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from aiohttp import web

Number = float | int | Decimal
LabelKey = tuple[tuple[str, str], ...]

CONTENT_TYPE = "text/plain; version=0.0.4"


def _key(labels: dict[str, str] | None) -> LabelKey:
    return tuple(sorted((labels or {}).items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(key: LabelKey, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = list(key) + list(extra)
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.doc = doc

    def samples(self) -> Iterable[str]:
        raise NotImplementedError

    def render(self) -> str:
        head = f"# HELP {self.name} {self.doc}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(f"{s}\n" for s in self.samples())


class Counter(_Metric):
    """Only goes up (resets to 0 when the process restarts, as Prometheus expects)."""

    kind = "counter"

    def __init__(self, name: str, doc: str) -> None:
        super().__init__(name, doc)
        self.values: dict[LabelKey, float] = {}

    def inc(self, amount: Number = 1, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter cannot go down")
        k = _key(labels)
        self.values[k] = self.values.get(k, 0.0) + float(amount)

    def get(self, **labels: str) -> float:
        return self.values.get(_key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        for k, v in sorted(self.values.items()):
            yield f"{self.name}{_fmt_labels(k)} {_fmt(v)}"


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, doc: str) -> None:
        super().__init__(name, doc)
        self.values: dict[LabelKey, float] = {}

    def set(self, value: Number, **labels: str) -> None:
        self.values[_key(labels)] = float(value)

    def get(self, **labels: str) -> float | None:
        return self.values.get(_key(labels))

    def samples(self) -> Iterable[str]:
        for k, v in sorted(self.values.items()):
            yield f"{self.name}{_fmt_labels(k)} {_fmt(v)}"


DEFAULT_MS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


class Histogram(_Metric):
    """Cumulative buckets plus `_sum` and `_count`; keeps recent raw values for quantiles."""

    kind = "histogram"

    def __init__(
        self, name: str, doc: str, buckets: Sequence[float] = DEFAULT_MS_BUCKETS, keep: int = 10_000
    ) -> None:
        super().__init__(name, doc)
        self.buckets = tuple(sorted(float(b) for b in buckets))
        self.counts: dict[LabelKey, list[int]] = {}
        self.sums: dict[LabelKey, float] = {}
        self.recent: list[float] = []
        self.keep = keep

    def observe(self, value: Number, **labels: str) -> None:
        v = float(value)
        k = _key(labels)
        counts = self.counts.setdefault(k, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, v)] += 1
        self.sums[k] = self.sums.get(k, 0.0) + v
        self.recent.append(v)
        if len(self.recent) > self.keep:
            del self.recent[: len(self.recent) - self.keep]

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile of the recent observations (all labels), None when empty."""
        if not self.recent:
            return None
        data = sorted(self.recent)
        rank = max(1, math.ceil(q * len(data)))
        return data[min(rank, len(data)) - 1]

    def samples(self) -> Iterable[str]:
        for k, counts in sorted(self.counts.items()):
            cum = 0
            for bound, c in zip((*self.buckets, math.inf), counts, strict=True):
                cum += c
                le = (("le", _fmt(bound) if not math.isinf(bound) else "+Inf"),)
                yield f"{self.name}_bucket{_fmt_labels(k, le)} {cum}"
            yield f"{self.name}_sum{_fmt_labels(k)} {_fmt(self.sums[k])}"
            yield f"{self.name}_count{_fmt_labels(k)} {cum}"


class Registry:
    def __init__(self) -> None:
        self.metrics: dict[str, _Metric] = {}

    def _add(self, metric: _Metric) -> None:
        if metric.name in self.metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self.metrics[metric.name] = metric

    def counter(self, name: str, doc: str) -> Counter:
        c = Counter(name, doc)
        self._add(c)
        return c

    def gauge(self, name: str, doc: str) -> Gauge:
        g = Gauge(name, doc)
        self._add(g)
        return g

    def histogram(
        self, name: str, doc: str, buckets: Sequence[float] = DEFAULT_MS_BUCKETS
    ) -> Histogram:
        h = Histogram(name, doc, buckets)
        self._add(h)
        return h

    def render(self) -> str:
        return "".join(m.render() for m in self.metrics.values())


class BotMetrics:
    """The daemon's metrics, by name (all prefixed `blp_bot_`)."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.assignments = r.counter(
            "blp_bot_assignments_total", "Assignments processed (journaled once each)."
        )
        self.assigned_notional = r.counter(
            "blp_bot_assigned_notional_total", "Notional of processed assignments, quote currency."
        )
        self.discount = r.counter(
            "blp_bot_discount_captured_total", "Discount vs mark on assignments, quote currency."
        )
        self.hedge_latency = r.histogram(
            "blp_bot_hedge_latency_ms",
            "Assignment received -> first hedge order acknowledged by the venue, ms.",
        )
        self.orders = r.counter("blp_bot_orders_total", "Orders sent, by venue and outcome.")
        self.fills = r.counter("blp_bot_fills_total", "Fills recorded, by venue.")
        self.venue_errors = r.counter(
            "blp_bot_venue_errors_total", "Venue errors, by venue and kind."
        )
        self.venue_retries = r.counter(
            "blp_bot_venue_retries_total", "Requests retried or resolved after a fault, by venue."
        )
        self.reconcile = r.counter("blp_bot_reconcile_total", "Reconciliation outcomes, by kind.")
        self.denied = r.counter("blp_bot_denied_intents_total", "Intents denied by the risk gate.")
        self.net_exposure = r.gauge(
            "blp_bot_net_exposure", "Net exposure per contract, base units (in-flight counted)."
        )
        self.net_exposure_notional = r.gauge(
            "blp_bot_net_exposure_notional", "|Net exposure| at mark per contract."
        )
        self.leverage = r.gauge("blp_bot_leverage", "Leverage by account (exchange or venue).")
        self.threshold = r.gauge(
            "blp_bot_threshold", "Max Position Notional Threshold per contract."
        )
        self.risk_state = r.gauge(
            "blp_bot_risk_state", "1 for the current risk state (active/reducing/halted)."
        )
        self.last_seq = r.gauge("blp_bot_last_seq", "Last processed stream seq.")
        self.pnl = r.gauge("blp_bot_pnl", "Mark-to-market PnL of the bot's positions, fees in.")
        self.netted = r.counter(
            "blp_bot_orders_netted_total", "Queued orders joined into one netted order, by venue."
        )
        self.spilled = r.counter(
            "blp_bot_orders_spilled_total",
            "Queued hedges that waited execution.spill_wait_ms for their venue's budget and "
            "went to the exchange's own book as a reduce-only flip, by the venue they left.",
        )
        self.escalations = r.counter(
            "blp_bot_escalations_total", "Hedges escalated after an IOC expired, by stage."
        )
        self.staleness = r.histogram(
            "blp_bot_assessment_staleness_ms",
            "Age of the oldest input (exchange account, venue margins) at each risk assessment.",
            (50, 100, 250, 500, 1000, 2000, 5000, 10000, 30000),
        )
        self.exposure_age = r.gauge(
            "blp_bot_exposure_age_ms",
            "How long |net exposure| of a contract has stayed above the alarm band, ms.",
        )
        self.exposure_alarms = r.counter(
            "blp_bot_exposure_alarms_total", "Exposure-age alarms fired, by contract."
        )
        self.in_program = r.gauge(
            "blp_bot_in_program", "1 while threshold headroom > 0 on every hedged contract."
        )
        self.in_program_fraction = r.gauge(
            "blp_bot_in_program_fraction", "Share of observed time in the program."
        )
        self.funding = r.counter(
            "blp_bot_funding_total",
            "Perpetual funding, quote currency, by contract, venue and direction (paid/received).",
        )
        self.funding_rate = r.gauge(
            "blp_bot_funding_rate",
            "Funding rate per interval by contract and venue: kind current (the last funding "
            "time's) or predicted (the venue's estimate for the next one).",
        )
        self.unhedged = r.counter(
            "blp_bot_unhedged_assignments_total",
            "Assignments in contracts the bot does not hedge (engine.symbols), by contract.",
        )
        self.price_audits = r.counter(
            "blp_bot_price_audits_total",
            "Assignments whose price was checked against the program's rule, by contract.",
        )
        self.price_audit_mismatches = r.counter(
            "blp_bot_price_audit_mismatches_total",
            "Assignments whose price is not the program's (an alarm), by contract and kind.",
        )
        self.price_audits_unchecked = r.counter(
            "blp_bot_price_audits_unchecked_total",
            "Assignments not price-checked: the contract's tick is not known, by contract.",
        )
        self.markout_bps = r.gauge(
            "blp_bot_markout_bps",
            "Notional-weighted markout of the assigned flow at a horizon (1s/10s/60s), bps: "
            "how the exchange's mark moved against the assignment price (discount included).",
        )
        self.markouts = r.gauge(
            "blp_bot_markouts",
            "Assignments whose markout at the horizon is in blp_bot_markout_bps, by horizon.",
        )
        self.compacted = r.counter(
            "blp_bot_journal_compacted_rows_total",
            "Journal rows deleted by compaction (journal_retention), by table.",
        )


def metrics_app(metrics: BotMetrics, status: Callable[[], object] | None = None) -> web.Application:
    """`/metrics` (Prometheus text) and, when given, `/status` (JSON)."""
    app = web.Application()

    async def get_metrics(_request: web.Request) -> web.Response:
        return web.Response(text=metrics.registry.render(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", get_metrics)
    if status is not None:

        async def get_status(_request: web.Request) -> web.Response:
            return web.json_response(status(), dumps=_dumps)

        app.router.add_get("/status", get_status)
    return app


def _dumps(obj: object) -> str:
    import json

    return json.dumps(obj, default=str, sort_keys=True)
