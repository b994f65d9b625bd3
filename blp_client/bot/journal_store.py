"""The journal's SQLite plumbing: the connection, transactions, and the in-memory mirrors of
open orders and positions.

Kept apart from what the journal records (`journal.Journal`) because the mirrors must follow
committed writes only: rows written in a transaction are staged and applied once it commits,
so this one place owns that rule.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

from blp_client.bot.books import ZERO
from blp_client.bot.journal_schema import (
    OPEN_STATES,
    ORDER_COLS,
    SCHEMA,
    JournalError,
    OrderRecord,
    order_from_row,
)


class JournalStore:
    """One SQLite file (WAL) and its mirrors; safe to share between threads (calls are
    serialised)."""

    def __init__(
        self,
        path: str | Path,
        *,
        prefix: str = "blp",
        synchronous: str = "NORMAL",
        fault_hook: Callable[[str], None] | None = None,
    ) -> None:
        """`synchronous=NORMAL` in WAL mode survives any process crash (a power cut may lose
        the last commits); use FULL for that too. `fault_hook(point)` is called at named
        points inside transactions, so tests can kill the process there."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self.path = Path(path)
        self.prefix = prefix
        self._fault = fault_hook
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        # no checkpoint inside a commit on the hot path (a few ms now and then: the p99 of
        # hedge latency); the daemon calls `checkpoint()` from a thread on its own cadence
        self._db.execute("PRAGMA wal_autocheckpoint=100000")
        self._db.executescript(SCHEMA)
        # in-memory mirrors of the open orders and the inventory table, kept in step with
        # every write (changes staged in a transaction apply only once it commits)
        self._open: dict[str, OrderRecord] = {
            r[0]: order_from_row(r)
            for r in self._db.execute(
                f"SELECT {ORDER_COLS} FROM orders WHERE state IN "
                f"({','.join('?' * len(OPEN_STATES))}) ORDER BY rowid",
                [s.value for s in OPEN_STATES],
            )
        }
        self._pos: dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]] = {
            (r[0], r[1]): (Decimal(r[2]), Decimal(r[3]), Decimal(r[4]))
            for r in self._db.execute("SELECT symbol, venue, position, cost, fees FROM inventory")
        }
        self._last_seq = int(self._meta("last_seq") or 0)
        self._staged_orders: dict[str, OrderRecord] = {}
        self._staged_pos: dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]] = {}
        self._staged_last_seq: int | None = None
        self._in_tx = False

    # ---- plumbing ----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def checkpoint(self) -> None:
        """Copy the WAL back into the database without blocking writers (its own connection,
        so it can run in a thread while the daemon keeps committing)."""
        if str(self.path) == ":memory:":
            return
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _hook(self, point: str) -> None:
        if self._fault is not None:
            self._fault(point)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a `_tx` inside another joins it (commits with the outer one)."""
        with self._lock:
            if self._in_tx:
                yield self._db
                return
            self._in_tx = True
            try:
                with self._outer_tx() as db:
                    yield db
            finally:
                self._in_tx = False

    @contextmanager
    def _outer_tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._unstage()
            try:
                yield self._db
                self._hook("before_commit")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._unstage()
                raise
            for cid, o in self._staged_orders.items():
                if o.is_open:
                    self._open[cid] = o
                else:
                    self._open.pop(cid, None)
            self._pos.update(self._staged_pos)
            if self._staged_last_seq is not None:
                self._last_seq = self._staged_last_seq
            self._unstage()
            self._hook("after_commit")

    def _unstage(self) -> None:
        self._staged_orders.clear()
        self._staged_pos.clear()
        self._staged_last_seq = None

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _set_meta(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value, sort_keys=True)),
        )

    def _staged(self, o: OrderRecord) -> OrderRecord:
        """Note an order row written in the current transaction (for the open-order cache)."""
        self._staged_orders[o.client_order_id] = o
        return o

    def _move(
        self, symbol: str, venue: str, qty: Decimal, price: Decimal, fee: Decimal, now_ms: int
    ) -> None:
        key = (symbol, venue)
        pos, cost, fees = self._staged_pos.get(key) or self._pos.get(key) or (ZERO, ZERO, ZERO)
        new = (pos + qty, cost + qty * price, fees + fee)
        self._db.execute(
            "INSERT INTO inventory(symbol, venue, position, cost, fees, updated_ms) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(symbol, venue) DO UPDATE SET "
            "position = excluded.position, cost = excluded.cost, fees = excluded.fees, "
            "updated_ms = excluded.updated_ms",
            (symbol, venue, str(new[0]), str(new[1]), str(new[2]), now_ms),
        )
        self._staged_pos[key] = new

    # ---- order lookups inside a transaction ---------------------------------------

    def _find_order(self, client_order_id: str) -> OrderRecord | None:
        row = self._db.execute(
            f"SELECT {ORDER_COLS} FROM orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        return None if row is None else order_from_row(row)

    def _current_order(self, client_order_id: str) -> OrderRecord | None:
        """An order as the current transaction sees it: as written in it, else from the
        open-order mirror (which holds every open order as committed), else its row."""
        o = self._staged_orders.get(client_order_id) or self._open.get(client_order_id)
        return o if o is not None else self._find_order(client_order_id)

    def _get_order(self, client_order_id: str) -> OrderRecord:
        o = self._current_order(client_order_id)
        if o is None:
            raise JournalError(f"unknown client order id {client_order_id!r}")
        return o

    def client_order_id(self, decision: str, n: int) -> str:
        return f"{self.prefix}-{decision}-{n}"

    def _insert_order(self, o: OrderRecord) -> None:
        """Write a new (pending) order row in the current transaction."""
        self._db.execute(
            f"INSERT INTO orders({ORDER_COLS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '0', NULL, '0', ?, ?, NULL, ?)",
            (
                o.client_order_id,
                o.decision,
                o.n,
                o.venue,
                o.symbol,
                str(o.qty),
                None if o.limit_price is None else str(o.limit_price),
                o.tif,
                int(o.reduce_only),
                o.state.value,
                o.created_ms,
                o.updated_ms,
                o.reason,
            ),
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several journal writes as one transaction (each write inside joins it)."""
        with self._tx():
            yield
