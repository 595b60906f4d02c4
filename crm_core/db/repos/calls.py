"""Call records: one row a call, its offers (each time it rang an agent) apart."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import eq, ge, lt
from typing import Any

from sqlalchemy import ColumnOperators, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_core.db import tables as t
from crm_core.db.repos._base import (
    Repo,
    aggregate,
    as_tuple,
    now,
    to_values,
    update_one,
    where_given,
)
from crm_core.domain.models import CallRecord, IvrStep, Offer
from crm_core.phones import try_normalize
from crm_core.ports.repositories import CallFilter


def _ivr_to_json(steps: Sequence[IvrStep]) -> builtins.list[dict[str, Any]]:
    return [
        {"flow": s.flow, "step": s.step, "at": s.at.isoformat(), "input": s.input} for s in steps
    ]


def _ivr_from_json(data: Any) -> tuple[IvrStep, ...]:
    return tuple(
        IvrStep(
            flow=d["flow"],
            step=d["step"],
            at=datetime.fromisoformat(d["at"]),
            input=d.get("input"),
        )
        for d in data or ()
    )


_load = aggregate(
    CallRecord,
    "offers",
    (t.call_offers, "call_pk", (t.call_offers.c.call_pk, t.call_offers.c.seq)),
    Offer,
    {"rule_violations": as_tuple, "ivr_path": _ivr_from_json},
)


class CallRepo(Repo):
    _KEEP = ("disposition", "wrapup_notes", "customer_id", "recording", "transferred_to")

    def _row_values(self, r: CallRecord) -> dict[str, Any]:
        return {
            **to_values(r, exclude=("offers",)),
            "caller_e164": try_normalize(r.caller_number, self.region),
            "ring_seconds": max((o.ring_seconds for o in r.offers), default=0.0),
            "ivr_path": _ivr_to_json(r.ivr_path),
            "written_at": now(),
        }

    async def save_many(self, records: Iterable[CallRecord]) -> int:
        records = list(records)
        if not records:
            return 0
        async with self.engine.begin() as conn:
            ids = [r.call_id for r in records]
            existing = {
                row.call_id: row
                for row in (
                    await conn.execute(select(t.calls).where(t.calls.c.call_id.in_(ids)))
                ).all()
            }
            for record in records:
                values = self._row_values(record)
                old = existing.get(record.call_id)
                pk = None if old is not None else await self._insert_new(conn, values)
                if pk is None:
                    # The row exists: read above, or inserted since by another writer (every
                    # instance writes the calls it hears of) or earlier in this batch.
                    for key in self._KEEP:
                        # CRM-side fields set by people win. Decided inside the UPDATE, not
                        # from the row read above: an agent's wrap-up may commit in between.
                        new = values.pop(key, None)
                        if new is not None:
                            values[key] = func.coalesce(t.calls.c[key], new)
                    pk = (
                        await conn.execute(
                            update(t.calls)
                            .where(t.calls.c.call_id == record.call_id)
                            .values(**values)
                            .returning(t.calls.c.id)
                        )
                    ).scalar_one()
                    await conn.execute(delete(t.call_offers).where(t.call_offers.c.call_pk == pk))
                if record.offers:
                    await conn.execute(
                        insert(t.call_offers),
                        [
                            {"call_pk": pk, "seq": n, **to_values(o)}
                            for n, o in enumerate(record.offers)
                        ],
                    )
        return len(records)

    @staticmethod
    async def _insert_new(conn: AsyncConnection, values: dict[str, Any]) -> int | None:
        """INSERT the call unless its call_id is already there (committed meanwhile by
        another writer): the new row's id, or None. ON CONFLICT DO NOTHING instead of a
        failing INSERT, so one duplicate never rolls back the rest of the batch."""
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = (
            dialect_insert(t.calls)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[t.calls.c.call_id])
            .returning(t.calls.c.id)
        )
        pk: int | None = (await conn.execute(stmt)).scalar_one_or_none()
        return pk

    async def get(self, call_id: str) -> CallRecord:
        stmt = select(t.calls).where(t.calls.c.call_id == call_id)
        return await self.loaded_one(stmt, _load, f"no call {call_id}")

    async def list(self, flt: CallFilter) -> builtins.list[CallRecord]:
        c = t.calls.c
        stmt = where_given(
            select(t.calls),
            (c.started_at, ge, flt.since),
            (c.started_at, lt, flt.until),
            (c.agent, eq, flt.agent),
            (c.agent, ColumnOperators.in_, flt.agents),
            (c.queue, eq, flt.queue),
            (c.outcome, eq, flt.outcome),
            (c.customer_id, eq, flt.customer_id),
        )
        stmt = stmt.order_by(c.started_at.desc(), c.id.desc()).limit(flt.limit).offset(flt.offset)
        return await self.loaded(stmt, _load)

    async def save_wrapup(
        self,
        call_id: str,
        *,
        disposition: str | None,
        notes: str | None,
        customer_id: int | None = None,
    ) -> CallRecord:
        values: dict[str, Any] = {"disposition": disposition, "wrapup_notes": notes}
        if customer_id is not None:
            values["customer_id"] = customer_id
        async with self.engine.begin() as conn:
            await update_one(conn, t.calls, call_id, values, "call", by="call_id")
        return await self.get(call_id)

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(t.calls))).scalar_one())

    async def check_reachable(self) -> None:
        """Raise the driver's error when the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(select(1))
