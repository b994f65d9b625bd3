"""The journal's lanes: a (venue, contract) lane's queued orders, netting them into one order,
and each order's escalation step (`core.netting`, `core.escalation` decide; this records)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from blp_client.bot.books import ZERO
from blp_client.bot.core.escalation import Step
from blp_client.bot.core.netting import NetPlan
from blp_client.bot.journal_schema import JournalError, OrderRecord, OrderState
from blp_client.bot.journal_store import JournalStore


class JournalLanes(JournalStore):
    def _set_step(self, client_order_id: str, step: Step) -> None:
        self._db.execute(
            "INSERT INTO steps(client_order_id, body) VALUES (?, ?) "
            "ON CONFLICT(client_order_id) DO UPDATE SET body = excluded.body",
            (client_order_id, json.dumps(step.as_json(), sort_keys=True)),
        )

    def step(self, client_order_id: str) -> Step:
        """Where an order stands in its escalation. A strategy's own order has no row: it is
        attempt 0 at its intent's price cap, on its own venue."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM steps WHERE client_order_id = ?", (client_order_id,)
            ).fetchone()
            if row is not None:
                return Step.from_json(json.loads(row[0]))
            found = self._db.execute(
                "SELECT i.body, o.venue FROM orders o JOIN intents i "
                "ON i.decision = o.decision AND i.n = o.n WHERE o.client_order_id = ?",
                (client_order_id,),
            ).fetchone()
        if found is None:
            return Step()
        cap = json.loads(found[0]).get("slippage_bps")
        return Step(0, Decimal(str(cap)) if cap is not None else ZERO, (found[1],), "strategy")

    def queued(self, venue: str, symbol: str) -> list[OrderRecord]:
        """A lane's pending (journaled, never sent) orders, oldest first."""
        with self._lock:
            return [
                o
                for o in self._open.values()
                if o.venue == venue and o.symbol == symbol and o.state is OrderState.PENDING
            ]

    def lane_orders(self, venue: str, symbol: str) -> list[OrderRecord]:
        with self._lock:
            return [o for o in self._open.values() if o.venue == venue and o.symbol == symbol]

    def net_orders(self, plan: NetPlan, *, now_ms: int) -> OrderRecord | None:
        """Replace a lane's queued orders (`plan.joined`, never sent) by one order of their
        net quantity, atomically; None when they cancel out. Its id comes from a journaled
        counter, so a crash before the commit leaves the queue as it was and one after it
        finds the netted order pending."""
        with self._tx() as db:
            k = int(self._meta("counter.n") or 0) + 1
            self._set_meta("counter.n", k)
            decision = f"n{k}"
            cid = self.client_order_id(decision, 0)
            best = Step()
            for o in plan.joined:
                cur = self._get_order(o.client_order_id)
                if cur.state is not OrderState.PENDING:
                    raise JournalError(f"{o.client_order_id} is {cur.state}, not pending")
                db.execute(
                    "UPDATE orders SET state = ?, error = ?, updated_ms = ? "
                    "WHERE client_order_id = ?",
                    (OrderState.CANCELLED.value, f"netted into {cid}", now_ms, o.client_order_id),
                )
                self._staged(
                    replace(
                        cur,
                        state=OrderState.CANCELLED,
                        error=f"netted into {cid}",
                        updated_ms=now_ms,
                    )
                )
                db.execute(
                    "INSERT INTO netted(client_order_id, into_order) VALUES (?, ?)",
                    (o.client_order_id, cid),
                )
                step = self.step(o.client_order_id)
                if step.attempt >= best.attempt:
                    best = step
            if plan.qty == 0:
                return None
            head = plan.joined[0]
            venue = plan.venue or head.venue
            o = OrderRecord.pending(
                cid,
                decision,
                0,
                venue,
                head.symbol,
                plan.qty,
                plan.limit_price,
                plan.tif,
                plan.reduce_only,
                now_ms,
                f"netted {len(plan.joined)} orders"
                if venue == head.venue
                else f"spilled {len(plan.joined)} orders from {head.venue}",
            )
            self._insert_order(o)
            self._set_step(cid, plan.step or best)
            self._hook("netted")
            return self._staged(o)

    def netted_into(self, client_order_ids: Sequence[str]) -> dict[str, str]:
        """Queued orders → the netted order that replaced them."""
        if not client_order_ids:
            return {}
        marks = ",".join("?" * len(client_order_ids))
        with self._lock:
            rows = self._db.execute(
                "SELECT client_order_id, into_order FROM netted "
                f"WHERE client_order_id IN ({marks})",
                list(client_order_ids),
            ).fetchall()
        return {a: b for a, b in rows}
