"""The durable per-BLP event log and BLP registry, in SQLite.

One row per protocol event: (gid, blp key, seq, type, ts, msg) where `msg` is the exact JSON text
sent on the stream, so a replay is a read and a send, never a re-encoding. `seq` is per BLP,
1, 2, 3, … without gaps; `gid` is global and gives every event its unique id. With a data
directory the database is `<data_dir>/events.sqlite3` in WAL mode, so the log, the seqs and the
BLP credentials survive a restart; without one it lives in memory for the process's life.

All calls are synchronous and made from the event-loop thread (one writer, short transactions).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    gid INTEGER PRIMARY KEY,
    blp TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    ts INTEGER NOT NULL,
    msg TEXT NOT NULL,
    UNIQUE (blp, seq)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (blp, type, seq);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blps (
    api_key TEXT PRIMARY KEY,
    api_secret TEXT NOT NULL,
    ord INTEGER NOT NULL,
    name TEXT,
    collateral TEXT NOT NULL,
    minute_rate TEXT NOT NULL,
    hour_rate TEXT NOT NULL,
    thresholds TEXT NOT NULL,
    opted_in INTEGER NOT NULL
);
"""


@dataclass
class BLPRecord:
    """A registered BLP as persisted: enough to register it again after a restart."""

    api_key: str
    api_secret: str
    name: str | None
    collateral: Decimal
    minute_rate: Decimal
    hour_rate: Decimal
    thresholds: dict[str, Decimal]
    opted_in: bool = True
    account_id: int = 0  # in the running engine (not persisted: accounts are rebuilt)


@dataclass(frozen=True, slots=True)
class LogRow:
    gid: int
    blp: str
    seq: int
    type: str
    ts: int
    msg: str


class EventLog:
    def __init__(self, data_dir: str | Path | None) -> None:
        if data_dir is None:
            self.path: Path | None = None
            self.db = sqlite3.connect(":memory:", isolation_level=None)
        else:
            d = Path(data_dir)
            d.mkdir(parents=True, exist_ok=True)
            self.path = d / "events.sqlite3"
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        # the log's identity: seqs only mean something within one log, so a client that
        # resumes against a different log (a wiped data dir, an in-memory restart) can tell
        self.db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', ?)", (uuid.uuid4().hex,)
        )
        self.log_id: str = self.db.execute(
            "SELECT value FROM meta WHERE key = 'log_id'"
        ).fetchone()[0]
        row = self.db.execute("SELECT COALESCE(MAX(gid), 0) FROM events").fetchone()
        self.last_gid: int = int(row[0])
        self.last_seq: dict[str, int] = {
            k: int(s) for k, s in self.db.execute("SELECT blp, MAX(seq) FROM events GROUP BY blp")
        }

    def close(self) -> None:
        self.db.close()

    # ---- events --------------------------------------------------------------------------

    def append(self, rows: Sequence[LogRow]) -> None:
        """Write rows in one transaction (they must continue each BLP's seq without gaps)."""
        if not rows:
            return
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                "INSERT INTO events (gid, blp, seq, type, ts, msg) VALUES (?, ?, ?, ?, ?, ?)",
                [(r.gid, r.blp, r.seq, r.type, r.ts, r.msg) for r in rows],
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        for r in rows:
            self.last_gid = max(self.last_gid, r.gid)
            self.last_seq[r.blp] = r.seq

    def read(self, blp: str, after_seq: int, upto_seq: int, limit: int) -> list[tuple[int, str]]:
        """(seq, msg) of events with after_seq < seq <= upto_seq, in order, at most `limit`."""
        cur = self.db.execute(
            "SELECT seq, msg FROM events WHERE blp = ? AND seq > ? AND seq <= ? "
            "ORDER BY seq LIMIT ?",
            (blp, after_seq, upto_seq, limit),
        )
        return [(int(s), str(m)) for s, m in cur]

    def read_type(self, blp: str, type_: str, after_seq: int, limit: int) -> list[tuple[int, str]]:
        cur = self.db.execute(
            "SELECT seq, msg FROM events WHERE blp = ? AND type = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (blp, type_, after_seq, limit),
        )
        return [(int(s), str(m)) for s, m in cur]

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def count_types(self, blp: str) -> dict[str, int]:
        """{event type: how many} of one BLP's log."""
        rows = self.db.execute(
            "SELECT type, COUNT(*) FROM events WHERE blp = ? GROUP BY type ORDER BY type", (blp,)
        )
        return {str(t): int(n) for t, n in rows}

    # ---- BLP registry --------------------------------------------------------------------

    def save_blp(self, rec: BLPRecord) -> None:
        thresholds = json.dumps({s: str(v) for s, v in sorted(rec.thresholds.items())})
        self.db.execute(
            "INSERT INTO blps (api_key, api_secret, ord, name, collateral, minute_rate, "
            "hour_rate, thresholds, opted_in) VALUES (?, ?, "
            "(SELECT COALESCE(MAX(ord), 0) + 1 FROM blps), ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (api_key) DO UPDATE SET minute_rate = excluded.minute_rate, "
            "hour_rate = excluded.hour_rate, thresholds = excluded.thresholds, "
            "opted_in = excluded.opted_in",
            (
                rec.api_key, rec.api_secret, rec.name, str(rec.collateral),
                str(rec.minute_rate), str(rec.hour_rate), thresholds, int(rec.opted_in),
            ),
        )  # fmt: skip

    def load_blps(self) -> list[BLPRecord]:
        cur = self.db.execute(
            "SELECT api_key, api_secret, name, collateral, minute_rate, hour_rate, thresholds, "
            "opted_in FROM blps ORDER BY ord"
        )
        out: list[BLPRecord] = []
        for key, secret, name, coll, mr, hr, thr, opted in cur:
            out.append(
                BLPRecord(
                    key, secret, name, Decimal(coll), Decimal(mr), Decimal(hr),
                    {s: Decimal(v) for s, v in json.loads(thr).items()}, bool(opted),
                )
            )  # fmt: skip
        return out

    def known_keys(self) -> Iterable[str]:
        return [str(k) for (k,) in self.db.execute("SELECT api_key FROM blps")]
