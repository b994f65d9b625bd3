"""The test-only stream fault (`faults.StreamFault`, admin `/faults/stream`): the next n
assignment messages carry a price shifted by some bps, as logged and sent; the ledger books
the real price, and the switch turns itself off after n."""

from __future__ import annotations

from decimal import Decimal

from server_helpers import Stream, running_api

D = Decimal


async def test_shifts_the_next_n_assignment_prices_on_the_wire_only() -> None:
    async with running_api() as api:
        await api.set_index()
        blp = await api.register_blp()
        assert await api.admin_ok("GET", "/faults/stream") == {
            "assignment_price_bps": "0",
            "assignments_left": 0,
            "assignments_shifted": 0,
        }
        state = await api.admin_ok(
            "PUT", "/faults/stream", {"assignment_price_bps": "25", "assignments": 2}
        )
        assert state["assignments_left"] == 2 and state["assignment_price_bps"] == "25"
        stream = await Stream.open(api, blp)
        await api.force(3)
        events = await stream.events(4)
        assignments = [e["data"] for e in events if e["type"] == "assignment"]
        assert len(assignments) == 3
        # zero-equity takeovers: favorable at mark (the program's price is the mark)
        for a in assignments[:2]:
            assert D(a["price"]) == D(a["mark_price"]) * (1 + D(25) / 10_000)
        assert D(assignments[2]["price"]) == D(assignments[2]["mark_price"])
        state = await api.admin_ok("GET", "/faults/stream")
        assert (state["assignments_left"], state["assignments_shifted"]) == (0, 2)
        # the ledger: the BLP's position was booked at the real prices (= mark)
        pos = api.engine.service.exchange.account(blp.account_id).positions["BTC-PERP"]
        assert pos.entry_price == D(assignments[0]["mark_price"])
        # the log holds the message as sent: a replay shows the same prices
        page = await api.ok(blp, "GET", "/api/v1/events?from_seq=0")
        logged = [e["data"]["price"] for e in page["events"] if e["type"] == "assignment"]
        assert logged == [a["price"] for a in assignments]
        # refused input changes nothing
        status, err = await api.admin("PUT", "/faults/stream", {"assignments": -1})
        assert status == 400 and "assignments" in err["message"]
        status, err = await api.admin("PUT", "/faults/stream", {"bps": 1})
        assert status == 400
        state = await api.admin_ok("GET", "/faults/stream")
        assert (state["assignments_left"], state["assignments_shifted"]) == (0, 2)
        await stream.close()
