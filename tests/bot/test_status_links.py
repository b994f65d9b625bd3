"""`status_links.link_hedges`: which orders hedged which assignment (hand-computed cases for
netting, escalation, timer retries and offsets; a property for the bounds)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from blp_client.bot.status import dedupe_reasons
from blp_client.bot.status_html import render_index
from blp_client.bot.status_links import OrderRow, link_hedges

D = Decimal
SYM = "BTC-PERP"


def a(seq: int, side: str, qty: str, ms: int, symbol: str = SYM) -> dict[str, Any]:
    return {"seq": seq, "side": side, "qty": qty, "symbol": symbol, "received_ms": ms}


def o(
    cid: str,
    decision: str,
    qty: str,
    filled: str,
    state: str,
    ms: int,
    reason: str = "",
    symbol: str = SYM,
) -> OrderRow:
    return OrderRow(cid, decision, "binance", symbol, D(qty), D(filled), None, state, ms, reason)


def test_netted_orders_link_back_to_every_assignment() -> None:
    links = link_hedges(
        [a(1, "buy", "0.02", 10), a(2, "buy", "0.02", 11), a(3, "buy", "0.02", 12)],
        [
            o("c-1-0", "1", "-0.02", "0", "cancelled", 10),
            o("c-2-0", "2", "-0.02", "0", "cancelled", 11),
            o("c-3-0", "3", "-0.02", "0", "cancelled", 12),
            o("c-n1-0", "n1", "-0.06", "-0.06", "filled", 13),
        ],
        {"c-1-0": "c-n1-0", "c-2-0": "c-n1-0", "c-3-0": "c-n1-0"},
    )
    for seq in (1, 2, 3):
        assert links[seq]["hedge_state"] == "hedged"
        assert links[seq]["hedged_qty"] == "0.02"
        [h] = links[seq]["hedges"]
        assert (h["client_order_id"], h["via"], h["joined"]) == ("c-n1-0", "netted", 3)


def test_escalation_and_timer_retry_cover_what_the_own_order_left() -> None:
    """#1 needs a 0.05 sell: its IOC fills 0.01, the escalation 0.02, and a timer retry of
    0.02 covers the rest (the oldest need first); #2's own order covers #2."""
    links = link_hedges(
        [a(1, "buy", "0.05", 10), a(2, "buy", "0.01", 20)],
        [
            o("c-1-0", "1", "-0.05", "-0.01", "cancelled", 10),
            o("c-e1-0", "e1", "-0.04", "-0.02", "cancelled", 15, "escalate 1: c-1-0"),
            o("c-2-0", "2", "-0.01", "-0.01", "filled", 20),
            o("c-t1-0", "t1", "-0.02", "-0.02", "filled", 30),
        ],
        {},
    )
    one = links[1]
    assert [h["via"] for h in one["hedges"]] == ["own", "escalation", "timer"]
    assert one["hedged_qty"] == "0.05" and one["hedge_state"] == "hedged"
    assert [h["via"] for h in links[2]["hedges"]] == ["own"]
    assert links[2]["hedge_state"] == "hedged"


def test_opposite_assignments_offset_and_open_orders_are_hedging() -> None:
    links = link_hedges(
        [a(1, "sell", "0.02", 10), a(2, "buy", "0.05", 20)],
        [o("c-2-0", "2", "-0.03", "-0.01", "acked", 20)],  # 0.01 filled, 0.02 on its way
        {},
    )
    assert links[1]["hedge_state"] == "offset"
    assert links[1]["offsets"] == [{"seq": 2, "qty": "0.02"}] and links[1]["hedges"] == []
    assert links[2]["hedge_state"] == "hedging"  # 0.02 offset + 0.01 filled + 0.02 open
    assert links[2]["hedged_qty"] == "0.03"


def test_a_retry_never_covers_a_later_assignment_or_another_contract() -> None:
    links = link_hedges(
        [a(1, "buy", "0.02", 50), a(2, "buy", "1", 5, symbol="ETH-PERP")],
        [o("c-t1-0", "t1", "-0.02", "-0.02", "filled", 40)],  # before #1 arrived
        {},
    )
    assert links[1]["hedge_state"] == "not hedged" and links[1]["hedges"] == []
    assert links[2]["hedge_state"] == "not hedged"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(1, 50)), min_size=1, max_size=8),
    st.lists(
        st.tuples(
            st.integers(0, 9), st.booleans(), st.integers(1, 60), st.integers(0, 100), st.booleans()
        ),
        max_size=10,
    ),
)
def test_allocations_stay_within_needs_and_fills(
    assigns: list[tuple[bool, int]], orders: list[tuple[int, bool, int, int, bool]]
) -> None:
    """No assignment is hedged beyond its quantity, and no more is credited than filled."""
    rows = [
        a(i + 1, "buy" if b else "sell", str(q), (i + 1) * 10) for i, (b, q) in enumerate(assigns)
    ]
    recs = []
    for k, (root, buy, qty, pct, is_open) in enumerate(orders):
        filled = qty * pct // 100
        sign = "" if buy else "-"
        decision = str(root) if root else f"t{k}"
        recs.append(
            o(f"c{k}", decision, f"{sign}{qty}", f"{sign}{filled}",
              "acked" if is_open else "cancelled", 5 + k * 7)
        )  # fmt: skip
    links = link_hedges(rows, recs, {})
    total_filled = sum(abs(r.filled) for r in recs)
    credited = D(0)
    for r in rows:
        got = links[r["seq"]]
        assert D(0) <= D(got["hedged_qty"]) <= D(r["qty"])
        assert got["hedge_state"] in {"hedged", "hedging", "partly hedged", "not hedged", "offset"}
        offsets = sum((D(x["qty"]) for x in got["offsets"]), D(0))
        credited += D(got["hedged_qty"]) - offsets
    assert credited <= total_filled


def test_reasons_once_each() -> None:
    got = dedupe_reasons(
        ["leverage 9.10 >= 8", "liquidation reducing", "leverage 9.10 >= 6", "liquidation reducing"]
    )
    assert got == ["leverage 9.10 (>= 8; >= 6)", "liquidation reducing"]


def test_first_paint_fills_fields_and_embeds_the_json_safely() -> None:
    template = (
        '<body><b data-field="last_seq">—</b><dd data-field="risk.exchange_imf" data-fmt="ratio">'
        '—</dd><i data-field="nothing">—</i></body>'
    )
    text = '{"last_seq": 12345, "risk": {"exchange_imf": "0.0100"}, "x": "</script>"}'
    html = render_index(template, text)
    assert '<b data-field="last_seq" data-value="12345">12,345</b>' in html
    assert 'data-fmt="ratio" data-value="0.0100">0.01</dd>' in html
    assert '<i data-field="nothing" data-value="">—</i>' in html
    assert '</script>"}' not in html and "\\u003c/script>" in html


def test_a_netted_order_hedges_each_assignment_as_its_own_order_asked() -> None:
    """A strategy hedging half (0.01 of each 0.02 long): the netted 0.03 gives each 0.01,
    not the first one all of it."""
    links = link_hedges(
        [a(1, "buy", "0.02", 10), a(2, "buy", "0.02", 11), a(3, "buy", "0.02", 12)],
        [o(f"c-{i}-0", str(i), "-0.01", "0", "cancelled", 9 + i) for i in (1, 2, 3)]
        + [o("c-n1-0", "n1", "-0.03", "-0.03", "filled", 13)],
        {f"c-{i}-0": "c-n1-0" for i in (1, 2, 3)},
    )
    for seq in (1, 2, 3):
        assert links[seq]["hedged_qty"] == "0.01" and links[seq]["hedge_state"] == "partly hedged"
