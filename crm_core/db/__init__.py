"""CRM core persistence: `db = await open_database(url)` gives every repository."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.db.effects import EffectRepo
from crm_core.db.engine import create_engine
from crm_core.db.migrate import upgrade_async
from crm_core.db.phone_lookup import PgPhoneLookup
from crm_core.db.repos import (
    AuditRepo,
    CallbackRepo,
    CallRepo,
    CampaignRepo,
    CaseRepo,
    CustomerRepo,
    DoNotCallRepo,
    SurveyRepo,
    UserRepo,
    ViolationRepo,
)


@dataclass(slots=True)
class Database:
    engine: AsyncEngine
    customers: CustomerRepo
    users: UserRepo
    calls: CallRepo
    callbacks: CallbackRepo
    cases: CaseRepo
    violations: ViolationRepo
    dnc: DoNotCallRepo
    surveys: SurveyRepo
    audit: AuditRepo
    campaigns: CampaignRepo
    effects: EffectRepo
    url: str = ""
    fast_lookup: PgPhoneLookup | None = None

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError):
            return False
        return True

    async def close(self) -> None:
        if self.fast_lookup is not None:
            await self.fast_lookup.close()
        await self.engine.dispose()


async def open_database(url: str, *, phone_region: str = "CN") -> Database:
    engine = create_engine(url)
    fast = PgPhoneLookup(url) if url.startswith("postgresql+asyncpg://") else None
    return Database(
        engine=engine,
        customers=CustomerRepo(engine, phone_region, fast=fast),
        users=UserRepo(engine, phone_region),
        calls=CallRepo(engine, phone_region),
        callbacks=CallbackRepo(engine, phone_region),
        cases=CaseRepo(engine, phone_region),
        violations=ViolationRepo(engine, phone_region),
        dnc=DoNotCallRepo(engine, phone_region),
        surveys=SurveyRepo(engine, phone_region),
        audit=AuditRepo(engine, phone_region),
        campaigns=CampaignRepo(engine, phone_region),
        effects=EffectRepo(engine, phone_region),
        url=url,
        fast_lookup=fast,
    )


__all__ = ["Database", "open_database", "upgrade_async"]
