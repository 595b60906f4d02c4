"""A durable local outbox for finished call records.

The AMI reader must never wait for the CRM database, and a record must survive
a database outage and a process crash. So a finished record is first appended
to a small SQLite file next to the service (WAL mode: an append is a few tens of
microseconds and survives a process crash), and a writer drains it to the CRM in
batches; a record leaves the outbox only after the CRM has it (`ack`). The CRM
write is idempotent by call id, so a crash between write and ack repeats nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from crm_core.domain.event_codec import decode, encode
from crm_core.domain.events import CallEnded
from crm_core.domain.models import CallRecord
from crm_core.private_files import ensure_private


class Outbox:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ensure_private(self.path)  # finished calls: phone numbers, names
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " call_id TEXT NOT NULL, payload TEXT NOT NULL)"
        )
        # records the CRM refused for a reason no retry fixes: kept with the error for the
        # operator, out of the way of the records behind them
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letter (id INTEGER PRIMARY KEY,"
            " call_id TEXT NOT NULL, payload TEXT NOT NULL, error TEXT NOT NULL, at TEXT NOT NULL)"
        )
        self.depth = self._count()
        self.set_aside_count = self._count_set_aside()

    def _count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        return int(row[0])

    def put(self, record: CallRecord, at_event: CallEnded | None = None) -> None:
        event = at_event or CallEnded(at=record.ended_at or _epoch(), record=record, pbx=record.pbx)
        payload = json.dumps(encode(event), ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO outbox (call_id, payload) VALUES (?, ?)", (record.call_id, payload)
            )
            self.depth += 1

    def peek(self, limit: int = 200) -> list[tuple[int, CallRecord]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, payload FROM outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        out: list[tuple[int, CallRecord]] = []
        for row_id, payload in rows:
            event = decode(json.loads(payload))
            assert isinstance(event, CallEnded)
            out.append((int(row_id), event.record))
        return out

    def ack(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._db.execute("COMMIT")
            self.depth = self._count()

    def set_aside(self, row_id: int, error: str) -> None:
        """Move one record from the queue to the dead letters, with the reason."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO dead_letter (id, call_id, payload, error, at)"
                " SELECT id, call_id, payload, ?, ? FROM outbox WHERE id = ?",
                (error, datetime.now(UTC).isoformat(), row_id),
            )
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            self._db.execute("COMMIT")
            self.depth = self._count()
            self.set_aside_count = self._count_set_aside()

    def set_aside_records(self) -> list[tuple[str, str, str]]:
        """(call_id, error, at) of every dead letter, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT call_id, error, at FROM dead_letter ORDER BY id"
            ).fetchall()
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    def _count_set_aside(self) -> int:
        row = self._db.execute("SELECT count(*) FROM dead_letter").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _epoch() -> datetime:
    return datetime.now(UTC)
