"""The hand-written Prometheus registry renders the text exposition format."""

from __future__ import annotations

from decimal import Decimal

import pytest

from blp_client.bot.metrics import BotMetrics, Registry


def test_counter_gauge_histogram_render() -> None:
    r = Registry()
    c = r.counter("x_total", "Things.")
    g = r.gauge("y", "Level.")
    h = r.histogram("lat_ms", "Latency.", buckets=(1, 10))
    c.inc(venue="a")
    c.inc(Decimal("2.5"), venue="a")
    g.set(-3, symbol='B"1')
    for v in (0.5, 5, 50):
        h.observe(v)
    text = r.render()
    assert "# TYPE x_total counter\n" in text
    assert 'x_total{venue="a"} 3.5\n' in text
    assert 'y{symbol="B\\"1"} -3.0\n' in text
    assert 'lat_ms_bucket{le="1.0"} 1\n' in text
    assert 'lat_ms_bucket{le="10.0"} 2\n' in text
    assert 'lat_ms_bucket{le="+Inf"} 3\n' in text
    assert "lat_ms_sum 55.5\n" in text and "lat_ms_count 3\n" in text
    assert h.quantile(0.5) == 5 and h.quantile(0.99) == 50
    with pytest.raises(ValueError):
        c.inc(-1)
    with pytest.raises(ValueError):
        r.counter("x_total", "again")


def test_bot_metric_names() -> None:
    names = set(BotMetrics().registry.metrics)
    assert {
        "blp_bot_assignments_total",
        "blp_bot_assigned_notional_total",
        "blp_bot_discount_captured_total",
        "blp_bot_hedge_latency_ms",
        "blp_bot_net_exposure",
        "blp_bot_leverage",
        "blp_bot_threshold",
        "blp_bot_risk_state",
        "blp_bot_venue_errors_total",
        "blp_bot_venue_retries_total",
        "blp_bot_price_audits_total",
        "blp_bot_price_audit_mismatches_total",
        "blp_bot_price_audits_unchecked_total",
        "blp_bot_markout_bps",
        "blp_bot_markouts",
    } <= names
