"""Journal compaction: drop history older than the retention, never what the bot still needs.

A daemon that runs for weeks would otherwise grow its journal by about a kilobyte per
assignment forever. What exactly-once resume and open work need is kept whatever its age:

- the `meta` table (last seq, decision counters, strategy and monitor state) and the
  `inventory` table (positions) are never touched;
- every open order (pending / sent / unknown / acked) and all rows of its decision (the
  stream event, intents, sibling orders, steps), its fills, and the queued orders netted into
  it with their decisions: an assignment whose hedge is still open stays whole;
- every decision with a pending threshold action;
- the latest processed event (the highest seq).

Deleted stream seqs stay "processed": the highest one deleted is kept as `compacted_seq` in
`meta`, and `Journal.record_event` treats any seq at or below it as already recorded.

It runs on its own connection in small transactions, so the daemon can call it from a
thread while it keeps committing (`JournalStore.checkpoint` does the same). Freed pages are
reused by later writes, so the file stops growing once the retention is full.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from blp_client.bot.journal_schema import OPEN_STATES

DAY_MS = 86_400_000
BATCH = 2_000  # rows per transaction: the daemon's writes wait at most one batch


@dataclass(frozen=True, slots=True)
class Retention:
    """Keep history younger than `days` and at most the latest `events` stream events (and
    what they caused); None: no limit of that kind."""

    days: float | None = 30
    events: int | None = None

    @property
    def keeps_everything(self) -> bool:
        return self.days is None and self.events is None


@dataclass(slots=True)
class Compacted:
    """What one compaction deleted, by table, and the seq floor it left."""

    compacted_seq: int = 0
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


_OPEN = ",".join(f"'{s.value}'" for s in sorted(OPEN_STATES))

# the decisions compaction must keep whole (TEMP table `keep_decisions`)
_PROTECT = f"""
INSERT OR IGNORE INTO keep_decisions(decision)
    SELECT decision FROM orders WHERE state IN ({_OPEN})
    UNION SELECT o.decision FROM netted n JOIN orders o ON o.client_order_id = n.client_order_id
        WHERE n.into_order IN (SELECT client_order_id FROM orders WHERE state IN ({_OPEN}))
    UNION SELECT decision FROM actions WHERE state = 'pending'
"""


def _cut_ms(db: sqlite3.Connection, keep: Retention, now_ms: int) -> int | None:
    """Rows recorded before this journal time may go (None: nothing may)."""
    cuts: list[int] = []
    if keep.days is not None:
        cuts.append(now_ms - int(keep.days * DAY_MS))
    if keep.events is not None:
        row = db.execute(
            "SELECT processed_ms FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?",
            (keep.events - 1,),
        ).fetchone()
        if row is not None:
            cuts.append(int(row[0]))
    return max(cuts) if cuts else None


def _delete(db: sqlite3.Connection, table: str, where: str, args: tuple[object, ...]) -> int:
    """Delete `table` rows matching `where`, BATCH at a time, each batch its own
    transaction."""
    total = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            n = db.execute(
                f"DELETE FROM {table} WHERE rowid IN "
                f"(SELECT rowid FROM {table} WHERE {where} LIMIT {BATCH})",
                args,
            ).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        total += n
        if n < BATCH:
            return total


def compact(path: str | Path, keep: Retention, now_ms: int) -> Compacted:
    """Delete what `keep` no longer retains from the journal at `path` (see the module's
    docstring for what is always kept). Safe while the daemon writes to it."""
    out = Compacted()
    if keep.keeps_everything or str(path) == ":memory:":
        return out
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        cut = _cut_ms(db, keep, now_ms)
        if cut is None:
            return out
        db.execute("CREATE TEMP TABLE IF NOT EXISTS keep_decisions (decision TEXT PRIMARY KEY)")
        db.execute("BEGIN IMMEDIATE")  # one consistent view of what is open
        db.execute("DELETE FROM keep_decisions")
        db.execute(_PROTECT)
        top = db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        floor = db.execute(
            "SELECT MAX(seq) FROM events WHERE processed_ms < ? AND seq < ? "
            "AND CAST(seq AS TEXT) NOT IN (SELECT decision FROM keep_decisions)",
            (cut, top),
        ).fetchone()[0]
        row = db.execute("SELECT value FROM meta WHERE key = 'compacted_seq'").fetchone()
        out.compacted_seq = json.loads(row[0]) if row else 0  # events kept then may go now
        if floor is not None and floor > out.compacted_seq:
            # written before any event goes: never a processed seq forgotten
            out.compacted_seq = int(floor)
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('compacted_seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (json.dumps(out.compacted_seq),),
            )
        db.execute("COMMIT")
        kept = "decision NOT IN (SELECT decision FROM keep_decisions)"
        d = out.deleted
        d["orders"] = _delete(
            db, "orders", f"updated_ms < ? AND state NOT IN ({_OPEN}) AND {kept}", (cut,)
        )
        d["fills"] = _delete(
            db,
            "fills",
            "recorded_ms < ? AND (client_order_id IS NULL OR client_order_id NOT IN "
            "(SELECT client_order_id FROM orders))",
            (cut,),
        )
        d["intents"] = _delete(
            db,
            "intents",
            f"created_ms < ? AND {kept} AND decision NOT IN (SELECT decision FROM orders)",
            (cut,),
        )
        d["steps"] = _delete(
            db, "steps", "client_order_id NOT IN (SELECT client_order_id FROM orders)", ()
        )
        d["netted"] = _delete(
            db,
            "netted",
            "client_order_id NOT IN (SELECT client_order_id FROM orders) "
            "AND into_order NOT IN (SELECT client_order_id FROM orders)",
            (),
        )
        d["actions"] = _delete(
            db,
            "actions",
            f"state != 'pending' AND {kept} AND decision NOT IN (SELECT decision FROM intents)",
            (),
        )
        d["events"] = _delete(
            db,
            "events",
            "seq <= ? AND CAST(seq AS TEXT) NOT IN (SELECT decision FROM keep_decisions)",
            (out.compacted_seq,),
        )
        return out
    finally:
        db.close()
