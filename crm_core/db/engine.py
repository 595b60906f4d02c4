"""Engine factory for SQLite (aiosqlite) and PostgreSQL (asyncpg).

A PostgreSQL URL may carry `?search_path=SCHEMA` (or libpq's
`options=-csearch_path=SCHEMA`); it is passed to the server as a setting so a
deployment (or a test) can keep the CRM in its own schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crm_core.private_files import ensure_private


def schema_of(url: str) -> str | None:
    parsed = make_url(url)
    if "search_path" in parsed.query:
        return str(parsed.query["search_path"])
    options = parsed.query.get("options")
    if isinstance(options, str) and "search_path" in unquote(options):
        return unquote(options).split("search_path=", 1)[1].split()[0]
    return None


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        schema = schema_of(url)
        parsed = parsed.difference_update_query(["search_path", "options"])
        connect_args: dict[str, Any] = kwargs.pop("connect_args", {})
        if schema:
            connect_args.setdefault("server_settings", {})["search_path"] = schema
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 40)
        # no pre-ping: it doubles the round trips of every lookup; a dead connection is
        # invalidated on its first error and the call-log writer retries
        kwargs.setdefault("pool_pre_ping", False)
        return create_async_engine(parsed, connect_args=connect_args, **kwargs)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        path.parent.mkdir(parents=True, exist_ok=True)
        ensure_private(path)  # the CRM: customers' names and numbers
    engine = create_async_engine(parsed, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine
