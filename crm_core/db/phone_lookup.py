"""The screen-pop hot path on PostgreSQL: customer by E.164 number over a raw asyncpg pool.

Every inbound call and every IVR session looks its caller up, so this one read is
kept off SQLAlchemy's per-call machinery (statement compilation cache lookups, result
wrapping, pool checkout events), which cost more than the indexed query itself
(ADR 0035). asyncpg prepares the statement once per connection and reuses it.

Only a read, only this one query: everything else stays on the SQLAlchemy engine.
When the pool cannot be used (the server restarted, a connection broke), the caller
falls back to the SQLAlchemy path, which reports the outage the usual way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from crm_core.db.engine import schema_of

log = logging.getLogger(__name__)

# The customer and all their numbers in one round trip; `p` finds the customer by the
# called-in number, `mine` lists every number they have (ordered as entered).
BY_PHONE_SQL = """
SELECT c.id, c.name, c.company, c.title, c.vip_level, c.notes, c.language,
       c.created_at, c.updated_at, mine.e164, mine.raw, mine.label
FROM customer_phones AS p
JOIN customers AS c ON c.id = p.customer_id
JOIN customer_phones AS mine ON mine.customer_id = c.id
WHERE p.e164 = $1
ORDER BY mine.id
"""


def asyncpg_dsn(url: str) -> tuple[str, dict[str, str]]:
    """(libpq DSN, server settings) for a `postgresql+asyncpg://` SQLAlchemy URL."""
    parsed = make_url(url)
    schema = schema_of(url)
    parsed = parsed.difference_update_query(["search_path", "options"]).set(drivername="postgresql")
    settings = {"search_path": schema} if schema else {}
    return parsed.render_as_string(hide_password=False), settings


class PgPhoneLookup:
    """A few dedicated asyncpg connections that answer `BY_PHONE_SQL` and nothing else.

    Not an `asyncpg.Pool`: its acquire/release bookkeeping and per-release reset query
    doubled the cost of this one read. The connections only ever run this SELECT (no
    session state to reset); one interrupted mid-query is closed, never reused.
    """

    def __init__(self, url: str, *, max_size: int = 10) -> None:
        self._dsn, self._settings = asyncpg_dsn(url)
        self._idle: list[asyncpg.Connection] = []
        self._slots = asyncio.Semaphore(max_size)
        self._closed = False
        self._degraded = False
        self.fallbacks = 0

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self._dsn, server_settings=self._settings, command_timeout=5, timeout=2
        )

    async def fetch(self, e164: str) -> list[Any] | None:
        """Rows for `e164`, or None when these connections cannot answer (use the slow path)."""
        if self._closed:
            return None
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            if conn is not None and conn.is_closed():  # the server dropped it while idle
                conn = None
            try:
                if conn is None:
                    conn = await self._connect()
                rows = list(await conn.fetch(BY_PHONE_SQL, e164))
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                # a connection the server is terminating right now can be caught
                # between protocol states: asyncpg reports that as an internal error
                asyncpg.exceptions.InternalClientError,
                TimeoutError,
            ) as exc:
                if conn is not None:
                    conn.terminate()
                self.fallbacks += 1
                if not self._degraded:  # once per outage, not once per call
                    self._degraded = True
                    log.warning("fast phone lookup unavailable (%s); using the engine path", exc)
                return None
            except BaseException:  # cancelled mid-query: the connection's state is unknown
                if conn is not None:
                    conn.terminate()
                raise
            self._idle.append(conn)
        if self._degraded:
            self._degraded = False
            log.warning("fast phone lookup is back")
        return rows

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await asyncio.wait_for(conn.close(), 2)
            except (OSError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()
