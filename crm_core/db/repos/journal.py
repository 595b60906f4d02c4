"""Append-only records: rule violations, survey answers, the audit log; and the
do-not-call list."""

from __future__ import annotations

import builtins
from dataclasses import replace
from datetime import datetime
from operator import eq, ge

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm_core.db import tables as t
from crm_core.db.repos._base import Repo, from_row, insert_id, now, to_values, where_given
from crm_core.domain.models import AuditEntry, SurveyAnswer, Violation


class ViolationRepo(Repo):
    async def add(self, violation: Violation) -> Violation:
        async with self.engine.begin() as conn:
            vid = await insert_id(conn, t.violations, to_values(violation))
        return replace(violation, id=vid)

    async def list(
        self, *, since: datetime | None = None, agent: str | None = None, limit: int = 500
    ) -> builtins.list[Violation]:
        c = t.violations.c
        stmt = where_given(
            select(t.violations).order_by(c.at.desc()).limit(limit),
            (c.at, ge, since),
            (c.agent, eq, agent),
        )
        return [from_row(Violation, r) for r in await self.rows(stmt)]


class DoNotCallRepo(Repo):
    async def contains(self, phone_e164: str) -> bool:
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(t.dnc.c.phone_e164).where(t.dnc.c.phone_e164 == phone_e164)
                )
            ).first()
        return found is not None

    async def add(self, phone_e164: str, reason: str = "", at: datetime | None = None) -> None:
        """A number already listed (before, or concurrently) keeps its entry. One
        statement, no caught IntegrityError: inside a unit of work (docs/adr/0094) a
        failed INSERT would abort PostgreSQL's whole transaction."""
        dialect_insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = dialect_insert(t.dnc).values(
            phone_e164=phone_e164, reason=reason, added_at=at or now()
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=[t.dnc.c.phone_e164]))

    async def remove(self, phone_e164: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(t.dnc).where(t.dnc.c.phone_e164 == phone_e164))

    async def all_numbers(self) -> set[str]:
        async with self.engine.connect() as conn:
            return set((await conn.execute(select(t.dnc.c.phone_e164))).scalars().all())


class SurveyRepo(Repo):
    async def add(self, answer: SurveyAnswer) -> SurveyAnswer:
        async with self.engine.begin() as conn:
            sid = await insert_id(conn, t.survey_answers, to_values(answer))
        return replace(answer, id=sid)

    async def for_call(self, call_id: str) -> builtins.list[SurveyAnswer]:
        stmt = select(t.survey_answers).where(t.survey_answers.c.call_id == call_id)
        return [from_row(SurveyAnswer, r) for r in await self.rows(stmt)]


class AuditRepo(Repo):
    async def record(self, entry: AuditEntry) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.audit_log).values(**to_values(entry)))

    async def list(
        self, *, since: datetime | None = None, actor: str | None = None, limit: int = 500
    ) -> builtins.list[AuditEntry]:
        c = t.audit_log.c
        stmt = where_given(
            select(t.audit_log).order_by(c.id.desc()).limit(limit),
            (c.at, ge, since),
            (c.actor, eq, actor),
        )
        return [from_row(AuditEntry, r) for r in await self.rows(stmt)]
