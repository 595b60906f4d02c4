"""Outbound campaigns and their contacts."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import datetime
from operator import eq
from typing import Any

from sqlalchemy import Row, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm_core.db import tables as t
from crm_core.db.repos._base import (
    BULK_ROWS,
    Repo,
    as_dict,
    as_tuple,
    from_row,
    insert_id,
    now,
    to_values,
    update_one,
    where_given,
)
from crm_core.domain.models import Campaign, CampaignContact, ContactStatus
from crm_core.ports.repositories import NotFound

_CAMPAIGN = {"dispositions": as_tuple}
_CONTACT = {"extra": as_dict}


def _campaign(r: Row[Any]) -> Campaign:
    return from_row(Campaign, r, _CAMPAIGN)


def _contact(r: Row[Any]) -> CampaignContact:
    return from_row(CampaignContact, r, _CONTACT)


# PostgreSQL bulk insert from arrays (unnest): new contacts, skipping numbers the
# campaign has
PG_NEW_CONTACTS = text(
    "INSERT INTO campaign_contacts (campaign_id, phone_e164, name, customer_id, timezone,"
    " status, attempts, extra)"
    " SELECT u.campaign_id, u.phone, u.name, u.customer_id, u.zone, 'pending', 0,"
    " CAST(u.extra AS json)"
    " FROM unnest(CAST(:campaigns AS bigint[]), CAST(:phones AS text[]),"
    " CAST(:names AS text[]), CAST(:customers AS bigint[]), CAST(:zones AS text[]),"
    " CAST(:extras AS text[])) AS u(campaign_id, phone, name, customer_id, zone, extra)"
    " ON CONFLICT (campaign_id, phone_e164) DO NOTHING RETURNING phone_e164"
)


class CampaignRepo(Repo):
    async def create(self, campaign: Campaign) -> Campaign:
        async with self.engine.begin() as conn:
            cid = await insert_id(
                conn,
                t.campaigns,
                {**to_values(campaign), "created_at": campaign.created_at or now()},
            )
        return await self.get(cid)

    async def get(self, campaign_id: int) -> Campaign:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(t.campaigns).where(t.campaigns.c.id == campaign_id))
            ).first()
        if row is None:
            raise NotFound(f"no campaign {campaign_id}")
        return _campaign(row)

    async def list(self) -> builtins.list[Campaign]:
        return [
            _campaign(r) for r in await self.rows(select(t.campaigns).order_by(t.campaigns.c.id))
        ]

    async def update(self, campaign_id: int, **fields: object) -> Campaign:
        async with self.engine.begin() as conn:
            await update_one(conn, t.campaigns, campaign_id, fields, "campaign")
        return await self.get(campaign_id)

    async def add_contacts(self, contacts: Sequence[CampaignContact]) -> int:
        if not contacts:
            return 0
        rows = [to_values(c) for c in contacts]
        async with self.engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(t.campaign_contacts), rows[start : start + 5000])
        return len(rows)

    async def add_new_contacts(self, contacts: Sequence[CampaignContact]) -> builtins.set[str]:
        stored: builtins.set[str] = set()
        if self.engine.dialect.name == "postgresql" and all(
            c.status is ContactStatus.PENDING
            and c.attempts == 0
            and c.next_attempt_at is None
            and c.last_result is None
            and c.disposition is None
            and c.disposition_reason is None
            for c in contacts
        ):
            for start in range(0, len(contacts), BULK_ROWS):
                chunk = contacts[start : start + BULK_ROWS]
                async with self.engine.begin() as conn:
                    result = await conn.execute(
                        PG_NEW_CONTACTS,
                        {
                            "campaigns": [c.campaign_id for c in chunk],
                            "phones": [c.phone_e164 for c in chunk],
                            "names": [c.name for c in chunk],
                            "customers": [c.customer_id for c in chunk],
                            "zones": [c.timezone for c in chunk],
                            "extras": [json.dumps(c.extra, ensure_ascii=False) for c in chunk],
                        },
                    )
                    stored.update(result.scalars())
            return stored
        base = (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(
            t.campaign_contacts
        )
        # executemany of one cached statement: SQLAlchemy sends it as batches of
        # multi-row VALUES ("insertmanyvalues"); `.values(list)` recompiled every chunk
        stmt = base.on_conflict_do_nothing(index_elements=["campaign_id", "phone_e164"]).returning(
            t.campaign_contacts.c.phone_e164
        )
        for start in range(0, len(contacts), BULK_ROWS):
            rows = [to_values(c) for c in contacts[start : start + BULK_ROWS]]
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    stmt, rows, execution_options={"insertmanyvalues_page_size": BULK_ROWS}
                )
                stored.update(result.scalars())
        return stored

    async def contacts(
        self, campaign_id: int, *, status: str | None = None, limit: int = 1000
    ) -> builtins.list[CampaignContact]:
        c = t.campaign_contacts.c
        stmt = where_given(
            select(t.campaign_contacts)
            .where(c.campaign_id == campaign_id)
            .order_by(c.id)
            .limit(limit),
            (c.status, eq, status),
        )
        return [_contact(r) for r in await self.rows(stmt)]

    async def update_contact(self, contact_id: int, **fields: object) -> CampaignContact:
        async with self.engine.begin() as conn:
            await update_one(conn, t.campaign_contacts, contact_id, fields, "contact")
            row = (
                await conn.execute(
                    select(t.campaign_contacts).where(t.campaign_contacts.c.id == contact_id)
                )
            ).one()
        return _contact(row)

    async def contact(self, contact_id: int) -> CampaignContact:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t.campaign_contacts).where(t.campaign_contacts.c.id == contact_id)
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"no contact {contact_id}")
        return _contact(row)

    async def contact_by_phone(self, campaign_id: int, phone_e164: str) -> CampaignContact | None:
        c = t.campaign_contacts.c
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t.campaign_contacts).where(
                        c.campaign_id == campaign_id, c.phone_e164 == phone_e164
                    )
                )
            ).one_or_none()
        return _contact(row) if row is not None else None

    async def due_contacts(
        self, campaign_id: int, now: datetime, *, limit: int
    ) -> builtins.list[CampaignContact]:
        """Contacts waiting for a first or a next attempt that is due; oldest first."""
        c = t.campaign_contacts.c
        stmt = (
            select(t.campaign_contacts)
            .where(
                c.campaign_id == campaign_id,
                c.status.in_((ContactStatus.PENDING.value, ContactStatus.RETRY.value)),
                or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now),
            )
            .order_by(c.next_attempt_at.is_not(None), c.next_attempt_at, c.id)
            .limit(limit)
        )
        return [_contact(r) for r in await self.rows(stmt)]

    async def claim_contact(self, contact_id: int, *, by: str) -> bool:
        """Mark a waiting contact as being dialed; False when someone else got there first
        (another instance's dialer, another agent's preview)."""
        c = t.campaign_contacts.c
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(c.extra).where(c.id == contact_id))).one_or_none()
            if row is None:
                return False
            extra = {**(row.extra or {}), "claimed_by": by}
            result = await conn.execute(
                update(t.campaign_contacts)
                .where(
                    c.id == contact_id,
                    c.status.in_((ContactStatus.PENDING.value, ContactStatus.RETRY.value)),
                )
                .values(status=ContactStatus.DIALING.value, extra=extra)
            )
        return bool(result.rowcount)

    async def release_dialing(self, campaign_id: int, *, by: str | None = None) -> int:
        """Contacts left "dialing" by a crash or a restart go back to the waiting list."""
        c = t.campaign_contacts.c
        stmt = update(t.campaign_contacts).where(
            c.campaign_id == campaign_id, c.status == ContactStatus.DIALING.value
        )
        async with self.engine.begin() as conn:
            if by is not None:
                ids = [
                    r.id
                    for r in (
                        await conn.execute(
                            select(c.id, c.extra).where(
                                c.campaign_id == campaign_id,
                                c.status == ContactStatus.DIALING.value,
                            )
                        )
                    ).all()
                    if (r.extra or {}).get("claimed_by") == by
                ]
                if not ids:
                    return 0
                stmt = stmt.where(c.id.in_(ids))
            result = await conn.execute(stmt.values(status=ContactStatus.RETRY.value))
        return int(result.rowcount or 0)
