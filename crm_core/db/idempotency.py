"""Remembered answers to repeated writes (CONTRACTS.md "Repeated writes and uploads").

A write sent with an `Idempotency-Key` claims the key (user, key) with an insert the
database makes unique, so two instances or a double-click cannot both run it; the
answer is stored and replayed to every repeat within 24 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.db.tables import UtcDateTime, metadata

KEEP = timedelta(hours=24)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", BigInteger, nullable=False),
    Column("key", String(128), nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", String(300), nullable=False),
    Column("status", Integer, nullable=True),  # null: the first request is still running
    Column("body", Text, nullable=True),
    Column("content_type", String(100), nullable=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_keys"),
)


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    method: str
    path: str
    status: int | None
    body: str | None
    content_type: str | None


class IdempotencyRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(self, user_id: int, key: str, method: str, path: str, now: datetime) -> bool:
        """True when this request is the first with the key (it must run, then `finish`)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.user_id == user_id,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.created_at < now - KEEP,
                )
            )
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    idempotency_keys.insert().values(
                        user_id=user_id, key=key, method=method, path=path, created_at=now
                    )
                )
        except IntegrityError:
            return False
        return True

    async def finish(
        self, user_id: int, key: str, *, status: int, body: str, content_type: str
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key)
                .values(status=status, body=body, content_type=content_type)
            )

    async def release(self, user_id: int, key: str) -> None:
        """The first request failed: a retry with the same key may run again."""
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key
                )
            )

    async def answer(self, user_id: int, key: str) -> StoredAnswer | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(idempotency_keys).where(
                        idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key
                    )
                )
            ).first()
        if row is None:
            return None
        return StoredAnswer(row.method, row.path, row.status, row.body, row.content_type)

    async def forget_older_than(self, moment: datetime) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.created_at < moment)
            )
        return int(result.rowcount or 0)
