"""Cases (complaints, escalations) and their history."""

from __future__ import annotations

import builtins
from datetime import datetime
from operator import eq

from sqlalchemy import ColumnOperators, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_core.db import tables as t
from crm_core.db.repos._base import Repo, aggregate, insert_id, update_one, where_given
from crm_core.domain.models import Case, CaseEvent, CaseKind, CaseStatus
from crm_core.ports.repositories import NotFound

_load = aggregate(Case, "history", (t.case_events, "case_id", (t.case_events.c.id,)), CaseEvent)
_DONE = (CaseStatus.RESOLVED.value, CaseStatus.CLOSED.value)


async def _add_event(
    conn: AsyncConnection,
    case_id: int,
    *,
    at: datetime,
    status: str,
    by_user_id: int | None,
    note: str,
) -> None:
    await conn.execute(
        insert(t.case_events).values(
            case_id=case_id, at=at, status=status, by_user_id=by_user_id, note=note
        )
    )


class CaseRepo(Repo):
    async def closed_matters(
        self, *, until: datetime, limit: int = 100_000
    ) -> builtins.list[tuple[int, int, datetime]]:
        """(customer id, case id, closed at) of every closed case of a known customer."""
        c = t.cases.c
        stmt = (
            select(c.customer_id, c.id, c.closed_at)
            .where(c.closed_at.is_not(None), c.closed_at < until, c.customer_id.is_not(None))
            .order_by(c.closed_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [(r.customer_id, r.id, r.closed_at) for r in (await conn.execute(stmt)).all()]

    async def create(
        self,
        *,
        kind: CaseKind,
        subject: str,
        created_at: datetime,
        customer_id: int | None,
        owner_user_id: int | None,
        department: str | None = None,
        call_id: str | None = None,
        description: str = "",
        promised_reply_at: datetime | None = None,
    ) -> Case:
        status = CaseStatus.ESCALATED if kind == CaseKind.ESCALATION else CaseStatus.OPEN
        async with self.engine.begin() as conn:
            cid = await insert_id(
                conn,
                t.cases,
                {
                    "kind": CaseKind(kind).value,
                    "status": status.value,
                    "subject": subject,
                    "created_at": created_at,
                    "customer_id": customer_id,
                    "owner_user_id": owner_user_id,
                    "department": department,
                    "call_id": call_id,
                    "description": description,
                    "promised_reply_at": promised_reply_at,
                },
            )
            await _add_event(
                conn,
                cid,
                at=created_at,
                status=status.value,
                by_user_id=owner_user_id,
                note="opened",
            )
        return await self.get(cid)

    async def get(self, case_id: int) -> Case:
        stmt = select(t.cases).where(t.cases.c.id == case_id)
        return await self.loaded_one(stmt, _load, f"no case {case_id}")

    async def list(
        self,
        *,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        open_only: bool = False,
        limit: int = 200,
    ) -> builtins.list[Case]:
        c = t.cases.c
        stmt = where_given(
            select(t.cases).order_by(c.created_at.desc()).limit(limit),
            (c.customer_id, eq, customer_id),
            (c.owner_user_id, eq, owner_user_id),
            (c.status, ColumnOperators.not_in, _DONE if open_only else None),
        )
        return await self.loaded(stmt, _load)

    async def set_status(
        self,
        case_id: int,
        status: CaseStatus,
        *,
        at: datetime,
        by_user_id: int | None,
        note: str = "",
    ) -> Case:
        closed = status in (CaseStatus.RESOLVED, CaseStatus.CLOSED)
        value = CaseStatus(status).value
        async with self.engine.begin() as conn:
            await update_one(
                conn,
                t.cases,
                case_id,
                {"status": value, "closed_at": at if closed else None},
                "case",
            )
            await _add_event(conn, case_id, at=at, status=value, by_user_id=by_user_id, note=note)
        return await self.get(case_id)

    async def reassign(
        self, case_id: int, owner_user_id: int, *, at: datetime, by_user_id: int | None
    ) -> Case:
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(t.cases).where(t.cases.c.id == case_id))).first()
            if row is None:
                raise NotFound(f"no case {case_id}")
            await conn.execute(
                update(t.cases).where(t.cases.c.id == case_id).values(owner_user_id=owner_user_id)
            )
            await _add_event(
                conn,
                case_id,
                at=at,
                status=row.status,
                by_user_id=by_user_id,
                note=f"handed over to user {owner_user_id}",
            )
        return await self.get(case_id)
