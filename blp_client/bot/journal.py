"""The bot's SQLite (WAL) journal: what has been processed, decided, sent and filled.

Exactly-once rests on one rule: an event is recorded together with everything it causes — the
position change, the intents, the orders (state `pending`, with their client order ids) and the
strategy's state — in a single transaction, and nothing is sent before that transaction commits.
If the process dies before the commit, nothing happened and the event is replayed (same seq, so
the same client ids); after it, the event is never processed again and the executor finds the
pending orders on restart and reconciles them by client id before (re)sending. Fills are keyed
by (venue, trade id), so a fill seen twice (REST answer and stream) counts once.

The connection, transactions and the caches that follow commits are in `journal_store`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from blp_client.bot.books import ZERO
from blp_client.bot.core.escalation import Step
from blp_client.bot.core.record import Record
from blp_client.bot.journal_codec import intent_from_json, intent_to_json
from blp_client.bot.journal_funding import JournalFunding
from blp_client.bot.journal_lanes import JournalLanes
from blp_client.bot.journal_lock import JournalLock
from blp_client.bot.journal_schema import (
    OPEN_STATES,
    ORDER_COLS,
    Committed,
    FillRecord,
    FundingRecord,
    JournalError,
    OrderRecord,
    OrderState,
    PositionDelta,
    ThresholdAction,
    can_move,
    order_from_row,
)
from blp_client.bot.risk import Denied
from blp_client.bot.strategy import (
    Holding,
    Intent,
    Inventory,
    SetThreshold,
)

__all__ = [
    "Committed",
    "FillRecord",
    "FundingRecord",
    "Journal",
    "JournalError",
    "OrderRecord",
    "OrderState",
    "PositionDelta",
    "ThresholdAction",
    "intent_from_json",
    "intent_to_json",
]


class Journal(JournalLanes, JournalFunding):
    """One SQLite file; safe to share between threads (calls are serialised). What is recorded
    is here; the connection, transactions and in-memory caches are `JournalStore`'s."""

    owner: JournalLock | None = None
    """The daemon's lock on this journal (`journal_open.open_journal`), dropped on close."""

    def close(self) -> None:
        super().close()
        if self.owner is not None:
            self.owner.release()

    # ---- state -------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The highest processed stream seq (0 on a fresh journal)."""
        with self._lock:
            return self._last_seq

    def processed(self, seq: int) -> bool:
        with self._lock:
            return self._seen(seq)

    def _seen(self, seq: int) -> bool:
        """Whether `seq` was recorded. A seq past the last one never was: the stream's next
        event costs no query; an older one (a replay) is looked up, compacted seqs counted."""
        if seq > max(self._last_seq, self._staged_last_seq or 0):
            return False
        if seq <= self._compacted_seq():
            return True
        return self._db.execute("SELECT 1 FROM events WHERE seq = ?", (seq,)).fetchone() is not None

    def _compacted_seq(self) -> int:
        """The highest seq compaction deleted (0: none); every seq up to it was processed."""
        return int(self._meta("compacted_seq") or 0)

    def get_state(self, key: str) -> Any:
        """JSON state saved with decisions (e.g. "strategy", "monitor"), or None."""
        with self._lock:
            return self._meta(f"state.{key}")

    def set_state(self, key: str, value: Any) -> None:
        with self._tx():
            self._set_meta(f"state.{key}", value)

    # ---- decisions ---------------------------------------------------------------------

    def record_event(
        self,
        *,
        seq: int,
        event_id: str,
        kind: str,
        ts: int,
        payload: Mapping[str, Any],
        now_ms: int,
        positions: Sequence[PositionDelta] = (),
        fills: Sequence[FillRecord] = (),
        intents: Sequence[Intent] = (),
        denied: Sequence[Denied] = (),
        state: Mapping[str, Any] | None = None,
        steps: Mapping[int, Step] | None = None,
        funding: Sequence[FundingRecord] = (),
    ) -> Committed | None:
        """Record stream event `seq` and all it causes, atomically. None when `seq` was already
        processed (a replay after a crash or reconnect): then nothing changes."""
        with self._tx() as db:
            if self._seen(seq):
                return None  # recorded before (a compacted seq counts: `journal_compaction`)
            db.execute(
                "INSERT INTO events(seq, id, kind, ts, payload, processed_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (seq, event_id, kind, ts, json.dumps(payload, sort_keys=True), now_ms),
            )
            self._hook("event")
            last = self._staged_last_seq = max(self._last_seq, seq)  # mirrored once committed
            self._set_meta("last_seq", last)
            for delta in positions:
                self._move(delta.symbol, delta.venue, delta.qty, delta.price, delta.fee, now_ms)
            self._hook("positions")
            for fill in fills:
                self._fill(fill, now_ms)
            for payment in funding:
                self._funding(payment, now_ms)
            return self._decide(str(seq), intents, denied, state, now_ms, steps)

    def record(self, rec: Record, *, now_ms: int) -> Committed | None:
        """Record what the decider decided, in one transaction (see `core.record.Record`)."""
        if rec.event is not None:
            ev = rec.event
            return self.record_event(
                seq=ev.seq,
                event_id=ev.id,
                kind=rec.kind,
                ts=ev.ts,
                payload=ev.data.model_dump(mode="json"),
                now_ms=now_ms,
                positions=rec.positions,
                fills=rec.fills,
                intents=rec.intents,
                denied=rec.denied,
                state=rec.state,
                steps=rec.steps,
                funding=rec.funding,
            )
        return self.record_decision(
            now_ms=now_ms,
            positions=rec.positions,
            intents=rec.intents,
            denied=rec.denied,
            state=rec.state,
            source=rec.source or "t",
            steps=rec.steps,
        )

    def record_decision(
        self,
        *,
        now_ms: int,
        intents: Sequence[Intent] = (),
        denied: Sequence[Denied] = (),
        state: Mapping[str, Any] | None = None,
        source: str = "t",
        steps: Mapping[int, Step] | None = None,
        positions: Sequence[PositionDelta] = (),
    ) -> Committed:
        """Record a decision not tied to a stream seq (timer, risk change, fill from a venue,
        a reconciliation's corrections). Its id is `source` + a journaled counter, so client
        ids never repeat."""
        with self._tx():
            for delta in positions:
                self._move(delta.symbol, delta.venue, delta.qty, delta.price, delta.fee, now_ms)
            k = int(self._meta(f"counter.{source}") or 0) + 1
            self._set_meta(f"counter.{source}", k)
            return self._decide(f"{source}{k}", intents, denied, state, now_ms, steps)

    def _decide(
        self,
        decision: str,
        intents: Sequence[Intent],
        denied: Sequence[Denied],
        state: Mapping[str, Any] | None,
        now_ms: int,
        steps: Mapping[int, Step] | None = None,
    ) -> Committed:
        db = self._db
        orders: list[OrderRecord] = []
        actions: list[ThresholdAction] = []
        for n, intent in enumerate(intents):
            body = json.dumps(intent_to_json(intent), sort_keys=True)
            db.execute(
                "INSERT INTO intents(decision, n, kind, body, allowed, deny_reason, created_ms) "
                "VALUES (?, ?, ?, ?, 1, NULL, ?)",
                (decision, n, type(intent).__name__, body, now_ms),
            )
            self._hook("intent")
            if isinstance(intent, SetThreshold):
                cur = db.execute(
                    "INSERT INTO actions(decision, symbol, value, state, reason) "
                    "VALUES (?, ?, ?, 'pending', ?)",
                    (decision, intent.symbol, str(intent.value), intent.reason),
                )
                actions.append(
                    ThresholdAction(
                        int(cur.lastrowid or 0),
                        decision,
                        intent.symbol,
                        intent.value,
                        "pending",
                        intent.reason,
                    )
                )
                continue
            o = OrderRecord.pending(
                self.client_order_id(decision, n),
                decision,
                n,
                intent.venue,
                intent.symbol,
                intent.qty,
                intent.limit_price,
                intent.tif,
                bool(getattr(intent, "reduce_only", False)),
                now_ms,
                intent.reason,
            )
            self._insert_order(o)
            self._hook("order")
            step = (steps or {}).get(n)  # a strategy's own order: derived from its intent
            if step is not None:
                self._set_step(o.client_order_id, step)
            orders.append(self._staged(o))
        for n, d in enumerate(denied, start=len(intents)):
            db.execute(
                "INSERT INTO intents(decision, n, kind, body, allowed, deny_reason, created_ms) "
                "VALUES (?, ?, ?, ?, 0, ?, ?)",
                (
                    decision,
                    n,
                    type(d.intent).__name__,
                    json.dumps(intent_to_json(d.intent), sort_keys=True),
                    f"{d.reason.value}: {d.detail}" if d.detail else d.reason.value,
                    now_ms,
                ),
            )
        for key, value in (state or {}).items():
            self._set_meta(f"state.{key}", value)
        self._hook("state")
        return Committed(decision, orders, actions)

    # ---- orders and fills --------------------------------------------------------------

    def order(self, client_order_id: str) -> OrderRecord | None:
        """One order; an open one from memory (the executor asks for it at every step)."""
        with self._lock:
            return self._current_order(client_order_id)

    def orders(
        self, states: Iterable[OrderState] | None = None, venue: str | None = None
    ) -> list[OrderRecord]:
        """Orders in creation order, optionally only those in `states` / on `venue`."""
        sql, args = f"SELECT {ORDER_COLS} FROM orders WHERE 1=1", []
        if states is not None:
            wanted = [s.value for s in states]
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            args += wanted
        if venue is not None:
            sql += " AND venue = ?"
            args.append(venue)
        with self._lock:
            return [order_from_row(r) for r in self._db.execute(sql + " ORDER BY rowid", args)]

    def open_orders(self) -> list[OrderRecord]:
        """pending / sent / unknown / acked: what must be reconciled before acting (in
        creation order; from memory, kept in step with every committed write)."""
        with self._lock:
            return list(self._open.values())

    def has_open_orders(self, venue: str | None = None) -> bool:
        with self._lock:
            return any(venue is None or o.venue == venue for o in self._open.values())

    def mark_order(
        self,
        client_order_id: str,
        state: OrderState,
        *,
        now_ms: int,
        venue_order_id: str | None = None,
        error: str | None = None,
    ) -> OrderRecord:
        """Move an order to `state` (an invalid transition raises JournalError; setting the
        current state again is a no-op apart from the ids/error given). Returns the order as
        now recorded."""
        with self._tx():
            cur = self._get_order(client_order_id)
            if not can_move(cur.state, state):
                raise JournalError(f"{client_order_id}: {cur.state} -> {state} not allowed")
            self._db.execute(
                "UPDATE orders SET state = ?, venue_order_id = COALESCE(?, venue_order_id), "
                "error = COALESCE(?, error), updated_ms = ? WHERE client_order_id = ?",
                (state.value, venue_order_id, error, now_ms, client_order_id),
            )
            return self._staged(
                replace(
                    cur,
                    state=state,
                    venue_order_id=cur.venue_order_id if venue_order_id is None else venue_order_id,
                    error=cur.error if error is None else error,
                    updated_ms=now_ms,
                )
            )

    def record_fill(self, fill: FillRecord, *, now_ms: int) -> bool:
        """Apply a fill once: False if (venue, trade_id) was seen before."""
        with self._tx():
            return self._fill(fill, now_ms)

    def record_order_fill(
        self,
        client_order_id: str,
        *,
        filled: Decimal,
        avg_price: Decimal,
        fees: Decimal,
        ts: int,
        now_ms: int,
    ) -> tuple[FillRecord | None, OrderRecord | None]:
        """Bring an order's recorded fills up to the venue's cumulative totals for it (`filled`
        unsigned, at average `avg_price`, `fees` in all): the difference is recorded as one
        fill with trade id `<client id>@<filled>`, so the same totals seen twice (the order's
        answer, a lookup, the trade history) count once, and totals never go backwards.
        Returns the new fill (None when nothing is new) and the order as now recorded (None
        when it is unknown)."""
        with self._tx():
            o = self._current_order(client_order_id) if client_order_id else None
            done = abs(o.filled_qty) if o is not None else filled
            if o is None or filled <= done:
                return None, o
            delta = filled - done
            price = (avg_price * filled - (o.avg_price or ZERO) * done) / delta
            sign = 1 if o.qty > 0 else -1
            fill = FillRecord(
                o.venue,
                f"{client_order_id}@{filled}",
                o.symbol,
                sign * delta,
                price,
                max(fees - o.fees, ZERO),
                ts,
                client_order_id,
            )
            if not self._fill(fill, now_ms):
                return None, o
            return fill, self._current_order(client_order_id)

    def _fill(self, fill: FillRecord, now_ms: int) -> bool:
        db = self._db
        added = db.execute(
            "INSERT INTO fills(venue, trade_id, client_order_id, symbol, qty, price, fee, ts, "
            "recorded_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(venue, trade_id) DO NOTHING",
            (
                fill.venue,
                fill.trade_id,
                fill.client_order_id,
                fill.symbol,
                str(fill.qty),
                str(fill.price),
                str(fill.fee),
                fill.ts,
                now_ms,
            ),
        ).rowcount
        if not added:
            return False  # (venue, trade_id) seen before
        self._hook("fill")
        self._move(fill.symbol, fill.venue, fill.qty, fill.price, fill.fee, now_ms)
        o = None if fill.client_order_id is None else self._current_order(fill.client_order_id)
        if o is not None:
            filled = o.filled_qty + fill.qty
            notional = (o.avg_price or ZERO) * abs(o.filled_qty) + fill.price * abs(fill.qty)
            avg = notional / abs(filled) if filled != 0 else None
            state = o.state
            if abs(filled) >= abs(o.qty) and o.state in OPEN_STATES:
                state = OrderState.FILLED
            db.execute(
                "UPDATE orders SET filled_qty = ?, avg_price = ?, fees = ?, state = ?, "
                "updated_ms = ? WHERE client_order_id = ?",
                (
                    str(filled),
                    None if avg is None else str(avg),
                    str(o.fees + fill.fee),
                    state.value,
                    now_ms,
                    o.client_order_id,
                ),
            )
            self._staged(
                replace(
                    o,
                    filled_qty=filled,
                    avg_price=avg,
                    fees=o.fees + fill.fee,
                    state=state,
                    updated_ms=now_ms,
                )
            )
        return True

    def fills(self, venue: str | None = None) -> list[FillRecord]:
        sql = (
            "SELECT venue, trade_id, symbol, qty, price, fee, ts, client_order_id FROM fills"
            + (" WHERE venue = ?" if venue else "")
            + " ORDER BY rowid"
        )
        with self._lock:
            rows = self._db.execute(sql, (venue,) if venue else ()).fetchall()
        return [
            FillRecord(r[0], r[1], r[2], Decimal(r[3]), Decimal(r[4]), Decimal(r[5]), r[6], r[7])
            for r in rows
        ]

    # ---- threshold actions -------------------------------------------------------------

    def pending_actions(self) -> list[ThresholdAction]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, decision, symbol, value, state, reason FROM actions "
                "WHERE state = 'pending' ORDER BY id"
            ).fetchall()
        return [ThresholdAction(r[0], r[1], r[2], Decimal(r[3]), r[4], r[5]) for r in rows]

    def mark_action(self, action_id: int, state: str) -> None:
        if state not in ("pending", "done", "failed"):
            raise ValueError(state)
        with self._tx():
            self._db.execute("UPDATE actions SET state = ? WHERE id = ?", (state, action_id))

    # ---- inventory ---------------------------------------------------------------------

    def set_position(self, symbol: str, venue: str, qty: Decimal, *, now_ms: int) -> Decimal:
        """Overwrite a position with the venue's truth (reconciliation); returns the
        correction applied (0 when the journal agreed)."""
        with self._tx():
            cur = self._pos.get((symbol, venue))
            diff = qty - (cur[0] if cur else ZERO)
            if diff != 0:
                self._move(symbol, venue, diff, ZERO, ZERO, now_ms)
            return diff

    def positions(self) -> dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]:
        """(symbol, venue) -> (position, cost = Σ qty·price, fees)."""
        with self._lock:
            return dict(self._pos)

    def inventory(self) -> Inventory:
        """Positions plus the open remainder of every open order (in flight)."""
        with self._lock:
            holdings: dict[tuple[str, str], Holding] = {
                key: Holding(pos, ZERO) for key, (pos, _c, _f) in self._pos.items()
            }
            flying: dict[tuple[str, str], Decimal] = {}
            for o in self._open.values():
                key = (o.symbol, o.venue)
                flying[key] = flying.get(key, ZERO) + o.remaining
        for key, q in flying.items():
            h = holdings.get(key, Holding())
            holdings[key] = Holding(h.position, h.in_flight + q)
        return Inventory(holdings)

    def intents(self, decision: str | None = None) -> list[tuple[str, int, Intent, bool, str]]:
        """(decision, n, intent, allowed, deny reason) in order."""
        sql = "SELECT decision, n, body, allowed, deny_reason FROM intents"
        args: tuple[str, ...] = ()
        if decision is not None:
            sql, args = sql + " WHERE decision = ?", (decision,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [
            (r[0], r[1], intent_from_json(json.loads(r[2])), bool(r[3]), r[4] or "") for r in rows
        ]
